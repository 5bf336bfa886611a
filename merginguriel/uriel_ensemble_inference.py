"""Ensemble the source models' predictions for a target locale. Front for ``merginguriel.cli.commands.ensemble``."""

from merginguriel.cli.commands.ensemble import run

if __name__ == "__main__":
    raise SystemExit(run())
