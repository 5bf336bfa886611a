"""``merginguriel transfer-report`` / ``run_transfer_report.py``: how well each similarity source predicts the
observed zero-shot transfer of an NxN matrix computed on the dev split (see :mod:`merginguriel.similarity.transfer_report`).

Writes ``transfer_report.csv``, ``transfer_report_summary.csv``, ``transfer_report.md``,
``transfer_report_spearman.png`` and one ``transfer_report_scatter_<target>.png`` per ``--scatter-target``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from merginguriel.cli import options as opts
from merginguriel.cli.commands.similarity import add_source_build_args, source_context
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.data.locales import parse_locales
from merginguriel.outputs.atomic import check_writable
from merginguriel.similarity.builders import build_source, matrix_locales, parse_spec, read_dev_nxn
from merginguriel.similarity.matrix import load_matrix
from merginguriel.similarity.transfer_report import (
    SPEARMAN_PLOT,
    TransferReportError,
    align,
    plot_mean_spearman,
    plot_scatter,
    scatter_file,
    summarise,
    transfer_report,
    write_report,
)

EXAMPLE = (
    "example: merginguriel transfer-report --nxn-matrix nxn_results/nxn_eval_dev/evaluation_matrix.csv "
    "lang2vec=language_similarity_matrix_unified.csv --sources urielplus:genetic,urielplus:composite,learned"
)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "run_transfer_report.py",
        "Score similarity sources by how well they rank observed dev-split transfer: Spearman, "
        "Kendall, NDCG@K and top-1 per target; means with bootstrap intervals per source.",
        EXAMPLE,
    )
    p.add_argument(
        "matrices",
        nargs="*",
        metavar="NAME=CSV",
        help="Dense similarity matrices to judge, named (e.g. lang2vec=language_similarity_matrix_unified.csv).",
    )
    p.add_argument(
        "--sources",
        default="",
        help="Comma-separated similarity sources to build for the NxN matrix's locales, e.g. "
        "lang2vec:syntax_knn,urielplus:genetic,urielplus:composite,overlap,learned.",
    )
    opts.add_renamed(
        p,
        "--ndcg-k",
        "--k",
        "k",
        "K of NDCG@K (default 5, the default --num-languages).",
        type=opts.positive_int,
        default=5,
    )  # fmt: skip  (--top-k is another concept)
    p.add_argument(
        "--bootstrap", type=opts.positive_int, default=1000, help="Bootstrap resamples (default 1000)."
    )
    p.add_argument("--seed", type=int, default=0, help="Bootstrap seed (default 0).")
    opts.add_renamed(p, "--target-lang", "--targets", "targets",
                     "Comma-separated targets to report on (default: all the inputs share).")  # fmt: skip
    p.add_argument(
        "--scatter-target",
        dest="scatter_targets",
        action="append",
        default=None,
        help="Target of a similarity-vs-transfer scatter PNG (repeatable; default the first target).",
    )
    opts.add_renamed(p, "--output-dir", "--out-dir", "out_dir", "Output folder (default results/transfer_report).",
                     default="results/transfer_report")  # fmt: skip
    p.add_argument(
        "--base-model", default="xlm-roberta-base", help="Default --tokenizer of the overlap source."
    )
    add_source_build_args(p)
    return p


def named_matrices(items: Sequence[str]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise TransferReportError(
                f"{item!r} is not NAME=CSV (e.g. lang2vec=language_similarity_matrix_unified.csv)."
            )
        if name in out:
            raise TransferReportError(
                f"Similarity matrix name {name!r} is given twice; name each one differently."
            )
        out[name] = load_matrix(path)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    check_writable(args.out_dir, "--output-dir")
    if not args.nxn_matrix:
        raise TransferReportError(
            "--nxn-matrix is required: the evaluation_matrix.csv of an NxN run on the dev split."
        )
    nxn = read_dev_nxn(args.nxn_matrix)
    similarities = named_matrices(args.matrices)
    specs = [parse_spec(s) for s in args.sources.split(",") if s.strip()]
    for spec in specs:
        if spec.name == "empirical":
            raise TransferReportError(
                "--sources empirical is the observed transfer the report scores against (rho = 1 by construction); "
                "give an empirical matrix from another NxN run as NAME=CSV instead."
            )
    ctx = source_context(args, nxn)
    locales = matrix_locales(nxn)
    for spec in specs:
        if spec.label in similarities:
            raise TransferReportError(f"Similarity matrix name {spec.label!r} is given twice.")
        print(f"building {spec.label} for {len(locales)} locales ...")
        similarities[spec.label] = build_source(spec, locales, ctx)
    for note in ctx.notes:
        print(f"note: {note}")
    targets = parse_locales(args.targets) if args.targets else None
    inputs = align(nxn, similarities, targets)
    for note in inputs.notes:
        print(f"note: {note}")
    report = transfer_report(nxn, similarities, args.k, targets)
    summary = summarise(report, args.bootstrap, args.seed)
    out = Path(args.out_dir)
    written = write_report(report, summary, out, args.k, args.bootstrap)
    written.append(plot_mean_spearman(summary, out / SPEARMAN_PLOT))
    for target in parse_locales(args.scatter_targets) if args.scatter_targets else inputs.targets[:1]:
        if target not in inputs.targets:
            raise TransferReportError(f"--scatter-target {target} is not one of the report's targets.")
        written.append(plot_scatter(target, similarities, inputs.transfer, out / scatter_file(target)))
    print(f"{len(inputs.targets)} targets, {len(similarities)} similarity sources, NDCG@{args.k}:")
    for r in summary.itertuples(index=False):
        print(
            f"  {r.source:<24} rho {r.mean_spearman:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]  "
            f"NDCG@{args.k} {r.mean_ndcg_at_k:.3f}  top-1 {r.top1_rate:.2f}  ({r.n_targets} targets)"
        )
    for path in written:
        print(f"wrote {path}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
