"""Merge source-locale models for a target locale and evaluate. Front for ``merginguriel.cli.commands.merge``."""

from merginguriel.cli.commands.merge import run

if __name__ == "__main__":
    raise SystemExit(run())
