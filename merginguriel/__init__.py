"""merginguriel: build a model for a target language by merging models fine-tuned on similar languages."""

__version__ = "0.1.0"
