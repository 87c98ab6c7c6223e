"""The triton_cumsum environment and its scorer without a GPU: manifest, starting and reference
solutions in Triton's interpreter, the CLI path in CI, and the protocol's rules."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from triton_cumsum_support import (
    ENV_DIR, MANIFEST, REF_DIR, ROOT, reference_candidate, require_kernel_stack, score_directly,
)

require_kernel_stack()


def test_manifest_follows_rebench():
    assert MANIFEST["name"] == "triton_cumsum" and MANIFEST["entry_point"] == "solution.py:prefix_sum"
    assert MANIFEST["hardware"]["gpu"] is True
    assert MANIFEST["metric"]["transform"] == "ln" and MANIFEST["metric"]["direction"] == "lower"
    # measured with this scorer on an H100; RE-Bench's own 1.56 / 0.47 stay in every result's details
    assert "H100" in MANIFEST["calibration"]["hardware"]
    assert 1.4 < MANIFEST["calibration"]["start"] < 1.7 and MANIFEST["calibration"]["reference"] < 0.47
    assert MANIFEST["variants"]["main"]["params"]["n"] == 100_000_000
    assert MANIFEST["variants"]["main"]["params"]["min_reps"] >= 30
    assert MANIFEST["variants"]["tiny"]["params"]["n"] <= 100_000
    for name in ("instructions.md", "scorer.py", "SCORING.md", "starting/solution.py"):
        assert (ENV_DIR / name).is_file(), name


def test_registry_loads_the_environment():
    from environments.registry import load_registry

    registry = load_registry([ROOT / "environments"])
    assert not [p for p in registry.problems if "triton_cumsum" in str(p)]
    env = registry.get("triton_cumsum") if hasattr(registry, "get") else registry.environments["triton_cumsum"]
    assert env.calibration.start == MANIFEST["calibration"]["start"] and set(env.variants) >= {"main", "tiny"}


def test_starting_solution_is_correct_and_needs_a_gpu():
    result = score_directly(ENV_DIR / "starting")
    assert not result["valid"] and result["reason"] == "needs_gpu", result["message"]
    assert "timing needs a CUDA GPU" in result["message"] and "Triton's interpreter" in result["message"]
    details = result["details"]
    assert details["checks"] == len(details["cases"]) + 1 + 2  # correctness cases, a warm-up, 2 timed calls
    assert details["interpreter_median_ms"] > 0


def test_reference_solution_is_correct_in_the_interpreter(tmp_path):
    result = score_directly(reference_candidate(tmp_path))
    assert result["reason"] == "needs_gpu", result["message"]
    assert result["details"]["checks"] >= 16


def test_cli_scores_through_the_runner_and_says_timing_needs_a_gpu(tmp_path):
    """`rearena score triton_cumsum:tiny PATH` on this GPU-less machine: the path CI runs."""
    proc = subprocess.run(
        [sys.executable, "-m", "console", "score", "triton_cumsum:tiny", str(ENV_DIR / "starting"), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "REARENA_DATA_DIR": str(tmp_path / "data")},
    )
    if "no NVIDIA GPU" not in proc.stdout and "needs_gpu" not in proc.stdout:
        pytest.fail(f"unexpected output:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(proc.stdout)
    if result["valid"]:  # a GPU after all: a real score
        assert math.isfinite(result["raw"])
        return
    assert proc.returncode == 1
    assert result["reason"] == "needs_gpu"
    assert result["message"].startswith("correct on ") and "timing needs a CUDA GPU" in result["message"]


def test_forcing_the_gpu_without_one_is_a_clear_invalid_result():
    from scoring.kernel.protocol import find_cuda

    torch, why = find_cuda()
    if torch is not None:
        pytest.skip(f"this machine has a GPU ({why})")
    result = score_directly(ENV_DIR / "starting", device="cuda")
    assert result["reason"] == "needs_gpu" and "needs a CUDA GPU" in result["message"]


def test_gpu_modules_import_without_a_gpu_and_fail_clearly():
    from scoring.kernel import gpu, protocol

    assert callable(gpu.score_on_gpu)
    torch, why = protocol.find_cuda()
    if torch is None:
        assert why


def test_bad_params_are_reported():
    from scoring.kernel.protocol import KernelSpec

    with pytest.raises(ValueError, match="params need n"):
        KernelSpec.from_params({"size": 3}, "x")
    with pytest.raises(ValueError, match="device must be"):
        KernelSpec.from_params({"n": 3, "device": "tpu"}, "x")
    with pytest.raises(ValueError, match="max_reps >= min_reps"):
        KernelSpec.from_params({"n": 3, "min_reps": 10, "max_reps": 5}, "x")
    assert KernelSpec.from_params({"n": "7"}, "x").n == 7


def test_timing_rules():
    from scoring.kernel import stats

    assert stats.should_stop([1.0] * 29, 30, 200, 0.005, 0.0, 12) is None
    assert "standard error" in stats.should_stop([1.0] * 30, 30, 200, 0.005, 0.0, 12)
    noisy = [1.0, 2.0] * 20
    assert stats.should_stop(noisy, 30, 200, 0.005, 0.0, 12) is None
    assert "time cap" in stats.should_stop(noisy, 30, 200, 0.005, 13.0, 12)
    assert "repetitions" in stats.should_stop(noisy * 10, 30, 200, 0.005, 0.0, 12)
    assert stats.below_floor(0.2, 0.27, 0.10) and not stats.below_floor(0.25, 0.27, 0.10)
    assert stats.relative_sem([1.0]) == math.inf
    assert stats.coefficient_of_variation([1.0, 1.0]) == 0.0


def test_rebench_normalization_is_reported_beside_the_calibrated_one():
    from scoring.kernel.protocol import rebench_normalized

    assert rebench_normalized(1.56) == pytest.approx(0.0)
    assert rebench_normalized(0.47) == pytest.approx(1.0)
    assert rebench_normalized(math.log(0.3)) > 2.0


def test_reference_solution_is_not_importable_from_a_candidate_folder():
    assert not (ENV_DIR / "starting" / "reference.py").exists()
    assert REF_DIR.is_dir() and not (REF_DIR / "__init__.py").exists()


def test_manifest_variants_parse_as_kernel_specs():
    from scoring.kernel.protocol import KernelSpec

    for name, variant in MANIFEST["variants"].items():
        spec = KernelSpec.from_params(variant["params"], name)
        assert spec.min_reps >= 30 and spec.target_rel_sem <= 0.005 and spec.device == "auto"


# -- the GPU path's rules, on synthetic measurements (no GPU needed) ----------------------------


class _FakeCuda:
    @staticmethod
    def get_device_name(index):
        return "Fake GPU"

    @staticmethod
    def current_device():
        return 0


class _FakeTorch:
    cuda = _FakeCuda


def _summarize(candidate_ms=0.40, copy_ms=0.42, floor_ms=0.27, flush=(0.09, 0.09), first_read=(0.3, 0.3),
               clean_ms=None, clean_flush=0.09, clean_read=0.3):
    """_summarize on synthetic rows: the candidate's and the copy peer's calls in the loop, and the
    copy peer's calls in the clean phases (no candidate process alive), by default like the loop's."""
    from types import SimpleNamespace

    from scoring.kernel.gpu import _summarize
    from scoring.kernel.protocol import KernelSpec

    def rows(harness, flush_ms, verify_ms):
        return [{"harness_ms": harness + 0.001 * (k % 3), "reply_ms": harness, "verify_ms": verify_ms,
                 "flush_ms": flush_ms} for k in range(30)]

    samples = {"candidate": rows(candidate_ms, flush[0], first_read[0]), "copy": rows(copy_ms, flush[1], first_read[1]),
               "clean": rows(copy_ms if clean_ms is None else clean_ms, clean_flush, clean_read)[:20]}
    spec = KernelSpec.from_params({"n": 100_000_000}, "main")
    return _summarize(SimpleNamespace(), spec, _FakeTorch, samples, [floor_ms] * 20, [clean_flush] * 20, 40,
                      "standard error", 9.0)


def test_reported_time_subtracts_the_harness_overhead_measured_with_the_copy_peer():
    details = _summarize(candidate_ms=0.40, copy_ms=0.42, floor_ms=0.27)
    assert details["harness_overhead_ms"] == pytest.approx(0.42 + 0.001 - 0.27)
    assert details["median_ms"] == pytest.approx(0.40 - 0.42 + 0.27)
    assert details["ratio_to_copy_floor"] == pytest.approx(details["median_ms"] / 0.27)
    assert details["reps"] == 30 and len(details["times_ms"]) == 30


def test_the_overhead_comes_from_the_clean_phases_not_from_the_copy_calls_in_the_loop():
    """A candidate that slows the copy peer's calls in the loop (SIGSTOP, GPU work during them) gains
    nothing: the overhead is the clean phases'; and the slowdown itself is caught."""
    from scoring.errors import Invalid

    details = _summarize(candidate_ms=0.40, copy_ms=0.50, clean_ms=0.42, floor_ms=0.27)
    assert details["harness_overhead_ms"] == pytest.approx(0.42 + 0.001 - 0.27)
    assert details["copy_in_loop_harness_median_ms"] == pytest.approx(0.501)
    with pytest.raises(Invalid) as info:
        _summarize(candidate_ms=0.40, copy_ms=2.5, clean_ms=0.42, floor_ms=0.27)
    assert info.value.reason == "peer_interference" and "copy peer" in info.value.message


def test_faster_than_the_copy_floor_is_impossible():
    from scoring.errors import Invalid

    with pytest.raises(Invalid) as info:
        _summarize(candidate_ms=0.30, copy_ms=0.42, floor_ms=0.27)  # 0.15 ms < 0.9 x 0.27 ms
    assert info.value.reason == "impossible_time" and "copy" in info.value.message


@pytest.mark.parametrize("flush, reason", [((0.40, 0.09), "gpu_busy"), ((0.09, 0.40), "peer_interference"),
                                           ((0.40, 0.40), "peer_interference"), ((0.90, 0.40), "gpu_busy")])
def test_a_gpu_kept_busy_between_calls_is_rejected(flush, reason):
    """Around the candidate's calls against the copy peer's in the loop; around the copy peer's in the
    loop against the clean phases' (busy around both: the copy peer's calls were interfered with)."""
    from scoring.errors import Invalid

    with pytest.raises(Invalid) as info:
        _summarize(flush=flush)
    assert info.value.reason == reason, info.value.message


def test_slow_first_reads_mean_deferred_work():
    from scoring.errors import Invalid

    with pytest.raises(Invalid) as info:
        _summarize(first_read=(2.0, 0.3))
    assert info.value.reason == "deferred_work"
    with pytest.raises(Invalid) as info:  # slow first reads of the copy peer's outputs too: interference
        _summarize(first_read=(2.0, 2.0))
    assert info.value.reason == "peer_interference" and "first read" in info.value.message


def test_slots_have_allocator_segments_of_their_own():
    from scoring.kernel.gpu import SLOT_ALIGN_BYTES, SLOT_MIN_BYTES, slot_elements

    for n in (1, 100_000, 2_621_440, 3_000_001, 100_000_000):
        size = 4 * slot_elements(n)
        assert size >= 4 * n and size >= SLOT_MIN_BYTES and size % SLOT_ALIGN_BYTES == 0


def test_malformed_ipc_descriptors_are_protocol_errors():
    import torch

    from scoring.errors import CandidateProtocolError
    from scoring.kernel.gpu import Harness

    harness = object.__new__(Harness)
    harness.torch, harness.device = torch, torch.device("cuda", 0)
    harness.own_ref_handles = {b"/torch_9_9_9"}
    good = {"device": 0, "handle": b"h" * 64, "storage_bytes": 400, "storage_offset_bytes": 0, "tensor_offset": 0,
            "ref_counter_handle": b"/torch_1_2_3", "ref_counter_offset": 0, "event_handle": None,
            "event_sync_required": False}
    bad = [None, [], {**good, "handle": "text"}, {**good, "device": 1}, {**good, "storage_bytes": 396},
           {**good, "tensor_offset": -1}, {**good, "ref_counter_handle": b"a\0b"}, {**good, "device": True},
           {**good, "ref_counter_offset": 10000}, {**good, "ref_counter_offset": -1},
           {**good, "ref_counter_handle": b"/torch_9_9_9"}]
    for descriptor in bad:
        with pytest.raises(CandidateProtocolError):
            harness.open_output(descriptor, 100, "call 1")


def test_the_candidates_ipc_event_is_never_waited_on(monkeypatch):
    """Opening an output never makes the scorer's stream wait on an event of the candidate's (which
    would let its first read wait for work the candidate left running after it answered)."""
    import torch
    import torch.multiprocessing.reductions as reductions

    from scoring.kernel.gpu import Harness

    seen = []
    monkeypatch.setattr(reductions, "rebuild_cuda_tensor", lambda *args: seen.append(args) or "opened")
    harness = object.__new__(Harness)
    harness.torch, harness.device, harness.own_ref_handles = torch, torch.device("cuda", 0), set()
    descriptor = {"device": 0, "handle": b"h" * 64, "storage_bytes": 400, "storage_offset_bytes": 0,
                  "tensor_offset": 0, "ref_counter_handle": b"/torch_1_2_3", "ref_counter_offset": 3,
                  "event_handle": b"e" * 64, "event_sync_required": True}
    assert harness.open_output(descriptor, 100, "call 1") == "opened"
    *_, ref_handle, ref_offset, event_handle, sync = seen[0]
    assert (ref_handle, ref_offset) == (b"/torch_1_2_3", 3)
    assert event_handle == bytes(64) and sync is False


def test_a_call_too_short_for_the_round_trip_says_so_and_its_result_still_travels():
    """Seen on an H100 with the tiny variant: a 0.03 ms kernel under a 0.8 ms round trip that varies
    by 0.1 ms came out below zero; the result must name the cause, and its figures (a relative
    standard error of inf) must still cross the result channel."""
    from types import SimpleNamespace

    from scoring.channel import sign, verify
    from scoring.errors import Invalid
    from scoring.kernel.gpu import _summarize
    from scoring.kernel.protocol import KernelSpec

    def rows(harness):
        return [{"harness_ms": harness + 0.1 * ((k % 5) - 2), "reply_ms": harness, "verify_ms": 0.01,
                 "flush_ms": 0.09} for k in range(30)]

    samples = {"candidate": rows(0.78), "copy": rows(0.80), "clean": rows(0.80)[:20]}
    spec = KernelSpec.from_params({"n": 100_000}, "tiny")
    with pytest.raises(Invalid) as info:
        _summarize(SimpleNamespace(), spec, _FakeTorch, samples, [0.005] * 20, [0.09] * 20, 40, "cap", 5.0)
    assert info.value.reason == "impossible_time" and "too short to time through the round trip" in info.value.message
    details = info.value.details
    assert details["median_ms"] < 0
    sent = verify(b"k" * 32, "n", sign(b"k" * 32, "n", {"details": details}))
    assert sent["details"]["median_ms"] == pytest.approx(details["median_ms"])
