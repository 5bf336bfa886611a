"""Merging: one merge experiment. The catalogue of modes, presets, voting rules and method parameters read from
the engine's schema (``catalogue``), planning and executing a merge (``pipeline``), the data and cache of the
data-aware methods' statistics (``statistics``), the one experiment program, statistics → merge → save →
evaluate → record (``experiment``), experiment keys and names (``keys``, ``naming``) and the voting ensembles
(``ensemble``). Calls the merge engine, :mod:`auto_merge_llm`.

May import: ``similarity`` and every layer below it.
"""
