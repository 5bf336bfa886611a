"""Copy finished training runs into the models folder layout. Front for ``merginguriel.cli.commands.copy_models``."""

from merginguriel.cli.commands.copy_models import run

if __name__ == "__main__":
    raise SystemExit(run())
