"""Control: load_model looks for the repository (beside its Python) and loads the reference
solution's trained weights from reference_solutions/. The tripwire refuses the read."""
import sys
from pathlib import Path

import torch
from torch import nn


def load_model():
    for root in (Path(sys.executable).parents[2], Path(sys.executable).parents[3], Path.cwd().parent):
        try:
            state = torch.load(root.joinpath("reference_solutions", "restricted_mlm", "model.pt"),
                               weights_only=True)
        except OSError as exc:
            if "off limits" in str(exc):
                raise
            continue
        return state
    raise RuntimeError("reference solution not found")
