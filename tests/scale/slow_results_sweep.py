"""``merginguriel sweep`` with a 1-second pause before every ``results.json`` is written, so a test can kill
the sweep while an experiment is in flight (the pause is injected here, not in the product)."""

import sys
import time

import merginguriel.experiment
import merginguriel.sweep.runners
from merginguriel.commands.sweep import run
from merginguriel.outputs import write_json_atomic


def slow_write(path, data):
    if str(path).endswith("results.json"):
        time.sleep(1.0)
    return write_json_atomic(path, data)


merginguriel.experiment.write_json_atomic = slow_write
merginguriel.sweep.runners.write_json_atomic = slow_write

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
