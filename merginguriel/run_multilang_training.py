"""Train leave-one-language-out and all-language models. Front for ``merginguriel.cli.commands.train_multilang``."""

from merginguriel.cli.commands.train_multilang import run

if __name__ == "__main__":
    raise SystemExit(run())
