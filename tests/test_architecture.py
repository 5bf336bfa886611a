"""The layering rules, read from the source (AST, nothing imported but ``merginguriel.cli``'s command table):

* the core never imports the CLI layer (``merginguriel.commands``, ``merginguriel.cli_options``,
  ``merginguriel.cli``); the CLI layer is ``commands/``, ``cli.py``, ``cli_options.py`` and the script fronts
  that ``cli.COMMANDS`` lists (four lines that call a command's ``run``);
* the expert-fusion model does not import evaluation (which loads fusion models): no import loop;
* no function of the core is longer than 100 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from merginguriel.cli import COMMANDS

PACKAGE = Path(__file__).resolve().parent.parent / "merginguriel"
CLI_LAYER = ("merginguriel.commands", "merginguriel.cli_options", "merginguriel.cli")
FRONTS = {script for _, script, _ in COMMANDS.values() if not script.startswith("../")}

# Core modules that still import the CLI layer while their owners move the code into the core, as
# {"file.py": "why"}: each is an expected failure (xfail) until it is fixed; then delete its line. Empty now
# (sweep.py, which imported merginguriel.commands.merge, became the sweep package without that import).
IMPORTS_CLI_ALLOWED: dict[str, str] = {}
# Core functions still over the length limit while their owners split them, as {"file.py::function": "why"}.
LONG_FUNCTIONS_ALLOWED: dict[str, str] = {}
MAX_FUNCTION_LINES = 100


def core_modules() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "commands" or rel.as_posix() in ("cli.py", "cli_options.py", *FRONTS):
            continue
        out.append(path)
    return out


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (function-level imports too), relative ones resolved;
    ``from a import b`` counts as ``a`` and ``a.b`` (``b`` may be a module)."""
    package = module_name(path).split(".")
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


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _allowed(table: dict[str, str], key: str) -> list:
    return [pytest.mark.xfail(reason=table[key], strict=False)] if key in table else []


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=_rel(p), marks=_allowed(IMPORTS_CLI_ALLOWED, _rel(p))) for p in core_modules()],
)
def test_the_core_does_not_import_the_cli_layer(path):
    bad = sorted(
        m for m in imported_modules(path) if any(m == cli or m.startswith(cli + ".") for cli in CLI_LAYER)
    )
    assert bad == [], f"{_rel(path)} imports the CLI layer: {', '.join(bad)}"


def test_the_cli_layer_is_what_the_test_thinks():
    assert {"training_bert.py", "run_multilang_training.py", "train_fusion_model.py"} <= FRONTS
    fronts = [PACKAGE / f for f in FRONTS]
    assert all(len(f.read_text().splitlines()) <= 6 for f in fronts)  # script fronts: a docstring and `run`
    assert PACKAGE / "training.py" in core_modules() and PACKAGE / "training_bert.py" not in core_modules()


def test_fusion_model_and_evaluation_import_no_loop():
    fusion = imported_modules(PACKAGE / "fusion_model.py")
    assert not {"merginguriel.evaluation", "merginguriel.fusion_training"} & fusion


def test_no_core_function_is_over_the_limit():
    too_long = {}
    for path in core_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                key, lines = f"{_rel(path)}::{node.name}", node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS_ALLOWED:
                    too_long[key] = lines
    assert too_long == {}, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"
