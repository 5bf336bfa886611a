"""Decoder LMs as intent classifiers: the prompt template and label texts, label scoring, trie-constrained
decoding and the classifier wrapper (``classifier``); tiny offline decoders for tests and the demo (``tiny``).
The trainer's generative branch lives with the other trainers, in :mod:`merginguriel.training.generative`.

May import: ``data`` and the base modules.
"""
