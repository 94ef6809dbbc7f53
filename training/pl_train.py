"""Entry point: `python -m training.pl_train [--flags]` trains one fold and exports a bundle.

Settings come from CLI flags > MELANOMA_* env vars > `.env` > defaults (configs/training.py).
"""

from __future__ import annotations

import sys

from configs.cli import Command
from configs.training import TrainSettings
from training.components.fit import TRAINING_ERRORS, train

COMMAND = Command(TrainSettings, train, bad_input=TRAINING_ERRORS,
                  writes_to=lambda s: s.output_dir, errors="log")
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
