"""Data: the 52 MASSIVE locales (``locales``), the canonical intent order and label alignment by name
(``labels``), accuracy and macro-F1 (``metrics``), loading MASSIVE from the hub, a local folder or the built-in
corpus (``massive``, with ``builtin_corpus/``), and the split-access policy that keeps selection on dev data
(``access``).

May import: the base modules only.
"""
