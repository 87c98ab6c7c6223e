"""Regenerate the training corpus (200,000 uint8 tokens of the hidden source): starting/train.bin for
the participant, and train.bin beside the scorer (its trusted copy; official scoring does not
copy starting/ into the scoring container).

    .venv/bin/python environments/optimize_training/make_assets.py

Deterministic: the same bytes every time (seed below). Changing the corpus changes every trained
weight, so re-measure the calibration afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository, for scoring.lm

from scoring.lm.source import write_corpus  # noqa: E402

TOKENS = 200_000
SEED = 11


def main() -> None:
    for path in (HERE / "starting" / "train.bin", HERE / "train.bin"):
        print(write_corpus(path, TOKENS, SEED))


if __name__ == "__main__":
    main()
