"""Train leave-one-language-out and all-language models. Front for ``merginguriel.commands.train_multilang``."""

from merginguriel.commands.train_multilang import run

if __name__ == "__main__":
    raise SystemExit(run())
