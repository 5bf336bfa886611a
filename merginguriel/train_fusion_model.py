"""Train, save, reload and evaluate an expert-fusion model. Front for ``merginguriel.commands.fusion``."""

from merginguriel.commands.fusion import run

if __name__ == "__main__":
    raise SystemExit(run())
