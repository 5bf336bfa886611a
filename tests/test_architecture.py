"""The layering rules, read from the source (AST; nothing is imported but ``merginguriel.cli``'s command table).

Every module of ``merginguriel`` belongs to one *layer*: a subpackage (``data``, ``models``, …), the *base*
(the package's own ``__init__``, ``defaults``, ``errors``, ``runtime``) or a script front
(``merginguriel/<script>.py``, four lines that call a command's ``run``). ``LAYERS`` says which layers each one
sits directly on; a layer may import what those sit on, transitively, and nothing else:

* every import counts, at module level, inside functions and under ``if TYPE_CHECKING`` (a type-only import
  is still a dependency);
* no two modules import each other, directly or through others (no import cycle, at any level);
* the merge engine (``auto_merge_llm``) never imports ``merginguriel``;
* no function outside the CLI layer is longer than 100 lines.

``docs/architecture.md`` draws the same order.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from merginguriel.cli import COMMANDS

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "merginguriel"
ENGINE = REPO / "submodules" / "auto_merge_llm" / "auto_merge_llm"
BASE_MODULES = {"__init__.py", "defaults.py", "errors.py", "runtime.py"}
FRONTS = {script for _, script, _ in COMMANDS.values() if not script.startswith("../")}

# layer -> the layers it sits directly on (it may import those and, transitively, what they sit on)
LAYERS: dict[str, tuple[str, ...]] = {
    "base": (),
    "outputs": ("base",),
    "data": ("base",),
    "generative": ("data",),
    "models": ("generative", "outputs"),
    "similarity": ("models",),
    "merging": ("similarity",),
    "training": ("merging",),
    "experiments": ("merging",),
    "demo": ("training", "experiments"),
    "cli": ("demo",),
    "fronts": ("cli",),
}
MAX_FUNCTION_LINES = 100


@functools.cache
def allowed(layer: str) -> frozenset[str]:
    """``layer`` and every layer below it."""
    out = {layer}
    for below in LAYERS[layer]:
        out |= allowed(below)
    return frozenset(out)


def module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) > 1:
        return rel.parts[0] if rel.parts[0] in LAYERS else None
    if rel.name in BASE_MODULES:
        return "base"
    return "fronts" if rel.name in FRONTS else None


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


MODULES = {module_name(p): p for p in modules()}


def imported_modules(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module ``path`` imports, anywhere in it, relative imports resolved; ``from a import b`` counts as
    ``a`` and ``a.b`` (``b`` may be a module)."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def internal_imports(path: Path) -> set[str]:
    """The modules of ``merginguriel`` that ``path`` imports (itself excluded)."""
    return {m for m in imported_modules(path) if m in MODULES} - {module_name(path)}


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_every_module_has_a_layer():
    assert [_rel(p) for p in modules() if layer_of(p) is None] == []


def test_the_layers_form_a_dag():
    seen: set[str] = set()
    for layer in LAYERS:  # listed bottom-up: each sits only on layers listed before it
        assert set(LAYERS[layer]) <= seen, f"{layer} sits on a layer listed after it"
        seen.add(layer)


@pytest.mark.parametrize("path", [pytest.param(p, id=_rel(p)) for p in modules()])
def test_a_module_imports_only_its_own_layer_and_those_below(path):
    layer = layer_of(path)
    bad = sorted(
        f"{m} ({layer_of(MODULES[m])})"
        for m in internal_imports(path)
        if layer_of(MODULES[m]) not in allowed(layer or "base")
    )
    assert bad == [], f"{_rel(path)} ({layer}) imports above its layer: {', '.join(bad)}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_modules():
    graph = {name: internal_imports(path) for name, path in MODULES.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_engine_never_imports_merginguriel():
    bad = {
        p.relative_to(ENGINE).as_posix(): sorted(
            m for m in imported_modules(p, ENGINE) if m.startswith("merginguriel")
        )
        for p in ENGINE.rglob("*.py")
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_script_fronts_are_fronts():
    assert {"training_bert.py", "run_multilang_training.py", "train_fusion_model.py"} <= FRONTS
    for front in FRONTS:
        path = PACKAGE / front
        assert len(path.read_text().splitlines()) <= 6, front  # a docstring, the import of `run`, the call
        assert {m for m in internal_imports(path)} <= {
            m for m in MODULES if m.startswith("merginguriel.cli.")
        }


def test_no_function_outside_the_cli_is_over_the_limit():
    too_long = {}
    for path in modules():
        if layer_of(path) in ("cli", "fronts"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long[f"{_rel(path)}::{node.name}"] = lines
    assert too_long == {}, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"
