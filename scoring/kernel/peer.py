"""The scorer's side of a process that runs a prefix_sum under the kernel boot.

A peer is either the candidate (untrusted) or one of the scorer's own trusted helpers (the
copy peer that measures the harness's overhead and the copy floor through the same path).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from scoring import confine
from scoring.candidate import CandidateProcess, _candidate_env, off_limits
from scoring.errors import CandidateProtocolError
from scoring.kernel.boot import KERNEL_BOOT
from scoring.kernel.checks import check_violations

PEERS_DIR = Path(__file__).resolve().parent / "peers"
SPIN_S = 0.05  # on a GPU both ends of the pipes poll this long before blocking (benchmarks/round_trip.py)


def peer_env(folder: Path, mode: str) -> dict[str, str]:
    """The candidate's usual clean environment; Triton's interpreter on when there is no GPU."""
    env = _candidate_env(folder)
    if mode == "cpu":
        env["TRITON_INTERPRET"] = "1"
    else:
        env.pop("TRITON_INTERPRET", None)  # a GPU run must compile kernels, never interpret them
    return env


class KernelPeer:
    """A prefix_sum process speaking the kernel protocol; every answer is a dict, checked here."""

    def __init__(self, ctx, folder: Path, file: str, function: str, mode: str, *, trusted: bool = False,
                 memory_mb: int | None = None, spin: bool | None = None, cpus: frozenset[int] | None = None):
        self.label = "the scorer's copy peer" if trusted else "the candidate"
        # timed round trips (the GPU path) poll instead of sleeping in both processes; the
        # interpreter path has nothing to time and blocks
        if spin is None:
            spin = mode == "cuda"
        spin_s = SPIN_S if spin else 0.0
        self.trusted = trusted
        self.proc = CandidateProcess(
            Path(folder), file, function,
            memory_mb=memory_mb or ctx.memory_mb,
            output_cap_bytes=ctx.output_cap_bytes,
            startup_timeout_s=max(0.1, ctx.remaining()),
            # the trusted peer runs under the scorer's own python and user (root in a scoring container),
            # so the candidate (uid 1000 there) can neither read its files nor signal it
            python=sys.executable if trusted else ctx.python,
            env=peer_env(Path(folder), mode),
            boot=KERNEL_BOOT,
            boot_args=(mode, str(spin_s), *([] if trusted else off_limits())),
            # CUDA IPC with the scorer: only the confinement pieces known to let it work
            confinement=confine.GPU_PATH if mode == "cuda" else confine.CPU_PATH,
            spin_s=spin_s,
            cpus=cpus,  # scoring/kernel/cpus.py (pin_cpus): CPUs of its own, inherited by all it starts
        )
        if cpus:  # the thread here that drains its output runs with it, not on the harness's CPU
            self.proc.output.pin(cpus)
        ctx.processes.append(self.proc)

    def op(self, *args: Any, timeout: float, where: str = "") -> dict:
        answer = self.proc.call(*args, timeout=timeout)
        if not isinstance(answer, dict):
            self.proc.kill()
            raise CandidateProtocolError(f"the kernel protocol expected a dict from {self.label}, got "
                                         f"{type(answer).__name__}")
        check_violations(answer.get("v"), where or f"during {args[0]}")
        return answer

    @property
    def pid(self) -> int:
        return self.proc.proc.pid

    def close(self) -> None:
        self.proc.close()


class TrustedCopyPeer(KernelPeer):
    """The copy 'solution' (torch.empty_like(x).copy_(x)), run from a private copy of its file."""

    def __init__(self, ctx, mode: str, cpus: frozenset[int] | None = None):
        self._tmp = Path(tempfile.mkdtemp(prefix="rearena-copy-peer-"))
        shutil.copy2(PEERS_DIR / "copy_solution.py", self._tmp / "copy_solution.py")
        super().__init__(ctx, self._tmp, "copy_solution.py", "prefix_sum", mode, trusted=True, cpus=cpus)

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._tmp, ignore_errors=True)
