"""Train, save, reload and evaluate an expert-fusion model. Front for ``merginguriel.cli.commands.fusion``."""

from merginguriel.cli.commands.fusion import run

if __name__ == "__main__":
    raise SystemExit(run())
