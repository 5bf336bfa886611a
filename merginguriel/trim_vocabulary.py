"""Shrink a base model and its per-locale models to the tokens a dataset's texts use. Front for ``merginguriel.cli.commands.trim_vocabulary``."""

from merginguriel.cli.commands.trim_vocabulary import run

if __name__ == "__main__":
    raise SystemExit(run())
