"""Evaluate one model folder on a locale. Front for ``merginguriel.cli.commands.evaluate``."""

from merginguriel.cli.commands.evaluate import run

if __name__ == "__main__":
    raise SystemExit(run())
