"""Evaluate every model on every locale (NxN accuracy matrix). Front for ``merginguriel.cli.commands.nxn``."""

from merginguriel.cli.commands.nxn import run

if __name__ == "__main__":
    raise SystemExit(run())
