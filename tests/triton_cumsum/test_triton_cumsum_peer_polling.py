"""The kernel peers' polling mode (scoring/kernel/peer.py SPIN_S): on the GPU path both ends of the
pipes poll before blocking. Driven here in the interpreter mode through the real boot and process,
with polling forced on: every answer still arrives whole and right, large frames included, and a
peer that goes quiet for longer than the polling window is still heard (the blocking fallback)."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from triton_cumsum_support import require_kernel_stack

require_kernel_stack()

from scoring.api import ScoringContext  # noqa: E402
from scoring.kernel import peer as peer_module  # noqa: E402
from scoring.kernel.peer import PEERS_DIR, KernelPeer  # noqa: E402

SLOW = '''
import time

def prefix_sum(x):
    time.sleep(0.3)  # longer than the polling window the test sets
    return x.clone()
'''


def _peer(folder: Path, file: str, spin) -> KernelPeer:
    ctx = ScoringContext(environment="triton_cumsum", variant="test", params={}, candidate_dir=folder,
                         deadline=time.monotonic() + 120, rng=random.Random(3))
    return KernelPeer(ctx, folder, file, "prefix_sum", "cpu", trusted=True, spin=spin)


@pytest.fixture()
def copy_folder(tmp_path):
    shutil.copy2(PEERS_DIR / "copy_solution.py", tmp_path / "copy_solution.py")
    return tmp_path


def test_the_gpu_path_polls_and_the_interpreter_path_blocks(copy_folder):
    blocking, polling = _peer(copy_folder, "copy_solution.py", None), None
    try:
        assert blocking.proc.spin_s == 0.0  # mode "cpu": nothing is timed, nothing polls
        polling = _peer(copy_folder, "copy_solution.py", True)
        assert polling.proc.spin_s == peer_module.SPIN_S > 0
    finally:
        blocking.close()
        if polling is not None:
            polling.close()


@pytest.mark.parametrize("spin", [False, True])
def test_calls_and_large_answers_arrive_whole_with_either_end_polling(copy_folder, spin):
    import torch

    peer = _peer(copy_folder, "copy_solution.py", spin)
    try:
        peer.op("cpu_slots", 300_000, timeout=30)
        for n in (1, 1000, 300_000):  # 1.2 MB answers: more than one read of the pipe
            x = torch.randint(-9, 9, (n,), dtype=torch.int32)
            answer = peer.op("cpu_call", 0, x.numpy().tobytes(), timeout=30)
            assert answer["data"] == x.numpy().tobytes() and answer["input_after"] == x.numpy().tobytes()
        for _ in range(200):
            assert peer.op("ping", timeout=30) == {"v": []}
    finally:
        peer.close()


def test_a_quiet_peer_is_still_heard_after_the_polling_window(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(peer_module, "SPIN_S", 0.02)
    (tmp_path / "slow.py").write_text(SLOW)
    peer = _peer(tmp_path, "slow.py", True)
    try:
        peer.op("cpu_slots", 16, timeout=30)
        x = torch.arange(16, dtype=torch.int32)
        started = time.perf_counter()
        answer = peer.op("cpu_call", 1, x.numpy().tobytes(), timeout=30)
        assert time.perf_counter() - started >= 0.3
        assert answer["data"] == x.numpy().tobytes()
        time.sleep(0.1)  # the boot, polling for its next request, falls back to blocking
        assert peer.op("ping", timeout=30) == {"v": []}
    finally:
        peer.close()


@pytest.mark.parametrize("args", [["--pin-runs", "1"], ["--blocks", "-2"], ["--pin-runs", "3", "--blocks", "3"]])
def test_round_trip_benchmark_refuses_a_spread_of_fewer_than_two_runs(args):
    """benchmarks/round_trip.py's --pin-runs and --blocks print a CV of medians: fewer than two, or both
    at once, is refused with a message naming them before any peer starts."""
    import subprocess
    import sys

    from triton_cumsum_support import ROOT

    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "round_trip.py"), *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "--pin-runs and --blocks take 2 or more" in done.stderr, done.stderr
    assert "fresh peers" not in done.stdout
