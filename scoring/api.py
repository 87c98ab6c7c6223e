"""What an environment's scorer sees: `score(ctx)` gets a ScoringContext and returns a dict.

A native scorer is a file `scorer.py` with::

    def score(ctx: ScoringContext) -> dict:
        with ctx.candidate("solution.py", "rolling_median") as cand:
            answer, seconds = cand.timed_call(values, window, timeout=ctx.remaining())
        if answer != expected:
            raise WrongAnswer("wrong answer: ...")
        return {"raw": math.log(seconds), "message": "...", "details": {...}}

It runs in the scorer's process, which the candidate cannot reach; the candidate runs
in a child process with limits. Raising `Invalid` (or any subclass) makes the result
invalid with that reason; candidate failures raise the CandidateError subclasses.
"""

from __future__ import annotations

import ast
import random
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from scoring.candidate import CandidateProcess
from scoring.errors import (  # noqa: F401  (re-exported for scorers)
    CandidateCrashed,
    CandidateError,
    CandidateMissingEntry,
    CandidateOutOfMemory,
    CandidateOutputFlood,
    CandidateRaised,
    CandidateTimeout,
    Invalid,
    WrongAnswer,
)
from scoring.off_limits import off_limits


@dataclass
class ScoringContext:
    """Everything a scorer needs: variant parameters, the candidate's folder, limits and a secret RNG."""

    environment: str
    variant: str
    params: dict[str, Any]
    candidate_dir: Path
    deadline: float  # time.monotonic() value by which the scorer must be done
    memory_mb: int = 2048
    output_cap_bytes: int = 10 * 1024 * 1024
    intermediate: bool = True
    python: str = sys.executable
    # the python of the scorer's helpers that run untrusted input as a candidate is run (restricted_mlm's graph
    # runner): in a scoring container a uid of their own (scoring/docker_runner.py), else the candidate's
    helper_python: str | None = None
    rng: random.Random = field(default_factory=random.SystemRandom)
    processes: list[CandidateProcess] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    reaper: bool = False  # True in scoring.host's process: kill_strays may kill its stray children
    # the CPUs the candidate's processes run on (scoring.cpu_share: the manifest's hardware.cpus of them); None:
    # any of this process's
    cpus: frozenset[int] | None = None

    def remaining(self) -> float:
        """Seconds left before the scoring deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def log(self, line: str) -> None:
        """Add a line to the scorer's log, kept in the result's details."""
        self.log_lines.append(str(line))

    def kill_strays(self, keep: Iterable[int] = ()) -> int:
        """Kill what candidates left running below the scorer's process (not `keep`); how many.

        Only in the scorer's process that scoring.host started (a child subreaper, which escaped
        grandchildren are re-parented to); elsewhere (a scorer called directly, in tests) nothing.
        """
        if not self.reaper:
            return 0
        from scoring.host import reap_strays

        return reap_strays(keep=keep)

    def pause_strays(self, keep: Iterable[int] = ()) -> tuple[list[int], bool]:
        """Stop every process below the scorer's but `keep` (the scorer's own peers) while the scorer
        measures alone: (the stopped, whether all of them are). Only in scoring.host's process, like
        kill_strays; elsewhere nothing is stopped."""
        if not self.reaper:
            return [], True
        from scoring.host import pause_strays

        return pause_strays(keep=keep)

    def resume_strays(self, pids: Iterable[int]) -> None:
        """Continue the processes pause_strays stopped."""
        if pids:
            from scoring.host import resume_strays

            resume_strays(pids)

    @contextmanager
    def candidate(self, file: str, function: str, memory_mb: int | None = None,
                  tripwire: bool = False) -> Iterator[CandidateProcess]:
        """Start the candidate's `file:function` in its own limited process; stop it on exit.

        The process is always confined where scoring/confine.py can (the off-limits folders covered, no
        capabilities, its own PID and network namespaces, a read-only file system but for its folder,
        uid 65534 owning that folder, a private /dev). `tripwire` adds the audit hook in its Python:
        its reads of the scorer's files, the reference solutions, the scorer's process and rearena's data
        folder then make the result invalid ("forbidden_access") instead of merely failing.
        """
        proc = CandidateProcess(
            self.candidate_dir,
            file,
            function,
            memory_mb=memory_mb or self.memory_mb,
            output_cap_bytes=self.output_cap_bytes,
            startup_timeout_s=max(0.1, self.remaining()),
            python=self.python,
            boot_args=tuple(off_limits()) if tripwire else (),
            cpus=self.cpus,
        )
        self.processes.append(proc)
        try:
            yield proc
        finally:
            proc.close()

    def candidate_seconds(self) -> float:
        """Total time spent inside the candidate's calls, measured by the scorer."""
        return sum(p.call_seconds for p in self.processes)

    def candidate_output(self) -> str:
        """What the candidate's processes printed (capped, head and tail kept)."""
        return "\n".join(p.output.text() for p in self.processes if p.output.total)


_PARSE_LOCK = threading.Lock()


def parse_python(source: str, filename: str = "<unknown>") -> ast.Module:
    """ast.parse, one thread at a time: CPython 3.11's parser can fail with "AST constructor
    recursion depth mismatch" when two threads parse at once (scorers called in threads, in tests)."""
    with _PARSE_LOCK:
        return ast.parse(source, filename=filename)


def load_module(path: Path, name: str):
    """Import a file by path (a helper beside a scorer, or an environment's pristine starting code)
    without writing __pycache__ into the environment's folder (the integrity hash covers it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module
