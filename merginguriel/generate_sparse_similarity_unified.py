"""Build the URIEL similarity matrices. Front for ``merginguriel.cli.commands.similarity``."""

from merginguriel.cli.commands.similarity import run

if __name__ == "__main__":
    raise SystemExit(run())
