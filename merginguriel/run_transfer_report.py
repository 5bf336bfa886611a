"""How well each similarity source predicts dev-split transfer. Front for ``merginguriel.cli.commands.transfer_report``."""

from merginguriel.cli.commands.transfer_report import run

if __name__ == "__main__":
    raise SystemExit(run())
