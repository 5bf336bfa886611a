"""``merginguriel similarity`` / ``generate_sparse_similarity_unified.py``: build a language-similarity matrix.

``--source lang2vec`` (the default) writes the dense lang2vec CSV, the sparse (top-k + Sinkhorn) CSV, the
locale → model-folder mapping CSV and a heatmap PNG of the sparse matrix, exactly as before. The other sources
(``urielplus``, ``empirical``, ``overlap``, ``learned``; see :mod:`merginguriel.similarity.builders`) write the
same dense and sparse CSV formats under their own names, and a heatmap of the dense matrix.

With ``--target`` it also shows the sources a target would get (``--num-languages``, ``--weighting``,
``--temperature``) with their weights and the effective number of sources.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from merginguriel.cli import options as opts
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.data.locales import ALL_LOCALES, LOCALES, parse_locales, shared_uriel_groups
from merginguriel.data.massive import HUB_DATASET
from merginguriel.defaults import DEFAULT_BASE_MODEL, DENSE_MATRIX_NAME, MAPPING_NAME, SPARSE_MATRIX_NAME
from merginguriel.errors import UserError
from merginguriel.models.paths import model_mapping
from merginguriel.outputs.atomic import check_writable, write_text_atomic
from merginguriel.outputs.plotting import heatmap
from merginguriel.similarity.builders import (
    DEFAULT_LEARNED_FEATURES,
    SOURCE_NAMES,
    SourceContext,
    SourceSpec,
    build_source,
    matrix_locales,
    read_dev_nxn,
)
from merginguriel.similarity.matrix import (
    DEFAULT_FEATURE_TYPE,
    FLOAT_FORMAT,
    WEIGHTINGS,
    SimilarityError,
    build_similarity,
    describe_weights,
    select_sources,
    sparsify,
    write_matrix,
)

logger = logging.getLogger("merginguriel.similarity")

EXAMPLE = (
    "example: merginguriel similarity --source urielplus --distance genetic --target af-ZA --num-languages 5"
)


def add_source_build_args(parser: argparse.ArgumentParser) -> None:
    """Flags that building a similarity source may need (shared by ``similarity`` and ``transfer-report``)."""
    ur = parser.add_argument_group("urielplus source")
    ur.add_argument(
        "--metric",
        choices=["angular", "cosine"],
        default="angular",
        help="URIEL+ distance: angular (2 arccos(cos)/pi, URIEL+'s default) or cosine (1 - cos).",
    )
    ur.add_argument(
        "--unscored",
        choices=["exclude", "fallback"],
        default="exclude",
        help="A pair URIEL+ cannot score (no shared features): exclude = leave the cell empty, out of the "
        "ranking (default); fallback = the composite of the other URIEL+ types. Such pairs are always listed.",
    )
    emp = parser.add_argument_group("empirical / learned sources")
    emp.add_argument(
        "--nxn-matrix",
        dest="nxn_matrix",
        help="evaluation_matrix.csv of an NxN run on the dev split (its nxn_config.json must record it); "
        "a test-split matrix is refused.",
    )
    emp.add_argument(
        "--features",
        default=",".join(DEFAULT_LEARNED_FEATURES),
        help="learned: comma-separated source specs the ranker uses as features "
        f"(default {','.join(DEFAULT_LEARNED_FEATURES)}; 'overlap' needs the overlap flags).",
    )
    # --alpha is a merge-method parameter (TSV, Iso-C): one flag, one meaning
    opts.add_renamed(emp, "--ridge-alpha", "--alpha", "alpha", "learned: ridge regularisation (default 1).",
                     type=float, default=1.0)  # fmt: skip
    ov = parser.add_argument_group("overlap source")
    ov.add_argument(
        "--dataset-name",
        "--dataset_name",
        dest="dataset_name",
        default=HUB_DATASET,
        help=f"Training utterances: hub id ({HUB_DATASET}), a local folder <locale>/train.jsonl[.gz], or 'builtin'.",
    )
    ov.add_argument("--text-column", dest="text_column", default="utt", help="Column holding the utterance.")
    ov.add_argument(
        "--max-samples",
        dest="max_samples",
        type=opts.positive_int,
        default=None,
        help="First N training rows per locale.",
    )
    ov.add_argument(
        "--tokenizer",
        default=None,
        help="Tokenizer (hub id or folder) the overlap is counted under (default: --base-model).",
    )
    ov.add_argument(
        "--overlap-weighting",
        dest="overlap_weighting",
        choices=["frequency", "types"],
        default="frequency",
        help="frequency: sum of min(p_a, p_b) over subword types (default); types: LANGRANK's "
        "|V_a & V_b| / (|V_a| + |V_b|).",
    )


def source_context(args: argparse.Namespace, nxn: pd.DataFrame | None = None) -> SourceContext:
    """The :class:`SourceContext` of the flags of :func:`add_source_build_args`."""
    return SourceContext(
        nxn=nxn,
        dataset_name=args.dataset_name,
        text_column=args.text_column,
        tokenizer=args.tokenizer or getattr(args, "base_model", None) or DEFAULT_BASE_MODEL,
        max_samples=args.max_samples,
        overlap_weighting=args.overlap_weighting,
        metric=args.metric,
        unscored=args.unscored,
        learned_features=tuple(s.strip() for s in args.features.split(",") if s.strip()),
        alpha=args.alpha,
    )


def add_weighting_args(parser: argparse.ArgumentParser) -> None:
    """``--weighting`` and ``--temperature`` (how the chosen sources are weighted)."""
    group = parser.add_argument_group("weighting")
    group.add_argument(
        "--weighting",
        choices=list(WEIGHTINGS),
        default="sinkhorn",
        help="sinkhorn: top-k + Sinkhorn over the matrix, then the target's top sources renormalised (default); "
        "softmax: w ~ exp(s/T); normalize: w ~ s (over the target's top sources).",
    )
    group.add_argument(
        "--temperature", type=opts.positive_float, default=1.0, help="Softmax temperature T > 0 (default 1)."
    )


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "generate_sparse_similarity_unified.py",
        "Build a language-similarity matrix (dense, and top-k + Sinkhorn sparse) from one source: "
        "lang2vec (default), URIEL+, observed dev transfer, lexical overlap, or a learned ranker.",
        EXAMPLE,
    )
    p.add_argument(
        "--source",
        choices=list(SOURCE_NAMES),
        default="lang2vec",
        help="Similarity source (default lang2vec).",
    )
    p.add_argument(
        "--feature-type",
        default=DEFAULT_FEATURE_TYPE,
        help="lang2vec feature set (default syntax_knn), e.g. syntax_wals, phonology_knn, inventory_knn, fam, "
        "geo; join several with '+' to concatenate them.",
    )
    p.add_argument(
        "--distance",
        default="composite",
        help="URIEL+ distance: genetic, geographic, syntactic, phonological, inventory, featural, morphological, "
        "script, composite (mean of the available types; default), or several joined with '+'.",
    )
    opts.add_renamed(p, "--top-k", "--k", "k", "Entries kept per row before Sinkhorn (default 20).",
                     type=opts.positive_int, default=20)  # fmt: skip
    opts.add_renamed(p, "--sinkhorn-iters", "--iterations", "iterations",
                     "Sinkhorn rounds, rows then columns (default 20).", type=opts.non_negative_int, default=20)  # fmt: skip
    src = p.add_mutually_exclusive_group()
    src.add_argument("--locales", help="Comma-separated locales (default: all 52 MASSIVE locales).")
    src.add_argument("--locales-csv", help="CSV with a 'locale' column (e.g. model_mapping_unified.csv).")
    p.add_argument(
        "--out-dense",
        default=None,
        help=f"Dense CSV (default ./{DENSE_MATRIX_NAME} for lang2vec, ./language_similarity_<source>.csv otherwise).",
    )
    p.add_argument(
        "--out-sparse",
        default=None,
        help=f"Sparse CSV (default ./{SPARSE_MATRIX_NAME} for lang2vec, ./sparsed_language_similarity_<source>.csv "
        "otherwise).",
    )
    p.add_argument(
        "--out-mapping",
        default=None,
        help=f"Locale mapping CSV (default ./{MAPPING_NAME} for lang2vec, none otherwise); '' to skip.",
    )
    p.add_argument(
        "--base-model", default=DEFAULT_BASE_MODEL, help="Base model whose folder names the mapping lists."
    )
    p.add_argument(
        "--out-plot",
        default=None,
        help="Heatmap PNG (default plots/language_similarity_sparse.png of the sparse lang2vec matrix, "
        "plots/language_similarity_<source>.png of the dense matrix otherwise); '' to skip.",
    )
    add_source_build_args(p)
    sel = p.add_argument_group("preview a selection")
    opts.add_renamed(sel, "--target-lang", "--target", "target",
                     "Comma-separated targets: print the sources each would get and their weights.")  # fmt: skip
    sel.add_argument(
        "--num-languages",
        dest="num_languages",
        type=opts.positive_int,
        default=5,
        help="Sources per target (default 5).",
    )
    add_weighting_args(p)
    return p


def locales_from_args(args: argparse.Namespace) -> list[str]:
    if args.locales:
        return parse_locales(args.locales)
    if args.locales_csv:
        frame = pd.read_csv(args.locales_csv)
        if "locale" not in frame.columns:
            raise UserError(f"{args.locales_csv} has no 'locale' column (columns: {list(frame.columns)}).")
        return parse_locales(list(frame["locale"].astype(str)))
    return list(ALL_LOCALES)


def source_tag(args: argparse.Namespace) -> str:
    """File-name tag of a non-default source, e.g. ``urielplus_genetic_angular``."""
    if args.source == "lang2vec":
        return f"lang2vec_{args.feature_type.replace('+', '-')}"
    if args.source == "urielplus":
        return f"urielplus_{args.distance.replace('+', '-')}_{args.metric}"
    if args.source == "overlap":
        return f"overlap_{args.overlap_weighting}"
    return args.source


def _default_locales(args: argparse.Namespace, nxn: pd.DataFrame | None) -> list[str]:
    if args.locales or args.locales_csv:
        return locales_from_args(args)
    if nxn is not None:
        return matrix_locales(nxn)
    if args.source == "overlap":
        from merginguriel.data.massive import local_locales, resolve_dataset

        source = resolve_dataset(args.dataset_name)
        if source.kind == "local":
            return [loc for loc in local_locales(source.location) if loc in LOCALES]
    return list(ALL_LOCALES)


def _print_selection(args: argparse.Namespace, dense: pd.DataFrame, sparse: pd.DataFrame) -> None:
    matrix = sparse if args.weighting == "sinkhorn" else dense
    for target in parse_locales(args.target):
        if target not in matrix.index:
            raise SimilarityError(f"Target {target} is not among the matrix's locales.")
        chosen = select_sources(
            target, matrix, args.num_languages, weighting=args.weighting, temperature=args.temperature
        )
        print(f"{target} ({args.weighting}): {describe_weights(chosen)}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    for flag in ("out_dense", "out_sparse", "out_mapping", "out_plot"):  # unwritable outputs: an error now
        if getattr(args, flag):
            check_writable(Path(getattr(args, flag)).parent, f"--{flag.replace('_', '-')}")
    notes: list[str] = []
    if args.source == "lang2vec":  # the original command: same matrices, files and heatmap
        locales = locales_from_args(args)
        dense, sparse = build_similarity(locales, args.feature_type, args.k, args.iterations)
        default_dense, default_sparse, default_mapping = DENSE_MATRIX_NAME, SPARSE_MATRIX_NAME, MAPPING_NAME
        default_plot = "plots/language_similarity_sparse.png"
    else:
        if args.source in ("empirical", "learned") and not args.nxn_matrix:
            raise SimilarityError(
                f"--source {args.source} needs --nxn-matrix: an evaluation_matrix.csv computed on the dev split."
            )
        nxn = read_dev_nxn(args.nxn_matrix) if args.source in ("empirical", "learned") else None
        locales = _default_locales(args, nxn)
        ctx = source_context(args, nxn)
        option = args.distance if args.source == "urielplus" else None
        dense = build_source(SourceSpec(args.source, option), locales, ctx)
        notes = ctx.notes
        values = sparsify(dense.fillna(0.0).to_numpy(), list(dense.index), args.k, args.iterations)
        sparse = pd.DataFrame(values, index=dense.index, columns=dense.columns)
        tag = source_tag(args)
        default_dense, default_sparse = (
            f"language_similarity_{tag}.csv",
            f"sparsed_language_similarity_{tag}.csv",
        )
        default_mapping, default_plot = "", f"plots/language_similarity_{tag}.png"
    out_dense = args.out_dense or default_dense
    out_sparse = args.out_sparse or default_sparse
    write_matrix(dense, out_dense)
    write_text_atomic(out_sparse, sparse.to_csv(float_format=FLOAT_FORMAT))
    for note in notes:
        print(f"note: {note}")
    unscored = int(dense.isna().to_numpy().sum())
    what = args.feature_type if args.source == "lang2vec" else source_tag(args)
    print(
        f"dense matrix  ({len(locales)} locales, {what}): {out_dense}"
        + (f" ({unscored} cells not scored, left empty)" if unscored else "")
    )
    if unscored:
        _write_unscored(dense, out_dense)
    print(
        f"sparse matrix (top-{min(args.k, len(locales) - 1)}, {args.iterations} Sinkhorn rounds): {out_sparse}"
    )
    out_mapping = default_mapping if args.out_mapping is None else args.out_mapping
    if out_mapping:
        write_text_atomic(out_mapping, model_mapping(locales, args.base_model).to_csv(index=False))
        print(f"mapping: {out_mapping}")
    out_plot = default_plot if args.out_plot is None else args.out_plot
    if out_plot:
        if args.source == "lang2vec":
            heatmap(sparse, out_plot, f"URIEL {args.feature_type} similarity (sparse)", fmt=".2f")
        else:
            heatmap(dense, out_plot, f"{source_tag(args)} similarity (dense)", fmt=".2f")
        print(f"heatmap: {out_plot}")
    if args.target:
        _print_selection(args, dense, sparse)
    if args.source in ("lang2vec", "urielplus"):
        for group in shared_uriel_groups(locales):
            print(f"note: {' and '.join(group)} share URIEL features, so their rows are identical.")
    return 0


def _write_unscored(dense: pd.DataFrame, out_dense: str) -> None:
    """The pairs the source could not score, beside the dense CSV (``<stem>_unscored.csv``)."""
    path = Path(out_dense)
    target = path.with_name(f"{path.stem}_unscored.csv")
    cells = dense.isna().to_numpy()
    pairs = [
        (dense.index[i], dense.columns[j])
        for i in range(len(dense))
        for j in range(i + 1, len(dense))
        if cells[i, j]
    ]
    frame = pd.DataFrame(pairs, columns=["locale_a", "locale_b"])
    write_text_atomic(target, frame.to_csv(index=False))
    print(f"unscored pairs ({len(pairs)}, listed by name): {target}")


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
