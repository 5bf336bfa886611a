"""Accumulative snapshot averaging (One-For-All) with a results table and plot. Front for ``merginguriel.commands.snapshot_average``."""

from merginguriel.commands.snapshot_average import run

if __name__ == "__main__":
    raise SystemExit(run())
