"""Offline end-to-end demo on the built-in corpus. Front for ``merginguriel.commands.demo``."""

from merginguriel.commands.demo import run

if __name__ == "__main__":
    raise SystemExit(run())
