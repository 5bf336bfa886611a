"""Merge source-locale models for a target locale and evaluate. Front for ``merginguriel.commands.merge``."""

from merginguriel.commands.merge import run

if __name__ == "__main__":
    raise SystemExit(run())
