"""``python -m merginguriel.cli <command> …``: the console command."""

from merginguriel.cli import main

raise SystemExit(main())
