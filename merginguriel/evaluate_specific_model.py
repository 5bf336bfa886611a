"""Evaluate one model folder on a locale. Front for ``merginguriel.commands.evaluate``."""

from merginguriel.commands.evaluate import run

if __name__ == "__main__":
    raise SystemExit(run())
