"""Aggregate results folders into baselines, win rates and reports. Front for ``merginguriel.commands.aggregate``."""

from merginguriel.commands.aggregate import run

if __name__ == "__main__":
    raise SystemExit(run())
