"""Fine-tune an intent classifier on MASSIVE locales. Front for ``merginguriel.cli.commands.train``."""

from merginguriel.cli.commands.train import run

if __name__ == "__main__":
    raise SystemExit(run())
