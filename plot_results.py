"""Plot aggregated results (latest results_comprehensive_*.csv). Front for ``merginguriel.cli.commands.plot``."""

from merginguriel.cli.commands.plot import run

if __name__ == "__main__":
    raise SystemExit(run())
