"""One module per command: its argparse parser and ``main``. The scripts under ``merginguriel/`` and the
``merginguriel`` console command are thin fronts over these."""
