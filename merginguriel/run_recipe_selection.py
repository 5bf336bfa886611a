"""Choose a merge recipe per target on dev data only. Front for ``merginguriel.cli.commands.select``."""

from merginguriel.cli.commands.select import run

if __name__ == "__main__":
    raise SystemExit(run())
