"""CPUs of their own for the GPU path's timed processes (variant parameter `pin_cpus`, off by default).

Every timed call's interval holds two pipe hand-offs between processes that poll (scoring/kernel/
peer.py): the harness, the candidate's process and the trusted copy peer. Left to the scheduler,
where each lands can change from scoring to scoring (a hyperthread sibling of a busy one, a CPU
that another process also wants), one suspected source of the scorer's run-to-run spread on the
H100 (benchmarks/RESULTS.md). With a plan, the harness's thread and the copy peer each get one CPU
of their own and the candidate's process (and all it starts) the others. Not measured on a GPU
yet: benchmarks/triton_cumsum.py --pin compares the spread with and without.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MIN_CPUS = 4  # one for the harness, one for the copy peer, at least two for the candidate


@dataclass(frozen=True)
class CpuPlan:
    harness: frozenset[int]
    copy_peer: frozenset[int]
    candidate: frozenset[int]


def plan(available: set[int] | frozenset[int]) -> CpuPlan | None:
    """The two highest CPUs for the harness and the copy peer, the rest for the candidate; None
    when there are fewer than MIN_CPUS (then nothing is pinned)."""
    cpus = sorted(available)
    if len(cpus) < MIN_CPUS:
        return None
    return CpuPlan(harness=frozenset({cpus[-1]}), copy_peer=frozenset({cpus[-2]}), candidate=frozenset(cpus[:-2]))


def available() -> frozenset[int]:
    return frozenset(os.sched_getaffinity(0))


class Pinned:
    """The calling thread on `cpus` for the duration of a with-block (None: left as it is)."""

    def __init__(self, cpus: frozenset[int] | None):
        self.cpus = cpus
        self.before: set[int] | None = None

    def __enter__(self) -> "Pinned":
        if self.cpus:
            self.before = os.sched_getaffinity(0)
            os.sched_setaffinity(0, self.cpus)
        return self

    def __exit__(self, *exc) -> None:
        if self.before is not None:
            os.sched_setaffinity(0, self.before)
