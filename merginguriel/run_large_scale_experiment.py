"""Sweep locales x modes with resume (local processes or Slurm via submitit). Front for ``merginguriel.cli.commands.sweep``."""

from merginguriel.cli.commands.sweep import run

if __name__ == "__main__":
    raise SystemExit(run())
