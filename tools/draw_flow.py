"""Draw ``docs/flow.png``: the layers of ``merginguriel`` (left, bottom to top, as tests/test_architecture.py
enforces them) and the experiment flow of docs/architecture.md (commands → value objects → the one experiment
program → the engine and the one evaluation path → the results folder).

    python tools/draw_flow.py            # writes docs/flow.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

# (x, y, text, colour): the boxes, in axes units of a 16 x 9 canvas
BOXES = {
    "cmds": (
        0.3,
        7.4,
        "cli/commands/*.py\nmerge · sweep · select · iterative · demo\n(parse flags only)",
        "#dddddd",
    ),
    "values": (
        0.3,
        5.2,
        "value objects\nSourceSelection + SimilarityOptions\nDataSelection · StatisticsOptions\nMethodParams · Runtime",
        "#cfe2f3",
    ),
    "plan": (
        5.6,
        7.4,
        "merging.pipeline.plan_merge\nsources, weights, method,\nexperiment key (no weights read)",
        "#d9ead3",
    ),
    "stats": (
        5.6,
        5.2,
        "merging.experiment\ncompute_statistics: Fisher / Gram,\ncached by fingerprint + data",
        "#d9ead3",
    ),
    "merge": (
        5.6,
        3.0,
        "merging.pipeline.execute_merge\nauto_merge_llm.merge_models\n(streamed, tensor by tensor)",
        "#d9ead3",
    ),
    "eval": (5.6, 0.8, "models.evaluation.evaluate_model\nthe one inference loop +\nlogits cache", "#d9ead3"),
    "engine": (
        11.0,
        3.0,
        "auto_merge_llm\nregistry of methods (schema =\nsignature) · io · heads · statistics",
        "#fce5cd",
    ),
    "out": (
        11.0,
        0.8,
        "merged_models/{name}/ (atomic, COMPLETE)\nresults/{name}/merge_details.json\nthen results.json (last)",
        "#fff2cc",
    ),
    "data": (
        11.0,
        5.2,
        "data.massive.load_split\nchecked by data.access\n(split policy per phase)",
        "#ead1dc",
    ),
}
ARROWS = [
    ("cmds", "values"),
    ("cmds", "plan"),
    ("values", "plan"),
    ("plan", "stats"),
    ("stats", "merge"),
    ("merge", "eval"),
    ("merge", "engine"),
    ("stats", "data"),
    ("eval", "data"),
    ("eval", "out"),
]
W, H = 4.6, 1.6
SHIFT = 5.0  # the flow is drawn right of the layer stack
# the layers of merginguriel, bottom to top (tests/test_architecture.py: LAYERS), with what each sits on
LAYERS = [
    ("base", "errors · runtime · defaults", "—"),
    ("outputs", "atomic · plotting · hub · tracking", "base"),
    ("data", "locales · labels · massive · access", "base"),
    ("generative", "classifier · tiny", "data"),
    ("models", "paths · inference · evaluation · cards", "generative, outputs"),
    ("similarity", "matrix · builders · selection", "models"),
    ("merging", "catalogue · pipeline · experiment", "similarity"),
    ("training  |  experiments", "trainer · iterative  |  nxn · sweep · selection", "merging"),
    ("demo", "encoder · generative", "training, experiments"),
    ("cli", "options · commands", "everything"),
]


def anchors(a: str, b: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """The border points an arrow from box ``a`` to box ``b`` joins: side to side when the boxes are further
    apart across than down, top/bottom otherwise."""
    (xa, ya, _, _), (xb, yb, _, _) = BOXES[a], BOXES[b]
    ca, cb = (xa + W / 2, ya + H / 2), (xb + W / 2, yb + H / 2)
    if abs(cb[0] - ca[0]) > abs(cb[1] - ca[1]):
        sa, sb = (1, -1) if cb[0] > ca[0] else (-1, 1)
        return (ca[0] + sa * W / 2, ca[1]), (cb[0] + sb * W / 2, cb[1])
    sa, sb = (1, -1) if cb[1] > ca[1] else (-1, 1)
    return (ca[0], ca[1] + sa * H / 2), (cb[0], cb[1] + sb * H / 2)


def draw_layers(ax: plt.Axes) -> None:
    """The layer stack, bottom to top: a layer may import the ones below it that it sits on."""
    height = 9.0 / len(LAYERS)
    for i, (name, modules, below) in enumerate(LAYERS):
        y = 0.2 + i * height
        ax.add_patch(FancyBboxPatch((0.2, y), 4.4, height - 0.15, boxstyle="round,pad=0.04", fc="#eeeeee",
                                    ec="#777777"))  # fmt: skip
        ax.text(0.35, y + (height - 0.15) * 0.62, name, ha="left", va="center", fontsize=10, weight="bold")
        ax.text(0.35, y + (height - 0.15) * 0.25, f"{modules}  (on {below})", ha="left", va="center",
                fontsize=7.5)  # fmt: skip


def draw(path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(21, 9.6))
    ax.set_xlim(0, 16 + SHIFT)
    ax.set_ylim(0, 9.4)
    ax.axis("off")
    draw_layers(ax)
    for x, y, text, colour in BOXES.values():
        ax.add_patch(FancyBboxPatch((x + SHIFT, y), W, H, boxstyle="round,pad=0.08", fc=colour, ec="#444444"))
        ax.text(x + SHIFT + W / 2, y + H / 2, text, ha="center", va="center", fontsize=11)
    for a, b in ARROWS:
        (x0, y0), (x1, y1) = anchors(a, b)
        x0, x1 = x0 + SHIFT, x1 + SHIFT
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": "#555555", "shrinkA": 4, "shrinkB": 4, "lw": 1.5},
        )
    ax.set_title(
        "Layers (left, bottom to top) · one experiment program: statistics → merge → save → evaluate → record",
        fontsize=14,
        loc="left",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "docs" / "flow.png"))
    print(draw(Path(p.parse_args().output)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
