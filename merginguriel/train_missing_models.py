"""Train the per-locale models that are missing from the models folder. Front for ``merginguriel.cli.commands.train_missing``."""

from merginguriel.cli.commands.train_missing import run

if __name__ == "__main__":
    raise SystemExit(run())
