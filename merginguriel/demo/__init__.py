"""The offline demos as typed calls to the core: the encoder demo on the built-in corpus (``encoder``) and the
decoder-LM demo (``generative``). They train, merge, evaluate and compare, so they sit above both
``training`` and ``experiments``.

May import: every layer but ``cli``.
"""
