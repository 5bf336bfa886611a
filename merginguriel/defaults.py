"""Project-wide defaults shared by the core and the command line: file names of the committed similarity
matrices and mapping, the default pretrained encoder, and where to find the repository's copies."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SPARSE_MATRIX_NAME = "sparsed_language_similarity_matrix_unified.csv"
DENSE_MATRIX_NAME = "language_similarity_matrix_unified.csv"
MAPPING_NAME = "model_mapping_unified.csv"
DEFAULT_BASE_MODEL = "xlm-roberta-base"
DEFAULT_MODELS_ROOT = "haryos_model"


def default_repo_file(name: str) -> str:
    """``name`` in the current directory if it is there, else the copy at the repository root."""
    return name if Path(name).is_file() or not (REPO_ROOT / name).is_file() else str(REPO_ROOT / name)


def default_similarity_matrix(similarity_source: str = "sparse") -> str:
    """The committed dense or sparse similarity CSV (see :func:`default_repo_file`)."""
    return default_repo_file(DENSE_MATRIX_NAME if similarity_source == "dense" else SPARSE_MATRIX_NAME)


__all__ = [
    "DEFAULT_BASE_MODEL",
    "DEFAULT_MODELS_ROOT",
    "DENSE_MATRIX_NAME",
    "MAPPING_NAME",
    "REPO_ROOT",
    "SPARSE_MATRIX_NAME",
    "default_repo_file",
    "default_similarity_matrix",
]
