"""Shared by the tests of single environments: run an environment's scorer directly on a candidate.

`score_directly` loads `environments/<name>/scorer.py` in this process and runs its score(ctx) on
a throw-away copy of the candidate, as the runner's scorer process would (the candidate still runs
in its own limited process). It returns {"valid", "reason", "message", "details",
"candidate_output"}, like the runner's payload.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import pytest

from scoring.api import load_module  # noqa: F401  (re-exported for the tests)
from testpaths import REPO

ENVIRONMENTS = REPO / "environments"
REFERENCES = REPO / "reference_solutions"


def require_modules(*names: str) -> None:
    """Skip (or, under CI=true, fail) when a module an environment needs is missing."""
    missing = [m for m in names if importlib.util.find_spec(m) is None]
    if not missing:
        return
    why = f"needs {', '.join(missing)}: pip install -e '.[triton]'"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (required when CI=true)", pytrace=False)
    pytest.skip(why, allow_module_level=True)


def manifest(name: str) -> dict:
    return tomllib.loads((ENVIRONMENTS / name / "environment.toml").read_text())


def starting_candidate(name: str, tmp: Path) -> Path:
    """A copy of the environment's starting files."""
    path = tmp / f"{name}-starting"
    shutil.copytree(ENVIRONMENTS / name / "starting", path)
    return path


def reference_candidate(name: str, tmp: Path) -> Path:
    """The starting files with the reference solution laid over them."""
    path = tmp / f"{name}-reference"
    shutil.copytree(ENVIRONMENTS / name / "starting", path)
    shutil.copytree(REFERENCES / name, path, dirs_exist_ok=True)
    return path


def control_candidate(name: str, control_dir: Path, tmp: Path) -> Path:
    """The starting files with a negative control's files laid over them."""
    path = tmp / f"{name}-{control_dir.name}"
    shutil.copytree(ENVIRONMENTS / name / "starting", path)
    shutil.copytree(control_dir, path, dirs_exist_ok=True)
    return path


def score_directly(name: str, candidate_dir: Path, variant: str = "tiny", seed: int | None = 1234,
                   timeout_s: float | None = None, **overrides) -> dict:
    """Run environments/<name>/scorer.py's score(ctx) on a private copy of candidate_dir."""
    from scoring.api import Invalid, ScoringContext

    spec = manifest(name)
    var = spec["variants"][variant]
    scorer = load_module(ENVIRONMENTS / name / spec["scoring"].get("scorer", "scorer.py"), f"{name}_scorer_under_test")
    work = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    try:
        shutil.copytree(candidate_dir, work / "candidate")
        ctx = ScoringContext(
            environment=name,
            variant=variant,
            params={**var.get("params", {}), **overrides},
            candidate_dir=work / "candidate",
            deadline=time.monotonic() + (timeout_s or var.get("timeout_s") or spec["scoring"]["timeout_s"]),
            memory_mb=spec["scoring"].get("memory_mb", 2048),
            rng=random.Random(seed) if seed is not None else random.SystemRandom(),
        )
        try:
            out = scorer.score(ctx)
            result = {"valid": True, "reason": "", "raw": out["raw"], "message": out["message"],
                      "details": out.get("details", {})}
        except Invalid as exc:
            result = {"valid": False, "reason": exc.reason, "raw": None, "message": exc.message,
                      "details": exc.details}
        finally:
            for proc in ctx.processes:
                proc.kill(by_us=False)
        result["candidate_output"] = ctx.candidate_output()
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def normalized(name: str, raw: float, variant: str = "tiny") -> float:
    """raw mapped by the variant's calibration in the manifest (start -> 0, reference -> 1)."""
    spec = manifest(name)
    cal = {**spec["calibration"], **spec["variants"][variant].get("calibration", {})}
    return (raw - cal["start"]) / (cal["reference"] - cal["start"])


def check_verdict(name: str, result: dict, reason: str, hint: str) -> None:
    """A negative control's verdict: invalid, with the expected reason and a message saying what it did."""
    assert not result["valid"], f"{name} was scored as valid: {result['message']}"
    assert result["reason"] == reason, f"{name}: {result['reason']}: {result['message']}"
    assert hint in result["message"], f"{name}: {result['message']}"


def check_control_folders(controls: Path, expected: dict) -> None:
    """Every folder in controls/ is listed in controls.toml and the other way round."""
    folders = sorted(p.name for p in controls.iterdir() if p.is_dir())
    assert folders == sorted(expected), "controls/ and controls.toml disagree"


def score_with_cli(name: str, candidate: Path, tmp: Path, variant: str = "tiny", timeout_s: float = 180) -> dict:
    """`rearena score NAME:VARIANT PATH --json` in a subprocess (the real runner, scorer and candidate
    processes), with its own data folder and no trial or extra environment roots; its JSON verdict."""
    import json
    import subprocess

    rearena = Path(sys.executable).with_name("rearena")
    command = [str(rearena)] if rearena.exists() else [sys.executable, "-m", "console"]
    env = {k: v for k, v in os.environ.items() if k not in ("REARENA_ENVIRONMENTS", "REARENA_TRIAL")}
    env["REARENA_DATA_DIR"] = str(tmp / "data")
    proc = subprocess.run([*command, "score", f"{name}:{variant}", str(candidate), "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)
