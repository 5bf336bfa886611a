"""Offline end-to-end demo on the built-in corpus. Front for ``merginguriel.cli.commands.demo``."""

from merginguriel.cli.commands.demo import run

if __name__ == "__main__":
    raise SystemExit(run())
