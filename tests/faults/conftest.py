"""The fixtures of tests/scale (constant-intent models, the tiny dataset, a similarity matrix), for the fault suite."""

from tests.scale.conftest import scale_models, similarity_csv, tiny_dataset  # noqa: F401
