"""The negative-control suite in Triton's interpreter: every broken or cheating candidate that can be
caught without a GPU is rejected with its own reason (controls/controls.toml lists them all; the
GPU-only ones run in benchmarks/triton_cumsum.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from scoring import confine

from triton_cumsum_support import CONTROLS, EXPECTED, require_kernel_stack, score_directly

require_kernel_stack()

CPU_CONTROLS = sorted(name for name, spec in EXPECTED.items() if spec["cpu"] != "gpu-only")
GPU_ONLY = sorted(name for name, spec in EXPECTED.items() if spec["cpu"] == "gpu-only")
OVERRIDES = {"hang": {"call_timeout_s": 1.5}}


@pytest.fixture(scope="module")
def verdicts() -> dict:
    """Score every CPU control once, three at a time (each starts a process that imports torch)."""
    def run(name: str):
        return name, score_directly(CONTROLS / name, seed=None, **OVERRIDES.get(name, {}))

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(run, CPU_CONTROLS))


def test_every_control_folder_is_listed_and_the_suite_is_large_enough():
    folders = sorted(p.name for p in CONTROLS.iterdir() if p.is_dir())
    assert folders == sorted(EXPECTED), "controls/ and controls.toml disagree"
    assert len(EXPECTED) >= 12 and len(CPU_CONTROLS) >= 12
    for name, spec in EXPECTED.items():
        assert spec["item"] and spec["gpu"], name
        assert (CONTROLS / name / "solution.py").is_file()
    assert set(GPU_ONLY) >= {"gpu_side_stream", "gpu_uninitialized", "gpu_wrong_device", "gpu_background_work"}
    for name, spec in EXPECTED.items():  # a confined verdict names the piece it needs, and only then
        assert ("gpu_confined" in spec) == ("confined_by" in spec), name
        assert spec.get("confined_by", "pid") in confine.CPU_PATH, name


def test_rejection_reasons_are_distinct_across_the_issue_items():
    """One reason per kind of exploit: the reasons alone tell what a candidate did."""
    reasons = {spec["cpu"] for spec in EXPECTED.values() if spec["cpu"] not in ("gpu-only", "needs_gpu")}
    assert len(reasons) >= 14, sorted(reasons)


@pytest.mark.parametrize("name", CPU_CONTROLS)
def test_control_gets_its_verdict(name, verdicts):
    spec, result = EXPECTED[name], verdicts[name]
    assert not result["valid"], f"{name} was scored as valid: {result['message']}"
    if "cpu_confined" in spec and confine.available():  # the cheat finds nothing to cheat with
        assert result["reason"] == spec["cpu_confined"], f"{name}: {result['reason']}: {result['message']}"
        return
    assert result["reason"] == spec["cpu"], f"{name}: {result['reason']}: {result['message']}"
    if "hint" in spec:
        assert spec["hint"] in result["message"], f"{name}: {result['message']}"
    if "min_ms" in spec:  # the cheat had no effect: the scorer's clock saw the real time
        assert result["details"]["interpreter_median_ms"] >= spec["min_ms"], result["details"]
