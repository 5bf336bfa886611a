"""Train source models with periodic merging (iterative training). Front for ``merginguriel.cli.commands.iterative``."""

from merginguriel.cli.commands.iterative import run

if __name__ == "__main__":
    raise SystemExit(run())
