"""Fine-tune an intent classifier on MASSIVE locales. Front for ``merginguriel.commands.train``."""

from merginguriel.commands.train import run

if __name__ == "__main__":
    raise SystemExit(run())
