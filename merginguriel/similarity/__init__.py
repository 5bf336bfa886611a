"""Similarity: which languages help which. The dense/sparse matrix format, lang2vec features, top-k and
Sinkhorn / softmax / normalize weighting (``matrix``); the other matrix builders behind ``similarity --source``
(``builders``: URIEL+ in ``uriel_plus``, dev transfer, lexical overlap in ``lexical_overlap``, the learned
ranker in ``transfer_ranker``); source selection for a target, ``SourceSelection`` (``selection``); and how
well each source predicts transfer (``transfer_report``).

May import: ``models`` (source selection picks among the models that exist; the overlap source tokenises with a
model's tokenizer) and the layers below it: ``generative``, ``data``, ``outputs``, the base modules.
"""
