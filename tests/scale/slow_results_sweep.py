"""``merginguriel sweep`` with a 1-second pause before every ``results.json`` is written, so a test can kill
the sweep while an experiment is in flight (the pause is injected here, not in the product)."""

import sys
import time

import merginguriel.experiments.sweep.runners
import merginguriel.merging.experiment
from merginguriel.cli.commands.sweep import run
from merginguriel.outputs.atomic import write_json_atomic


def slow_write(path, data):
    if str(path).endswith("results.json"):
        time.sleep(1.0)
    return write_json_atomic(path, data)


merginguriel.merging.experiment.write_json_atomic = slow_write
merginguriel.experiments.sweep.runners.write_json_atomic = slow_write

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
