"""Ensemble the source models' predictions for a target locale. Front for ``merginguriel.commands.ensemble``."""

from merginguriel.commands.ensemble import run

if __name__ == "__main__":
    raise SystemExit(run())
