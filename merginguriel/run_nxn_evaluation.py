"""Evaluate every model on every locale (NxN accuracy matrix). Front for ``merginguriel.commands.nxn``."""

from merginguriel.commands.nxn import run

if __name__ == "__main__":
    raise SystemExit(run())
