"""Shared by the triton_cumsum tests: the kernel stack check, paths, and running the scorer directly."""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import tempfile
import time
import tomllib
from pathlib import Path

import pytest

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
    missing = [m for m in ("torch", "triton", "numpy") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    why = f"triton_cumsum needs {', '.join(missing)}: pip install -e '.[triton]'"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (required when CI=true)", pytrace=False)
    pytest.skip(why, allow_module_level=True)


def params(variant: str = "tiny", **overrides) -> dict:
    """A variant's params, forced to the interpreter (whatever this machine has), with overrides."""
    return {**MANIFEST["variants"][variant]["params"], "device": "cpu", **overrides}


def score_directly(candidate_dir: Path, seed: int | None = 1234, timeout_s: float = 60.0, **overrides) -> dict:
    """Run the environment's score(ctx) in this process on a throw-away copy of the candidate.

    Returns {"valid", "reason", "message", "details"} like the runner's payload.
    """
    from scoring.api import Invalid, ScoringContext

    scorer = load_module(ENV_DIR / "scorer.py", "triton_cumsum_scorer_under_test")
    work = Path(tempfile.mkdtemp(prefix="triton_cumsum-"))
    try:
        shutil.copytree(candidate_dir, work / "candidate")
        ctx = ScoringContext(
            environment="triton_cumsum",
            variant="tiny",
            params=params(**overrides),
            candidate_dir=work / "candidate",
            deadline=time.monotonic() + timeout_s,
            memory_mb=MANIFEST["scoring"]["memory_mb"],
            rng=random.Random(seed) if seed is not None else random.SystemRandom(),
        )
        try:
            out = scorer.score(ctx)
            result = {"valid": True, "reason": "", "message": out["message"], "details": out["details"]}
        except Invalid as exc:
            result = {"valid": False, "reason": exc.reason, "message": exc.message, "details": exc.details}
        finally:
            for proc in ctx.processes:
                proc.kill(by_us=False)
        result["candidate_output"] = ctx.candidate_output()
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def reference_candidate(tmp: Path) -> Path:
    """The starting files with the reference solution laid over them."""
    path = tmp / "reference"
    shutil.copytree(ENV_DIR / "starting", path)
    shutil.copytree(REF_DIR, path, dirs_exist_ok=True)
    return path
