"""Aggregate results folders into baselines, win rates and reports. Front for ``merginguriel.cli.commands.aggregate``."""

from merginguriel.cli.commands.aggregate import run

if __name__ == "__main__":
    raise SystemExit(run())
