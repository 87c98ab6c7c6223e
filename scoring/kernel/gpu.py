"""The kernel protocol on a CUDA GPU: the timing loop and every check run in the scorer's process.

Three processes share the GPU: this one (the harness: trusted, the candidate cannot patch it),
the candidate's, and the trusted copy peer's. The harness owns the inputs: batch + 1 input slots
in its own GPU memory, opened by the peers through CUDA IPC. A request is `batch` calls (the
variant's `batch`, 1 by default; the correctness cases are requests of one call). For every
request the harness

  1. draws a fresh input for each call from a secret seed into a private buffer and computes the
     expected output with the trusted reference; only then copies the inputs into their slots
     (distinct slots, chosen at random), back to back;
  2. flushes the L2 cache (writes a 256 MB buffer; the L2 is shared by every process) and times
     that flush with CUDA events (a GPU kept busy in the background makes it slow);
  3. reads its clock (t0), sends "call slot s with n values" for each call, and waits for the
     answer: the peer, call after call, calls prefix_sum, synchronizes the device, and exports
     the output (its metadata and CUDA IPC handle);
  4. launches a tiny kernel of its own and synchronizes (t2): the GPU runs one process's work at a
     time, so this returns only once work the candidate left queued has run, or been preempted;
  5. outside the timed window: decodes the answer's frame (scoring/plain_pickle.py) and checks its
     form (scoring/kernel/peer.py ANSWERS), opens
     every output, compares each exactly with its expected output, checks the input slots are
     unchanged, asks the peer to synchronize its device, compares again (deferred work), and checks
     that the previous request's outputs are still intact (stale buffers); every output of a
     request must be a buffer of its own.

A call's time is (t2 - t0) / batch: batching amortizes the round trip (pipes, wake-ups, the
barrier), whose spread from scoring to scoring is most of the scorer's run-to-run variation for a
fast kernel; each call still synchronizes the device and exports its output inside the window
(work cannot move past the request's end; within a request it can move between calls, which is
why batch > 1 is for trusted solutions: protocol.BATCH_WARNING). Between the calls of a request the L2 is not flushed: each
call's input is untouched since the request's flush, and at the environment's size (400 MB of
input, 8x an H100's L2) a previous call leaves at most an L2's worth of its output behind.

The harness overhead (round trip, IPC, the barrier) is measured with the trusted copy peer (a
solution that copies its input, run by the scorer's own python) in two clean phases, one before
the candidate's process exists and one after it and everything it started were killed, so the
candidate cannot slow the measurement it is compared with:
time = median(candidate per call) - (median(clean copy per call) - copy floor), where the copy
floor is a device copy of n int32 timed with CUDA events in this process. Inside the timing loop
the copy peer's calls alternate with the candidate's, each with the candidate's processes stopped
(SIGSTOP, by the scorer's process, which every process the candidate starts stays below): the
candidate's L2 flushes and first reads are compared with the copy peer's there (gpu_busy,
deferred_work), and the copy peer's figures with the clean phases' (peer_interference: something
slowed the scorer's measurement). Subtracting the loop's copy-peer calls instead is reported as
`in_loop_estimate_ms`, a diagnostic: the candidate's GPU work queued before it was stopped can still
slow them (on the recorded H100 runs it cut one run's CV from 9.1% to 1.3% and not two others').
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from scoring.errors import CandidateProtocolError
from scoring.kernel import checks, cpus, stats
from scoring.kernel.checks import reject
from scoring.kernel.inputs import Case, correctness_cases, fill_torch
from scoring.kernel.peer import KernelPeer, TrustedCopyPeer
from scoring.kernel.protocol import ENTRY_FILE, ENTRY_FUNCTION, KernelSpec
from scoring.kernel.reference import masked_prefix_sum_torch

FLUSH_BYTES = 256 * 1024 * 1024
BUSY_FACTOR, BUSY_MARGIN_MS = 2.0, 0.05        # L2 flush slower than this vs. the baseline: GPU busy
DEFERRED_FACTOR, DEFERRED_MARGIN_MS = 1.5, 0.1  # first read slower than this vs. the baseline: deferred
INTERFERENCE_FACTOR, INTERFERENCE_MARGIN_MS = 2.0, 0.1  # copy peer's calls in the loop vs. clean ones'
# (baselines: the copy peer's calls in the loop for the candidate's; the clean phases' for the copy peer's)
CLEAN_CALLS, CLEAN_WARMUP = 25, 2  # copy-peer requests timed in each clean phase (after warm-up requests):
# the overhead subtracted from every time is their median, so its sampling noise is in every score
RECHECK_PAUSES_S = (0.0, 0.05, 0.2, 0.5)  # after a wrong read: is the output still changing?
# The input slots are the only memory the peers can map. Each gets a segment of the CUDA caching
# allocator to itself (a request above its 10 MB threshold, rounded to its 2 MB granularity, is
# never split), so no other tensor of the harness (expected outputs!) can sit beside a slot.
SLOT_MIN_BYTES, SLOT_ALIGN_BYTES = 12 << 20, 2 << 20
IPC_HANDLE_BYTES = 64           # CUDA_IPC_HANDLE_SIZE
IPC_REF_COUNTERS = 10000        # torch's CUDA_IPC_REF_COUNTER_FILE_SIZE: entries of int64


def memory_needed(n: int, batch: int) -> int:
    """GPU bytes a scoring holds at once: the harness's batch + 1 slots and batch private inputs,
    4 * batch expected outputs (the candidate's runner keeps two requests' for replay checks, the
    copy peer's runner one, plus the request being prepared), each peer's 2 * batch outputs (held
    and current), the copy floor's destination, the trusted reference's int64 temporaries and the
    input generator's (~9 * 4n), and the flush buffer."""
    return 4 * n * ((batch + 1) + batch + 4 * batch + 2 * (2 * batch) + 1 + 9) + FLUSH_BYTES


def check_memory(torch, n: int, batch: int) -> None:
    """A clear message, before anything is allocated, when this GPU cannot hold a scoring."""
    need = memory_needed(n, batch)
    free, total = torch.cuda.mem_get_info()
    if need > free:
        raise ValueError(f"scoring n={n:,} with batch={batch} holds about {need / 1e9:.1f} GB of GPU memory at once "
                         f"(input slots, expected outputs, both peers' outputs); this GPU has {free / 1e9:.1f} GB free "
                         f"of {total / 1e9:.1f} GB: use a variant with a smaller batch")


def slot_elements(n: int) -> int:
    """int32 elements of an input slot for inputs of up to n values (a whole allocator segment)."""
    size = max(4 * n, SLOT_MIN_BYTES)
    return -(-size // SLOT_ALIGN_BYTES) * SLOT_ALIGN_BYTES // 4


class Harness:
    """The scorer's GPU state: input slots, the private input, the flush buffer, events."""

    def __init__(self, torch, n_max: int, seed: int, batch: int = 1):
        self.torch = torch
        self.device = torch.device("cuda", torch.cuda.current_device())
        dev = self.device
        self.slots = [torch.zeros(slot_elements(n_max), dtype=torch.int32, device=dev) for _ in range(batch + 1)]
        self.sources = [torch.zeros(n_max, dtype=torch.int32, device=dev) for _ in range(batch)]  # private inputs
        self.dst = torch.empty(n_max, dtype=torch.int32, device=dev)
        self.flush_buf = torch.empty(FLUSH_BYTES // 4, dtype=torch.int32, device=dev)
        self.barrier = torch.zeros(1, dtype=torch.int32, device=dev)
        self.generator = torch.Generator(device=dev)
        self.generator.manual_seed(seed)
        self.events = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
        self._fill = 0
        self.own_ref_handles: set[bytes] = set()
        self.solo_flush_ms: list[float] = []  # flushes timed in the clean phases, by the copy floor

    def slot_descriptors(self) -> list[dict]:
        from torch.multiprocessing.reductions import reduce_tensor

        out = []
        for slot in self.slots:
            _, a = reduce_tensor(slot)
            self.own_ref_handles.add(bytes(a[11]))
            out.append({"numel": slot.numel(), "device": int(a[6]), "handle": bytes(a[7]),
                        "storage_bytes": int(a[8]), "storage_offset_bytes": int(a[9]), "tensor_offset": int(a[3]),
                        "ref_counter_handle": bytes(a[11]), "ref_counter_offset": int(a[12]),
                        "event_handle": None if a[13] is None else bytes(a[13]), "event_sync_required": bool(a[14])})
        return out

    def flush(self) -> float:
        """Evict the L2 cache; return how long that took on the GPU (ms)."""
        start, end = self.events
        self._fill += 1
        start.record()
        self.flush_buf.fill_(self._fill)
        end.record()
        end.synchronize()
        return start.elapsed_time(end)

    def copy_floor_ms(self, n: int, reps: int = 10) -> list[float]:
        """A device copy of n int32 (read + write), timed with CUDA events after an L2 flush."""
        start, end = self.events
        times = []
        for _ in range(reps):
            self.solo_flush_ms.append(self.flush())
            start.record()
            self.dst[:n].copy_(self.sources[0][:n])
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return times

    def prepare(self, n: int, kind: str, index: int = 0, scan: bool = True):
        """Fresh input into private buffer `index`; return the expected output (or the input)."""
        src = self.sources[index][:n]
        fill_torch(src, self.generator, kind)
        return masked_prefix_sum_torch(src) if scan else src.clone()

    def load_slots(self, slots: list[int], sizes: list[int]) -> None:
        """Copy the prepared inputs into their slots, back to back, after every expected output is
        computed: an input is visible to the peers only from here, not while the harness still
        works on the request's other inputs."""
        for index, (slot, n) in enumerate(zip(slots, sizes)):
            self.slots[slot][:n].copy_(self.sources[index][:n])

    def open_output(self, ipc: Any, n: int, where: str):
        """Map the peer's output into this process (validated CUDA IPC descriptor).

        The peer's IPC event is never waited on (the boot synchronizes before answering): a stream
        wait on an event of the candidate's would let the first read wait for work it left running.
        """
        torch = self.torch
        from torch.multiprocessing.reductions import rebuild_cuda_tensor

        ok = isinstance(ipc, dict) and all(isinstance(ipc.get(k), int) and not isinstance(ipc.get(k), bool)
                                           for k in ("device", "storage_bytes", "storage_offset_bytes",
                                                     "tensor_offset", "ref_counter_offset"))
        ok = ok and isinstance(ipc.get("handle"), bytes) and 0 < len(ipc["handle"]) <= 1024
        ok = ok and isinstance(ipc.get("ref_counter_handle"), bytes) and len(ipc["ref_counter_handle"]) <= 1024
        ok = ok and b"\0" not in ipc["ref_counter_handle"] and ipc["ref_counter_handle"] not in self.own_ref_handles
        ok = ok and 0 <= ipc["ref_counter_offset"] < IPC_REF_COUNTERS
        if not ok or ipc["device"] != self.device.index or min(ipc["storage_offset_bytes"], ipc["tensor_offset"]) < 0:
            raise CandidateProtocolError(f"{where}: the output's CUDA IPC descriptor is malformed")
        if (ipc["tensor_offset"] + n) * 4 > ipc["storage_bytes"]:
            raise CandidateProtocolError(f"{where}: the output's storage is smaller than {n} int32 values")
        try:
            return rebuild_cuda_tensor(torch.Tensor, torch.Size([n]), (1,), ipc["tensor_offset"],
                                       torch.storage.TypedStorage, torch.int32, ipc["device"], ipc["handle"],
                                       ipc["storage_bytes"], ipc["storage_offset_bytes"], False,
                                       ipc["ref_counter_handle"], ipc["ref_counter_offset"],
                                       bytes(IPC_HANDLE_BYTES), False)
        except Exception as exc:
            raise CandidateProtocolError(f"{where}: the output could not be opened through CUDA IPC: {exc}") from None


class _Held:
    def __init__(self, ident, key, tensor, expected, where):
        self.ident, self.key, self.tensor, self.expected, self.where = ident, key, tensor, expected, where


class _Runner:
    """Sends one peer requests through the harness, checks every answer, keeps the previous request's
    outputs (a later request must leave them intact)."""

    def __init__(self, ctx, spec: KernelSpec, harness: Harness, peer: KernelPeer, check_values: bool):
        self.ctx, self.spec, self.h, self.peer = ctx, spec, harness, peer
        self.check_values = check_values
        self.held: list[_Held] = []
        self.previous_expected = []
        self.checks = 0

    def timeout(self, calls: int = 1) -> float:
        return max(0.1, min(self.ctx.remaining(), self.spec.call_timeout_s * calls))

    def call(self, case: Case, where: str) -> dict:
        """A request of one call."""
        return self.request([case], [where])

    def request(self, cases: list[Case], wheres: list[str]) -> dict:
        """Time the calls of one request together; check every output; a row of per-call figures."""
        torch, h = self.h.torch, self.h
        count = len(cases)
        slots = self.ctx.rng.sample(range(len(h.slots)), count)
        expected = [h.prepare(case.n, case.kind, index, scan=self.check_values)  # the copy peer: its input
                    for index, case in enumerate(cases)]
        h.load_slots(slots, [case.n for case in cases])
        torch.cuda.synchronize()
        flush_ms = h.flush()
        t0 = time.perf_counter()
        answer = self.peer.exchange("cuda_calls", [[slot, case.n] for slot, case in zip(slots, cases)],
                                    timeout=self.timeout(count))
        t1 = time.perf_counter()
        h.barrier.add_(1)
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        # the answer's form is checked outside the timed window, before any of it is read
        answer = self.peer.checked("cuda_calls", answer, where=f"on {wheres[0]}")
        calls = answer.get("calls")
        if not isinstance(calls, list) or len(calls) != count or not all(isinstance(c, dict) for c in calls):
            raise CandidateProtocolError(f"{wheres[0]}: the kernel boot answered no record of each of the "
                                         f"{count} call(s) of the request")
        outputs, new_keys, keys = [], [], {held.key: held.where for held in self.held}
        for case, where, one in zip(cases, wheres, calls):
            if type(one.get("id")) is not int:
                raise CandidateProtocolError(f"{where}: the kernel boot's answer names no output to hold")
            checks.check_meta(one.get("meta"), case.n, str(h.device), where)
            if one.get("ipc") is None:
                raise CandidateProtocolError(f"{where}: the output's CUDA IPC handle did not come back")
            ipc = one["ipc"]
            y = h.open_output(ipc, case.n, where)
            key = (ipc["handle"], ipc["storage_offset_bytes"] + 4 * ipc["tensor_offset"])
            if key in keys:
                reject(checks.STALE_OUTPUT, f"{where}: the output is the same buffer as the output of "
                       f"{keys[key]}, which the caller still holds; return a new tensor every call", call=where)
            keys[key] = where
            new_keys.append(key)
            outputs.append(y)
        t3a = time.perf_counter()
        first_ok = [bool(torch.equal(y, want)) for y, want in zip(outputs, expected)]
        torch.cuda.synchronize()
        t3 = time.perf_counter()
        for index, (case, slot, where) in enumerate(zip(cases, slots, wheres)):
            if not torch.equal(h.slots[slot][:case.n], h.sources[index][:case.n]):
                reject(checks.INPUT_MUTATED, f"{where}: the input was changed by the call; inputs are read-only",
                       call=where)
        self.peer.op("sync", timeout=self.timeout(), where=f"on {wheres[-1]}")
        for index, (case, where, y, want) in enumerate(zip(cases, wheres, outputs, expected)):
            second_ok = bool(torch.equal(y, want))
            if not first_ok[index]:
                if second_ok:
                    reject(checks.DEFERRED_WORK, f"{where}: the output was wrong right after the call returned and "
                           "right after a device-wide synchronization: work was left running (another stream?)",
                           call=where)
                earlier = self.previous_expected + (expected[:index] if self.check_values else [])
                self._explain_wrong(y, want, case, where, index, earlier)
            elif not second_ok:
                reject(checks.OUTPUT_CHANGED, f"{where}: the output changed after it was read (work still running "
                       "after the call returned)", call=where)
        for held in self.held:
            if not torch.equal(held.tensor, held.expected):
                reject(checks.STALE_OUTPUT, f"{wheres[0]}: the output of {held.where} changed during this request "
                       "(a buffer reused from call to call)", call=wheres[0])
        self._release()
        self.held = [_Held(one["id"], key, y, want, where) for one, key, y, want, where in
                     zip(calls, new_keys, outputs, expected, wheres)]
        if self.check_values:
            self.previous_expected = (self.previous_expected + expected)[-max(2, 2 * count):]
        self.checks += count
        row = {"harness_ms": (t2 - t0) * 1e3 / count, "reply_ms": (t1 - t0) * 1e3 / count,
               "verify_ms": (t3 - t3a) * 1e3, "flush_ms": flush_ms}
        phases = [one.get("phases_ms") for one in calls]
        if all(isinstance(p, list) and len(p) == 3 and all(type(v) is float for v in p) for p in phases):
            row.update({name: statistics.fmean(p[k] for p in phases)
                        for k, name in enumerate(("call_ms", "sync_ms", "export_ms"))})
        return row

    def _explain_wrong(self, y, expected, case: Case, where: str, index: int, earlier: list) -> None:
        torch = self.h.torch
        last, changed = y.clone(), False
        for pause in RECHECK_PAUSES_S:  # is the output still being written? wait until it settles
            time.sleep(pause)
            self.peer.op("sync", timeout=self.timeout(), where=f"on {where}")
            if not torch.equal(y, last):
                last, changed = y.clone(), True
            elif changed:
                break
        if changed:
            if torch.equal(last, expected):
                reject(checks.DEFERRED_WORK, f"{where}: the output was wrong when the call returned and right "
                       "later: work was left running after the return", call=where)
            reject(checks.OUTPUT_CHANGED, f"{where}: the output was wrong and kept changing after the call "
                   "returned", call=where)
        for answer in earlier:
            if answer.numel() == y.numel() and bool(answer.any()) and torch.equal(answer, y):
                reject(checks.REPLAYED_RESULT, f"{where}: the output is the answer to an earlier call's input "
                       "(results cached by shape, identity or call count are replayed on fresh inputs)", call=where)
        x = self.h.sources[index][:case.n].cpu().numpy()
        message, details = checks.describe_mismatch(where, x, y.cpu().numpy(), expected.cpu().numpy())
        if case.reason == checks.PRECISION_LOSS:
            message += "; partial sums here pass 2^24: exact int32 arithmetic is needed (float32 rounds)"
        elif case.reason == checks.NO_WRAPAROUND:
            message += "; the sums here overflow int32 and must wrap around (two's complement)"
        reject(case.reason, message, **details)

    def _release(self) -> None:
        held, self.held = self.held, []
        for one in held:
            del one.tensor
            self.peer.op("release", one.ident, timeout=self.timeout())

    def close(self) -> None:
        self._release()


def score_on_gpu(ctx, spec: KernelSpec, torch) -> dict:
    plan = cpus.plan(cpus.available()) if spec.pin_cpus else None
    if spec.pin_cpus and plan is None:
        ctx.log(f"gpu: pin_cpus needs two whole cores and {cpus.MIN_CANDIDATE_CPUS} more CPUs, this process "
                f"may use {len(cpus.available())} CPUs: not pinned")
    torch.cuda.set_device(torch.cuda.current_device())
    torch.cuda.synchronize()  # the CUDA context, and its driver's threads, made before this thread is pinned
    with cpus.Pinned(plan.harness if plan else None):
        return _score_on_gpu(ctx, spec, torch, plan)


def _score_on_gpu(ctx, spec: KernelSpec, torch, plan: cpus.CpuPlan | None) -> dict:
    started = time.monotonic()
    check_memory(torch, spec.n, spec.batch)
    harness = Harness(torch, spec.n, ctx.rng.getrandbits(63), spec.batch)
    descriptors = harness.slot_descriptors()
    copy_peer = TrustedCopyPeer(ctx, "cuda", cpus=plan.copy_peer if plan else None)
    cand_peer = None
    samples: dict[str, list[dict]] = {"candidate": [], "copy": [], "clean": []}
    floor_times: list[float] = []
    try:
        opening = max(0.1, min(ctx.remaining(), spec.call_timeout_s))
        copy_peer.op("cuda_slots", descriptors, timeout=opening, where="while opening the input slots")
        copy = _Runner(ctx, spec, harness, copy_peer, check_values=False)
        # clean phase 1: the candidate's process does not exist yet
        floor_times += harness.copy_floor_ms(spec.n)
        samples["clean"] += _clean_calls(copy, spec, "before")
        cand_peer = KernelPeer(ctx, ctx.candidate_dir, ENTRY_FILE, ENTRY_FUNCTION, "cuda",
                               cpus=plan.candidate if plan else None)
        cand_peer.op("cuda_slots", descriptors, timeout=max(0.1, min(ctx.remaining(), spec.call_timeout_s)),
                     where="while opening the input slots")
        cand = _Runner(ctx, spec, harness, cand_peer, check_values=True)
        # a diagnostic, not used in the time: each process's own pipe round trip, with no GPU work
        # (on a VM the level differs between processes and moves over time: benchmarks/RESULTS.md)
        pings = {"candidate": _ping_ms(cand_peer, spec), "copy_peer": _ping_ms(copy_peer, spec)}
        cases = correctness_cases(spec.n)
        for case in cases:
            cand.call(case, f"case '{case.label}'")
        ctx.log(f"gpu: {len(cases)} correctness cases passed")
        loop_start = time.monotonic()
        # the early stop judges the time that will be reported (harness time less the overhead; the
        # first clean phase's estimate here), not the harness time, whose relative error is smaller
        early_overhead = _overhead(samples["clean"], floor_times)
        k, stop, batch = 0, None, spec.batch
        while stop is None:
            first = k * batch + 1
            a = _timed_request(cand, spec, first, f"timed call {{}} (n={spec.n:,})", checks.WRONG_ON_TIMED_CALL)
            b = _copy_request_alone(ctx, copy, spec, first, copy_peer.pid)
            if k >= spec.warmup:
                samples["candidate"].append(a)
                samples["copy"].append(b)
                net = [s["harness_ms"] - early_overhead for s in samples["candidate"]]
                stop = stats.should_stop(net, spec.min_reps, spec.max_reps, spec.target_rel_sem,
                                         time.monotonic() - loop_start, spec.time_cap_s)
            k += 1
        cand.close()
        cand_peer.close()
        cand_peer = None
        # clean phase 2: the candidate's process and everything it started are gone
        kill_strays = getattr(ctx, "kill_strays", None)
        if kill_strays is not None:
            killed = kill_strays(keep=[copy_peer.pid])
            if killed:
                ctx.log(f"gpu: killed {killed} process(es) the candidate left behind before the clean phase")
        samples["clean"] += _clean_calls(copy, spec, "after")
        floor_times += harness.copy_floor_ms(spec.n)
        copy.close()
    finally:
        copy_peer.close()
        if cand_peer is not None:
            cand_peer.close()
    details = _summarize(ctx, spec, torch, samples, floor_times, harness.solo_flush_ms, cand.checks, stop,
                         time.monotonic() - started, plan)
    details["ping_median_ms"] = pings
    return details


PINGS = 200  # round trips per process for the ping diagnostic (about 10 ms each way)


def _ping_ms(peer, spec: KernelSpec) -> float:
    """The median of PINGS empty round trips to a peer's process (ms). The candidate's process answers
    its own pings, so its figure is a diagnostic only (nothing in the time or the rules reads it)."""
    times = []
    for _ in range(PINGS):
        start = time.perf_counter()
        answer = peer.exchange("ping", timeout=max(0.1, min(spec.call_timeout_s, 5.0)))
        times.append((time.perf_counter() - start) * 1e3)
        peer.checked("ping", answer, where="during a ping")
    return statistics.median(times)


def _copy_request_alone(ctx, copy: _Runner, spec: KernelSpec, first: int, copy_pid: int) -> dict:
    """A copy-peer request in the timing loop with the candidate's processes stopped (SIGSTOP): they
    can neither signal the copy peer nor queue GPU work while it is measured (work queued before
    still runs: the flush and first-read rules compare for that)."""
    pause = getattr(ctx, "pause_strays", None)
    paused, complete = pause(keep=[copy_pid]) if pause is not None else ([], True)
    try:
        if not complete:
            reject(checks.PEER_INTERFERENCE, f"the candidate's processes could not all be stopped while the scorer "
                   f"measured its copy peer ({len(paused)} stopped; processes that keep forking?)")
        return _timed_request(copy, spec, first, "copy peer call {}")
    finally:
        if paused:
            ctx.resume_strays(paused)


def _clean_calls(copy: _Runner, spec: KernelSpec, when: str) -> list[dict]:
    """Copy-peer requests (as many calls each as the loop's) timed while no candidate process exists
    (the first few are warm-up)."""
    rows = []
    for k in range(CLEAN_WARMUP + CLEAN_CALLS):
        row = _timed_request(copy, spec, k * spec.batch + 1, f"copy peer call {{}} {when} the candidate")
        if k >= CLEAN_WARMUP:
            rows.append(row)
    return rows


def _timed_request(runner: _Runner, spec: KernelSpec, first: int, label: str,
                   reason: str = checks.WRONG_ANSWER) -> dict:
    """A request of spec.batch calls at the full n, named label.format(call number) from `first`."""
    return runner.request([Case("timed", spec.n, "env", reason)] * spec.batch,
                          [label.format(first + j) for j in range(spec.batch)])


def _overhead(clean_rows: list[dict], floor_times: list[float]) -> float:
    """The harness overhead subtracted from every time: the clean copy-peer calls less the copy floor."""
    return stats.median([row["harness_ms"] for row in clean_rows]) - stats.median(floor_times)


def _medians(rows: list[dict]) -> dict:
    """The median of every figure the rows have (the boot's phases may be missing from some)."""
    keys = {key for row in rows for key in row}
    return {key: stats.median([row[key] for row in rows if key in row]) for key in keys}


def _summarize(ctx, spec, torch, samples, floor_times, solo_flush, checks_passed, stop, wall_s,
               plan: cpus.CpuPlan | None = None) -> dict:
    med = {who: _medians(rows) for who, rows in samples.items()}
    floor_ms = stats.median(floor_times)
    overhead_ms = _overhead(samples["clean"], floor_times)
    times = [s["harness_ms"] - overhead_ms for s in samples["candidate"]]
    median_ms = med["candidate"]["harness_ms"] - overhead_ms
    clean_flush_ms = stats.median(list(solo_flush) + [s["flush_ms"] for s in samples["clean"]])
    details = {
        "device": torch.cuda.get_device_name(torch.cuda.current_device()),
        "n": spec.n,
        "median_ms": median_ms,
        "reps": len(times),
        "batch": spec.batch,  # calls per timed request: reps * batch calls were timed
        "stopped_because": stop,
        "rel_sem": stats.relative_sem(times),
        "times_ms": [round(t, 5) for t in times],
        "harness_median_ms": med["candidate"]["harness_ms"],
        "copy_harness_median_ms": med["clean"]["harness_ms"],
        "copy_in_loop_harness_median_ms": med["copy"]["harness_ms"],
        "harness_overhead_ms": overhead_ms,
        # not the score: the same with the loop's copy-peer calls as the baseline (see the docstring)
        "in_loop_estimate_ms": med["candidate"]["harness_ms"] - med["copy"]["harness_ms"] + floor_ms,
        "copy_floor_ms": floor_ms,
        "copy_floor_times_ms": [round(t, 5) for t in floor_times],
        "ratio_to_copy_floor": median_ms / floor_ms if floor_ms > 0 else math.inf,
        "flush_median_ms": {"candidate": med["candidate"]["flush_ms"], "copy": med["copy"]["flush_ms"],
                            "clean": clean_flush_ms},
        # per request (all its outputs), as the flush: the deferred_work rule compares like with like
        "first_read_median_ms": {"candidate": med["candidate"]["verify_ms"], "copy": med["copy"]["verify_ms"],
                                 "clean": med["clean"]["verify_ms"]},
        "reply_median_ms": {who: med[who]["reply_ms"] for who in med},
        # where the trusted copy peer's round trip goes, inside its process: the call, the
        # synchronization, the output's export (the rest is pipes, wake-ups and the barrier)
        "copy_peer_phases_ms": {key: med["clean"].get(key) for key in ("call_ms", "sync_ms", "export_ms")},
        # ... and in the timing loop (three processes, the candidate stopped): where the loop's
        # copy-peer round trip differs from the clean phases', inside the peer or outside it
        "copy_peer_in_loop_phases_ms": {key: med["copy"].get(key) for key in ("call_ms", "sync_ms", "export_ms")},
        # the same as the candidate's own process reported them: untrusted, a diagnostic for honest
        # solutions (where does a kernel's round trip go?); nothing above or below reads them
        "candidate_reported_phases_ms": {key: med["candidate"].get(key) for key in ("call_ms", "sync_ms", "export_ms")},
        "checks": checks_passed,
        "scoring_wall_s": wall_s,
        "cpus": plan.as_detail() if plan else None,  # pin_cpus: where the timed processes ran
    }
    try:
        from scoring import hardware

        details["hardware_fingerprint"] = hardware.fingerprint()
    except Exception:
        pass
    # the candidate's calls against the copy peer's in the same loop (the same GPU clocks and state) ...
    busy_limit = BUSY_FACTOR * med["copy"]["flush_ms"] + BUSY_MARGIN_MS
    if med["candidate"]["flush_ms"] > busy_limit:
        reject(checks.GPU_BUSY, f"the GPU was busy between the candidate's calls: the scorer's L2 flush took "
               f"{med['candidate']['flush_ms']:.3f} ms (median) around the candidate's calls and "
               f"{med['copy']['flush_ms']:.3f} ms around the copy peer's (work running in the background?)",
               **details)
    late_limit = DEFERRED_FACTOR * med["copy"]["verify_ms"] + DEFERRED_MARGIN_MS
    if med["candidate"]["verify_ms"] > late_limit:
        reject(checks.DEFERRED_WORK, f"the scorer's first read of a request's outputs took {med['candidate']['verify_ms']:.3f} ms "
               f"(median) against {med['copy']['verify_ms']:.3f} ms for the copy peer: the GPU was still busy "
               "with the candidate's work after its calls returned", **details)
    # ... and the copy peer's calls in the loop against the clean phases', where no candidate was alive:
    # slowing them (to inflate the overhead, or to loosen the two rules above) is interference
    slowed = [f"{what} {med['copy'][key]:.3f} ms against {clean:.3f} ms" for what, key, clean, factor, margin in (
        ("a call took", "harness_ms", med["clean"]["harness_ms"], INTERFERENCE_FACTOR, INTERFERENCE_MARGIN_MS),
        ("the L2 flush before a call took", "flush_ms", clean_flush_ms, BUSY_FACTOR, BUSY_MARGIN_MS),
        ("the first read of a request's outputs took", "verify_ms", med["clean"]["verify_ms"], DEFERRED_FACTOR,
         DEFERRED_MARGIN_MS)) if med["copy"][key] > factor * clean + margin]
    if slowed:
        reject(checks.PEER_INTERFERENCE, "the scorer's own measurement was slowed while the candidate's process was "
               f"alive (signals to the copy peer, GPU work in the background): for the copy peer, {'; '.join(slowed)} "
               "(medians, in the timing loop against before and after the candidate)", **details)
    if median_ms <= 0 or stats.below_floor(median_ms, floor_ms, spec.floor_tolerance):
        noise = statistics.stdev([s["harness_ms"] for s in samples["clean"]]) if len(samples["clean"]) > 1 else 0.0
        hint = (f"; at n={spec.n:,} a call is too short to time through the round trip (its spread "
                f"{noise:.3f} ms is more than the floor): time it on a larger variant") if noise > floor_ms else ""
        reject(checks.IMPOSSIBLE_TIME, f"impossible time: {median_ms:.4f} ms per call is below the memory-copy "
               f"floor of {floor_ms:.4f} ms measured in the same run (tolerance {spec.floor_tolerance:.0%}){hint}",
               **details)
    return details
