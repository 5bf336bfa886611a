"""Models: the ``{base}_massive_k_{locale}`` folder convention and discovery (``paths``), the content
fingerprint every cache key uses (``fingerprint``), loading a classifier and the one inference loop
(``inference``), the logits cache (``logits_cache``), evaluation and the ``results.json`` builder
(``evaluation``), Hugging Face model cards (``cards``) and the expert-fusion model that ``inference`` loads
(``fusion``; its trainer is :mod:`merginguriel.training.fusion`).

May import: ``generative``, ``data``, ``outputs`` and the base modules.
"""
