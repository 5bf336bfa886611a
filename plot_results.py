"""Plot aggregated results (latest results_comprehensive_*.csv). Front for ``merginguriel.commands.plot``."""

from merginguriel.commands.plot import run

if __name__ == "__main__":
    raise SystemExit(run())
