"""CPUs of their own for the GPU path's timed processes (variant parameter `pin_cpus`, off by default).

Every timed call's interval holds two pipe hand-offs between processes that poll (scoring/kernel/
peer.py): the harness, the candidate's process and the trusted copy peer. Left to the scheduler,
where each lands can change from scoring to scoring (beside a busy hyperthread sibling, on a CPU
another process also wants), one suspected source of the scorer's run-to-run spread on the H100
(benchmarks/RESULTS.md). With a plan, the harness's thread and the copy peer each get a physical
core of their own: the harness's thread one CPU of it (its hyperthread siblings are given to no
one), the copy peer the whole core (its CUDA driver's threads beside its polling one); the
candidate's process, with all it starts, gets the other cores. Not measured on a GPU yet:
benchmarks/triton_cumsum.py --pin compares the spread with and without.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MIN_CANDIDATE_CPUS = 2
SYS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class CpuPlan:
    harness: frozenset[int]
    copy_peer: frozenset[int]
    candidate: frozenset[int]
    idle: frozenset[int]  # the hyperthread siblings of the harness's CPU

    def as_detail(self) -> dict:
        return {"harness": sorted(self.harness), "copy_peer": sorted(self.copy_peer),
                "candidate": sorted(self.candidate), "idle_siblings": sorted(self.idle)}


def parse_list(text: str) -> set[int]:
    """A kernel CPU list ("0-3,8,10-11") as a set."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if part:
            low, _, high = part.partition("-")
            cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def cores(available: frozenset[int]) -> list[frozenset[int]]:
    """Every CPU with its hyperthread siblings (from sysfs; a CPU whose topology cannot be read is a
    core of its own), one entry per physical core that has an available CPU; sets that overlap (a
    topology read for some CPUs and not others) are merged, so that no CPU is in two cores."""
    found: list[set[int]] = []
    for cpu in sorted(available):
        try:
            siblings = parse_list((SYS_CPU / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text())
        except (OSError, ValueError):
            siblings = set()
        group = siblings | {cpu}
        for other in [other for other in found if other & group]:
            group |= other
            found.remove(other)
        found.append(group)
    return sorted((frozenset(group) for group in found), key=max)


def plan(available: frozenset[int], core_list: list[frozenset[int]] | None = None) -> CpuPlan | None:
    """The two highest whole cores (every sibling available): one CPU of the first for the harness,
    all of the second for the copy peer; every CPU of the other cores for the candidate. None when
    that leaves the candidate fewer than MIN_CANDIDATE_CPUS (then nothing is pinned)."""
    available = frozenset(available)
    core_list = cores(available) if core_list is None else core_list
    whole = [core for core in core_list if core <= available]
    if len(whole) < 2:
        return None
    harness_core, copy_core = whole[-1], whole[-2]
    candidate = available - harness_core - copy_core
    if len(candidate) < MIN_CANDIDATE_CPUS:
        return None
    harness = frozenset({min(harness_core)})
    return CpuPlan(harness=harness, copy_peer=copy_core, candidate=candidate, idle=harness_core - harness)


def available() -> frozenset[int]:
    return frozenset(os.sched_getaffinity(0))


class Pinned:
    """The calling thread on `cpus` for the duration of a with-block, then back on the CPUs it had
    (None: left as it is). Threads started inside inherit `cpus` and keep them."""

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
