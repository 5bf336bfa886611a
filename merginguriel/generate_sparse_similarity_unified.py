"""Build the URIEL similarity matrices. Front for ``merginguriel.commands.similarity``."""

from merginguriel.commands.similarity import run

if __name__ == "__main__":
    raise SystemExit(run())
