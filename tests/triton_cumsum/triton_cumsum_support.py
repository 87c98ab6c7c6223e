"""Shared by the triton_cumsum tests: the kernel stack check, paths, and running the scorer directly."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import envsupport
from envsupport import load_module  # noqa: F401  (re-exported for the tests)

# Kernels run on CPU tensors through Triton's interpreter. Triton reads this when a kernel is
# decorated, so it must be set before any solution module is imported (the scorer sets it for the
# candidate's process by itself).
os.environ["TRITON_INTERPRET"] = "1"

ROOT = Path(__file__).resolve().parents[2]
ENV_DIR = ROOT / "environments" / "triton_cumsum"
REF_DIR = ROOT / "reference_solutions" / "triton_cumsum"
CONTROLS = Path(__file__).resolve().parent / "controls"
MANIFEST = tomllib.loads((ENV_DIR / "environment.toml").read_text())
EXPECTED = tomllib.loads((CONTROLS / "controls.toml").read_text())


def require_kernel_stack() -> None:
    """Skip (or, under CI=true, fail) when torch, triton or numpy is missing."""
    envsupport.require_modules("torch", "triton", "numpy")


def score_directly(candidate_dir: Path, seed: int | None = 1234, timeout_s: float = 60.0, **overrides) -> dict:
    """Run the environment's score(ctx) in this process on a throw-away copy of the candidate, on the
    tiny variant forced to the interpreter (envsupport.score_directly).

    Returns {"valid", "reason", "message", "details", ...} like the runner's payload.
    """
    return envsupport.score_directly("triton_cumsum", candidate_dir, "tiny", seed, timeout_s,
                                     **{"device": "cpu", **overrides})


def reference_candidate(tmp: Path) -> Path:
    """The starting files with the reference solution laid over them."""
    return envsupport.reference_candidate("triton_cumsum", tmp)
