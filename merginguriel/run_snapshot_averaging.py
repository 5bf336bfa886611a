"""Accumulative snapshot averaging (One-For-All) with a results table and plot. Front for ``merginguriel.cli.commands.snapshot_average``."""

from merginguriel.cli.commands.snapshot_average import run

if __name__ == "__main__":
    raise SystemExit(run())
