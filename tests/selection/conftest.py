"""The constant-intent models, tiny dataset and similarity matrix of tests/scale (accuracies known by hand)."""

from tests.scale.conftest import scale_models, similarity_csv, tiny_dataset  # noqa: F401
