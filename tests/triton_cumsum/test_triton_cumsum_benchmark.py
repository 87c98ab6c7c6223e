"""The GPU benchmark's reporting (benchmarks/triton_cumsum.py) on the CPU, so that a GPU session is not
spent on a bug in it: section 3 reads the details of real scorings (the GPU protocol driven with a fake
torch.cuda, as in test_triton_cumsum_gpu_flow.py), and the sweep names its fastest configuration."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import statistics
import types

import pytest

from triton_cumsum_support import ROOT, require_kernel_stack

require_kernel_stack()

import test_triton_cumsum_gpu_flow as flow  # noqa: E402

from scoring.kernel.protocol import rebench_normalized  # noqa: E402


def _benchmark():
    """benchmarks/triton_cumsum.py as a module; it drops TRITON_INTERPRET (it runs kernels for real),
    which the other tests here need: put it back."""
    saved = os.environ.get("TRITON_INTERPRET")
    try:
        spec = importlib.util.spec_from_file_location("triton_cumsum_benchmark", ROOT / "benchmarks" / "triton_cumsum.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        if saved is not None:
            os.environ["TRITON_INTERPRET"] = saved


bench = _benchmark()


def test_the_sweep_names_its_fastest_reference_configuration_and_the_settings_that_run_it():
    solutions = {"starting solution (torch)": 4.5, "plain three-phase Triton scan, BLOCK 4096, 8 warps": 0.3,
                 "reference: single pass, decoupled look-back, BLOCK 4096, 4 warps": 0.62,
                 "   the same, tiles numbered by a global counter (ordered=True), BLOCK 4096, 4 warps": 0.58,
                 "reference, persistent (next tile prefetched), BLOCK 2048, 8 warps": 0.41,
                 "reference, persistent (next tile prefetched), BLOCK 1024, 4 warps": "wrong"}
    configs = {label: {"BLOCK_CUDA": 4096, "WARPS_CUDA": 4, "CUDA_OPTIONS": {}} for label in solutions
               if "reference" in label or "the same" in label}
    configs["reference, persistent (next tile prefetched), BLOCK 2048, 8 warps"] = {
        "BLOCK_CUDA": 2048, "WARPS_CUDA": 8, "CUDA_OPTIONS": {"persistent": True}}
    line = bench.fastest_reference(solutions, floor=0.28, configs=configs)
    assert "persistent (next tile prefetched), BLOCK 2048, 8 warps" in line and "0.4100 ms, 1.46x floor" in line
    assert "BLOCK_CUDA = 2048, WARPS_CUDA = 8, CUDA_OPTIONS = {'persistent': True}" in line, line
    assert bench.fastest_reference({"starting solution (torch)": 4.5}, floor=0.28, configs={}) is None


def test_every_swept_configuration_is_what_the_solution_runs_with_those_settings():
    """Each reference row of the sweep is timed through reference.configured_prefix_sum with its
    settings, the same function prefix_sum calls with BLOCK_CUDA, WARPS_CUDA and CUDA_OPTIONS: so the
    fastest row's settings, copied into the solution, give the kernel that was timed. Checked here
    on small inputs in the interpreter, for one row of each kind."""
    import numpy as np
    import torch

    from scoring.api import load_module
    from scoring.kernel.reference import masked_prefix_sum_torch

    from benchmarks import triton_cumsum_sweep as sweep

    reference = load_module(ROOT / "reference_solutions" / "triton_cumsum" / "solution.py", "sweep_reference")
    three = load_module(ROOT / "scoring" / "kernel" / "three_phase.py", "sweep_three_phase")
    x = torch.from_numpy(np.random.default_rng(3).integers(-10, 10, 300, dtype=np.int32))
    for options in ({}, {"ordered": True}, {"persistent": True, "window": 32}, {"streaming": True}, {"chunk": 3}):
        assert torch.equal(reference.configured_prefix_sum(x, 16, 4, options), masked_prefix_sum_torch(x)), options
    assert {"ordered", "persistent", "window", "scan_early", "streaming"} >= {
        key for _, _, options in sweep.OPTION_SWEEP for key in options}
    # the rows the sweep and the smoke check run (sweep.scan), one of each kind of options, small tiles here
    kinds = {(row.kind, tuple(sorted(row.options))): row for row in sweep.smoke_rows()}
    for row in kinds.values():
        options = {**row.options, "chunk": 3} if "chunk" in row.options else row.options
        small = dataclasses.replace(row, block=16, warps=4, options=options)
        assert torch.equal(sweep.scan(small, reference, three)(x[:90]), masked_prefix_sum_torch(x[:90])), row.label


def test_section_3_reports_both_estimates_and_their_spread_from_real_details(monkeypatch, tmp_path):
    runs = []
    for _ in range(3):
        details = flow._run(flow._starting, monkeypatch, copy_cls=flow._PhasedCopyPeer)
        details.pop("_copy_peer")
        details.pop("_candidate_peer", None)
        details.setdefault("rebench_normalized", rebench_normalized(0.0))
        runs.append(types.SimpleNamespace(valid=True, details=details, duration_s=1.5,
                                          as_dict=lambda d=details: {"valid": True, "details": d}))
    queue = list(runs)
    monkeypatch.setattr("scoring.runner.score_candidate", lambda env, variant, folder: queue.pop(0))
    out, results = bench.Tee(tmp_path / "out.txt"), {}
    cv = bench.reference_scorings(out, env=None, ref_dir=tmp_path, scorings=3, results=results, primary=True)
    medians = [r.details["median_ms"] for r in runs]
    in_loop = [r.details["harness_median_ms"] - r.details["copy_in_loop_harness_median_ms"] + r.details["copy_floor_ms"]
               for r in runs]
    assert cv == pytest.approx(statistics.stdev(medians) / statistics.mean(medians))
    assert results["scorer_cv"] == cv and results["reference_scorings_ms"] == medians
    assert results["in_loop_baseline_cv"] == [pytest.approx(statistics.stdev(in_loop) / statistics.mean(in_loop))]
    assert [r.details["in_loop_estimate_ms"] for r in runs] == pytest.approx(in_loop)  # the scorer's own figure
    text = (tmp_path / "out.txt").read_text()
    assert text.count("reference scoring ") == 3 and "a diagnostic, not the score" in text
    # every scoring's figures are kept for a later re-reading, and the copy peer's phases inside its
    # process are printed for the clean phases and the loop side by side
    assert [r["details"]["median_ms"] for r in results["reference_scorings"]] == medians
    assert "sync 0.3000 / 0.4000" in text and "export 0.0500 / 0.0700" in text, text
    # the ping diagnostic: each scoring's two levels printed, and the CV of the time less their difference
    corrected = [r.details["median_ms"] - (r.details["ping_median_ms"]["candidate"]
                                           - r.details["ping_median_ms"]["copy_peer"]) for r in runs]
    assert results["ping_corrected_cv"] == [pytest.approx(statistics.stdev(corrected) / statistics.mean(corrected))]
    assert text.count("empty round trip (ping) ms") == 3


def test_section_3_with_pin_scores_the_reference_alternately_pinned_and_not(monkeypatch, tmp_path):
    seen = []

    def score(env, variant, folder):
        seen.append(env.variants["main"].params.get("pin_cpus", False))
        details = flow._run(flow._starting, monkeypatch)
        details.pop("_copy_peer")
        details.pop("_candidate_peer", None)
        details.setdefault("rebench_normalized", rebench_normalized(0.0))
        return types.SimpleNamespace(valid=True, details=details, duration_s=1.0, raw=0.0,
                                     as_dict=lambda d=details: {"valid": True, "details": d})

    from environments.registry import load_registry

    env, _ = load_registry().resolve("triton_cumsum")
    monkeypatch.setattr("scoring.runner.score_candidate", score)
    monkeypatch.setattr(bench, "materialize", lambda env, tmp, with_reference: tmp)
    results = {}
    bench.scorer_section(bench.Tee(tmp_path / "out.txt"), env, scorings=2, start_scorings=1, results=results,
                         batches=[None], pin=True)
    # the reference twice, then alternately not pinned / pinned twice each, then the starting solution
    assert seen == [False, False, False, True, False, True, False]
    assert results["scorer_cv_pinned"] is not None and results["scorer_cv_not_pinned_alternating"] is not None
    text = (tmp_path / "out.txt").read_text()
    assert text.count("pinned     1:") == 1 and text.count("not pinned 2:") == 1, text
    assert "pinned: CV" in text and "not pinned: CV" in text
