"""Train source models with periodic merging (iterative training). Front for ``merginguriel.commands.iterative``."""

from merginguriel.commands.iterative import run

if __name__ == "__main__":
    raise SystemExit(run())
