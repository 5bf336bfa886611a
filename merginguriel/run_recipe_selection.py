"""Choose a merge recipe per target on dev data only. Front for ``merginguriel.commands.select``."""

from merginguriel.commands.select import run

if __name__ == "__main__":
    raise SystemExit(run())
