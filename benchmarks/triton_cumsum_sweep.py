"""The scan configurations benchmarks/triton_cumsum.py times, and the watchdog that checks them first.

One list (`rows()`) for both: the sweep (section 2) times each row, and the smoke check
(benchmarks/triton_cumsum_smoke.py, section 0) runs each first, at every size and kind of data the
scorer draws, in a child process watched row by row (`run_smoke`): a row that never finishes (a
look-back with no forward progress between tiles) is killed after `row_limit_s` and the child
started again from the next row, so one hang costs that limit, not the GPU call. The sweep then
times only the rows the smoke check found right.
"""

from __future__ import annotations

import faulthandler
import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

REFERENCE_SWEEP = [(2048, 2), (2048, 4), (4096, 4), (4096, 8), (8192, 8), (8192, 16), (16384, 16)]
THREE_PHASE_SWEEP = [(4096, 8), (8192, 8)]
PERSISTENT_SWEEP = [(1024, 4), (2048, 4), (2048, 8), (4096, 4), (4096, 8)]
# (BLOCK, warps, options) beyond those: a look-back window of one warp's width (no barrier between
# warps in the look-back loop, more steps back), the tile's scans before the look-back, and both;
# and the persistent launch with the narrow window
OPTION_SWEEP = [(block, warps, options) for block, warps in [(2048, 4), (2048, 8), (4096, 4), (4096, 8)]
                for options in ({"window": 32}, {"scan_early": True}, {"window": 32, "scan_early": True})]
OPTION_SWEEP += [(block, warps, {"persistent": True, "window": 32}) for block, warps in [(1024, 4), (2048, 8)]]
# cache hints for the data touched once (input evicted first, output streamed), on the default
# launch and the persistent one
OPTION_SWEEP += [(block, warps, {"streaming": True}) for block, warps in [(2048, 4), (4096, 4), (4096, 8)]]
OPTION_SWEEP += [(block, warps, {"persistent": True, "streaming": True}) for block, warps in [(1024, 4), (2048, 4)]]
# (BLOCK, warps, CHUNK): the chunked scan (reference.chunked_prefix_sum): one look-back per chunk of
# CHUNK tiles, the input read a second time from the L2
CHUNKED_SWEEP = [(1024, 4, 4), (1024, 4, 8), (2048, 4, 2), (2048, 4, 4), (2048, 8, 4), (4096, 4, 2), (4096, 8, 2)]

DEFAULT_LABEL = "reference solution's prefix_sum (its BLOCK_CUDA, WARPS_CUDA, CUDA_OPTIONS)"


@dataclass(frozen=True)
class Row:
    """One configuration: the three-phase scan's (kind "three_phase") or the reference's, run through
    reference.configured_prefix_sum(x, block, warps, options) as the solution runs its settings."""

    label: str
    kind: str
    block: int
    warps: int
    options: dict = field(default_factory=dict, hash=False)


def rows() -> list[Row]:
    """Every configuration the sweep times, in its order."""
    out = [Row(f"plain three-phase Triton scan, BLOCK {block}, {warps} warps", "three_phase", block, warps)
           for block, warps in THREE_PHASE_SWEEP]
    for block, warps in REFERENCE_SWEEP:
        out.append(Row(f"reference: single pass, decoupled look-back, BLOCK {block}, {warps} warps", "reference",
                       block, warps))
        out.append(Row(f"   the same, tiles numbered by a global counter (ordered=True), BLOCK {block}, {warps} warps",
                       "reference", block, warps, {"ordered": True}))
    out += [Row(f"reference, persistent (next tile prefetched), BLOCK {block}, {warps} warps", "reference", block,
                warps, {"persistent": True}) for block, warps in PERSISTENT_SWEEP]
    for block, warps, options in OPTION_SWEEP:
        named = ", ".join(f"{key}={value}" for key, value in options.items())
        out.append(Row(f"reference, {named}, BLOCK {block}, {warps} warps", "reference", block, warps, dict(options)))
    out += [Row(f"reference, chunks of {chunk} tiles (input re-read from the L2), BLOCK {block}, {warps} warps",
                "reference", block, warps, {"chunk": chunk}) for block, warps, chunk in CHUNKED_SWEEP]
    return out


def smoke_rows() -> list[Row]:
    """What the smoke check runs: the reference solution as the scorer runs it (its own settings), then
    every row of the sweep."""
    return [Row(DEFAULT_LABEL, "default", 0, 0), *rows()]


def scan(row: Row, reference, three_phase) -> Callable:
    """The function that runs a row, from the loaded reference solution and three-phase modules."""
    if row.kind == "default":
        return reference.prefix_sum
    if row.kind == "three_phase":
        return lambda x: three_phase.masked_prefix_sum(x, block=row.block, num_warps=row.warps)
    return lambda x: reference.configured_prefix_sum(x, row.block, row.warps, row.options)


class RowWatchdog:
    """Ends this process when a row of the sweep runs past its limit: a kernel that never finishes cannot
    be interrupted from Python, and would hold the GPU call to its end. The record says which row; where
    the stuck call holds the interpreter, faulthandler ends the process a little later all the same."""

    def __init__(self, out: Callable[[str], None], limit_s: float, save: Callable[[], None]):
        self.out, self.limit_s, self.save = out, limit_s, save

    def run(self, label: str, work: Callable, *args):
        """work(*args), or this process ended (exit status 3) after limit_s seconds."""
        def expire() -> None:
            self.out(f"   {label.strip()}: DID NOT FINISH within {self.limit_s:g} s: stopping the benchmark")
            self.save()
            os._exit(3)

        timer = threading.Timer(self.limit_s, expire)
        timer.daemon = True
        timer.start()
        faulthandler.dump_traceback_later(self.limit_s + 15, exit=True)
        try:
            return work(*args)
        finally:
            faulthandler.cancel_dump_traceback_later()
            timer.cancel()


# -- the smoke check's watchdog: the child prints these markers around each row
READY, BEGIN, END = "@@ ready", "@@ begin", "@@ end"
RIGHT, WRONG, FAILED, HUNG, UNCHECKED = "right", "wrong", "failed", "did not finish", "unchecked"


@dataclass
class SmokeReport:
    """Each row's verdict (RIGHT, WRONG, FAILED, HUNG or UNCHECKED), by index, and the child's lines."""

    verdicts: dict[int, str]
    lines: list[str]


def run_smoke(argv_from: Callable[[int], list[str]], count: int, row_limit_s: float, total_limit_s: float,
              start_limit_s: float = 180.0, env: dict | None = None) -> SmokeReport:
    """Run the smoke child (argv_from(first row)) over rows 0..count-1; a row that takes longer than
    row_limit_s, or a child that dies in one, is marked so and a fresh child starts from the next row.
    Rows not reached within total_limit_s (or when a child does not start within start_limit_s) stay
    UNCHECKED."""
    report = SmokeReport({}, [])
    deadline = time.monotonic() + total_limit_s
    first: int | None = 0
    while first is not None and first < count:
        first = _one_child(argv_from(first), row_limit_s, start_limit_s, deadline, report, env)
    for index in range(count):
        report.verdicts.setdefault(index, UNCHECKED)
    return report


def _one_child(argv: list[str], row_limit_s: float, start_limit_s: float, deadline: float, report: SmokeReport,
               env: dict | None) -> int | None:
    """One child; returns the row the next child starts at, or None when there is nothing to go on with
    (every row done, the total limit reached, or a child that did not start)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    started, current, buffer = False, None, b""
    limit_at = time.monotonic() + start_limit_s
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                if now >= deadline:
                    report.lines.append("the smoke check's time limit was reached: the rows left are unchecked")
                    return None
                if now >= limit_at:
                    if current is None:
                        report.lines.append(f"the smoke check's process did not {'go on' if started else 'start'} "
                                            f"within {row_limit_s if started else start_limit_s:g} s")
                        return None
                    report.verdicts[current] = HUNG
                    report.lines.append(f"row {current}: DID NOT FINISH within {row_limit_s:g} s (killed)")
                    return current + 1
                if not selector.select(min(limit_at, deadline) - now):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:  # the child ended; in a row, that row failed (a lost CUDA context, a crash)
                    proc.wait()
                    if current is None:
                        if not started:
                            report.lines.append(f"the smoke check's process ended before its first row "
                                                f"(exit {proc.returncode})")
                        return None
                    report.verdicts[current] = FAILED
                    report.lines.append(f"row {current}: the smoke check's process ended in it "
                                        f"(exit {proc.returncode})")
                    return current + 1
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for raw in complete:
                    line = raw.decode("utf-8", "replace")
                    if line.startswith((READY, BEGIN, END)):
                        started, limit_at = True, time.monotonic() + row_limit_s
                        words = line.split(maxsplit=3)
                        if line.startswith(BEGIN):
                            current = int(words[2])
                        elif line.startswith(END):
                            report.verdicts[int(words[2])], current = words[3], None
                    else:
                        report.lines.append(line)
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:  # a process in a kernel that never ends goes once the driver has torn its context down
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                report.lines.append(f"the smoke check's process {proc.pid} did not end within 60 s of SIGKILL")
        proc.stdout.close()
