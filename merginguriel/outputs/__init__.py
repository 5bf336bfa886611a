"""Outputs: what the toolkit writes and shows. Atomic folders and files (built in a hidden temporary sibling,
``COMPLETE`` written, then renamed: ``atomic``), headless PNG plots (``plotting``), upload of complete folders
to the Hugging Face hub (``hub``) and experiment tracking in TensorBoard / Weights & Biases (``tracking``).

May import: the base modules (``merginguriel.runtime``, ``merginguriel.defaults``, ``merginguriel.errors``)
only. Knows nothing of locales, models or merging.
"""
