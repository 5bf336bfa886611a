"""Training: the typed trainer API over ``Trainer`` (``arguments``, ``trainer``, ``lora``, ``data``,
``callbacks``, ``outputs``; the generative branch in ``generative``), and the training family built on it:
leave-one-language-out models (``multilang``), filling the models folder (``missing_models``), training
interleaved with merging (``iterative``), One-For-All snapshot averaging (``snapshot_averaging``) and the
expert-fusion trainer (``fusion``).

May import: ``merging`` (iterative training merges through the experiment program) and every layer below it;
never ``experiments``.
"""
