"""Regenerate restricted_mlm's binary assets: the training corpus and the two trained models.

    .venv/bin/python environments/restricted_mlm/make_assets.py            # all three
    .venv/bin/python environments/restricted_mlm/make_assets.py --only reference

- starting/train.bin: 1,000,000 tokens of scoring/lm's source (seed CORPUS_SEED), 1 MB;
- starting/model.pt: the starting WindowMLP, trained START_STEPS steps by starting/train.py;
- reference_solutions/restricted_mlm/model.pt: the reference ResidualMLP, REFERENCE_STEPS steps.

Training counts steps, not seconds, and runs on one thread, so the weights do not depend on the
machine's load (they may differ in the last bits from one CPU to another).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STARTING = HERE / "starting"
REFERENCE = REPO / "reference_solutions" / "restricted_mlm"
CORPUS_TOKENS = 1_000_000
CORPUS_SEED = 20261123
START_STEPS = 300
REFERENCE_STEPS = 2500


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["corpus", "starting", "reference"])
    args = parser.parse_args()
    sys.path[:0] = [str(REPO), str(STARTING)]  # scoring.lm for the corpus; train.py imports `model`
    sys.dont_write_bytecode = True
    import torch

    from scoring.lm.source import write_corpus

    torch.set_num_threads(1)
    if args.only in (None, "corpus"):
        print(write_corpus(STARTING / "train.bin", CORPUS_TOKENS, CORPUS_SEED))
    train = _load(STARTING / "train.py", "restricted_mlm_train")
    corpus = train.load_corpus(STARTING / "train.bin")
    jobs = [("starting", STARTING, START_STEPS), ("reference", REFERENCE, REFERENCE_STEPS)]
    for label, folder, steps in jobs:
        if args.only not in (None, label):
            continue
        model_file = _load(folder / "model.py", f"restricted_mlm_{label}_model")
        torch.manual_seed(0)  # the initial weights too
        model = train.train(model_file.build_model(), corpus, steps, seed=0, log_every=500)
        torch.save(model.state_dict(), folder / "model.pt")
        print(f"{label}: {steps} steps -> {folder / 'model.pt'}")


if __name__ == "__main__":
    main()
