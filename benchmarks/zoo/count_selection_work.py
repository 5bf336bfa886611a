"""How much work an exhaustive ``select --protocol leave-target-out`` over the whole zoo needs, counted by
planning every candidate on every fold (no model is merged or run): distinct merges, distinct ensembles and
the (model or ensemble, dev split) evaluations, with the default grid or another.

    python benchmarks/zoo/count_selection_work.py --workdir /tmp/zoo [--grid GRID.json] [--sources lang2vec]

A merge is identified as ``select`` identifies it (method, parameters, sources and weights, the locale it is
applied to), so a merge shared by several targets' folds counts once, as the score store and merge folder
reuse it. The race's work depends on the scores, so it is measured (``select --search race`` prints it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from build_zoo import LOCALES  # noqa: E402
from study import base_link, trimmed  # noqa: E402

from merginguriel.experiments.selection.grid import build_grid, read_grid  # noqa: E402
from merginguriel.experiments.selection.runner import _applies  # noqa: E402
from merginguriel.experiments.selection.scoring import SelectionContext, build  # noqa: E402
from merginguriel.similarity.builders import SourceContext, build_source, parse_spec  # noqa: E402
from merginguriel.similarity.matrix import write_matrix  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/zoo"))
    p.add_argument("--grid", default=None, help="A select grid file (default: select's default grid).")
    p.add_argument("--sources", default="lang2vec")
    args = p.parse_args()
    work, pool = args.workdir, list(LOCALES)
    matrices = {}
    for spec in map(parse_spec, args.sources.split(",")):
        path = work / "count" / f"{spec.label.replace(':', '_')}.csv"
        matrices[spec.label] = str(write_matrix(build_source(spec, pool, SourceContext()), path))
    grid = build_grid(list(matrices), read_grid(args.grid) if args.grid else None)
    candidates = grid.candidates()
    ctx = SelectionContext(
        str(trimmed(work)[0]), str(base_link(work)), matrices, pool, work_dir=work / "count"
    )
    merges, ensembles, evaluations = set(), set(), set()
    for target in pool:
        held_out = SelectionContext(ctx.models_root, ctx.base_model, matrices, [x for x in pool if x != target],
                                    work_dir=ctx.work_dir)  # fmt: skip
        for c in candidates:
            if not _applies(c, target, ctx):
                continue
            for fold in held_out.pool:
                built = build(c, fold, held_out, merge=False)
                evaluations.add((built.identity, fold))
                if c.is_ensemble:
                    ensembles.add((built.identity, fold))
                elif c.mode != "single" and not c.fixed_source:
                    merges.add((built.identity, fold))
    out = {"targets": len(pool), "candidates": len(candidates), "folds per target": len(pool) - 1,
           "distinct merges": len(merges), "distinct ensembles": len(ensembles),
           "distinct evaluations (model or ensemble x dev split)": len(evaluations),
           "naive evaluations (targets x candidates x folds)": len(pool) * len(candidates) * (len(pool) - 1)}  # fmt: skip
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
