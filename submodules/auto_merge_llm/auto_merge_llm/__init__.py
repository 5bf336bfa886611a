"""auto_merge_llm: merge Hugging Face models tensor by tensor, streaming safetensors in and out.

Public API::

    from auto_merge_llm import merge_models, list_methods, get_method, MergeResult, MergeError
"""

from __future__ import annotations

__version__ = "0.1.0"

from .engine import HEAD_POLICIES, MergeResult, merge_models, merge_tensors  # noqa: E402
from .errors import MergeError  # noqa: E402
from .registry import MethodInfo, ParamSpec, TensorContext, get_method, list_methods  # noqa: E402

__all__ = [
    "HEAD_POLICIES",
    "MergeError",
    "MergeResult",
    "MethodInfo",
    "ParamSpec",
    "TensorContext",
    "__version__",
    "get_method",
    "list_methods",
    "merge_models",
    "merge_tensors",
]
