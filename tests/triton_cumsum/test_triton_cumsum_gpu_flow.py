"""The GPU protocol's control flow (scoring/kernel/gpu.py) driven on the CPU: torch.cuda is replaced by a
fake (events read perf_counter, synchronize does nothing) and the peers by in-process fakes that call a
prefix_sum directly, so everything except the CUDA IPC transport and real GPU timing runs here: the
correctness phase, the timing loop and its stop rule, the copy peer, every check, and the summary."""

from __future__ import annotations

import random
import time
import types

import pytest

from triton_cumsum_support import require_kernel_stack

require_kernel_stack()

import torch  # noqa: E402

from scoring.errors import Invalid  # noqa: E402
from scoring.kernel import gpu  # noqa: E402
from scoring.kernel.protocol import KernelSpec  # noqa: E402


_FREE = {"bytes": 80 * 10**9}  # the fake GPU's free memory


class _Event:
    def __init__(self, enable_timing=False):
        self.t = 0.0

    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


def _fake_torch():
    cuda = types.SimpleNamespace(
        Event=_Event, synchronize=lambda *a: None, current_device=lambda: 0, set_device=lambda d: None,
        get_device_name=lambda d=0: "Fake GPU (CPU)", is_available=lambda: True,
        mem_get_info=lambda *a: (_FREE["bytes"], 80 * 10**9))
    fake = types.SimpleNamespace(**{k: getattr(torch, k) for k in dir(torch) if not k.startswith("__")})
    fake.cuda = cuda
    fake.device = lambda *args: torch.device("cpu")
    return fake


def _starting(x):
    odd = ((x > 0).cumsum(0) % 2).bool()
    y = torch.zeros_like(x)
    y[1:] = torch.where(odd[:-1], x[1:], 0).cumsum(0).to(torch.int32)
    return y


class _FakePeer:
    """Calls fn on the harness's slot in this process and answers like the kernel boot."""

    harness = None
    outputs = {}  # the fake IPC: an output by its handle (Harness.open_output is replaced by a look-up)

    alive = False  # whether a candidate's fake peer exists now (between its creation and close)
    pid = 4242

    def __init__(self, fn):
        self.fn, self.held, self.count = fn, {}, 0
        self.calls_while_candidate_alive = 0
        self.requests = []  # calls per request, in order

    def one_call(self, slot, n):
        self.calls_while_candidate_alive += _FakePeer.alive
        x = self.harness.slots[slot][:n]
        y = self.fn(x)
        self.count += 1
        self.held[self.count] = y
        meta = {"tensor": True, "subclass": False, "dtype": str(y.dtype), "shape": list(y.shape),
                "device": str(y.device), "layout": str(y.layout), "nested": False, "neg": y.is_neg(),
                "conj": y.is_conj(), "zero": False, "requires_grad": False, "aliases_input": False}
        if y.layout != torch.strided:  # as the boot: no strides or storage to describe, nor an IPC handle
            return {"meta": meta, "ipc": None, "id": self.count}
        meta.update(stride=list(y.stride()), contiguous=y.is_contiguous(),
                    aliases_input=y.untyped_storage().data_ptr() == x.untyped_storage().data_ptr())
        ipc = {"handle": y.untyped_storage().data_ptr().to_bytes(8, "little"),
               "storage_offset_bytes": 0, "tensor_offset": y.storage_offset()}
        _FakePeer.outputs[ipc["handle"]] = y
        return {"meta": meta, "ipc": ipc, "id": self.count}

    def exchange(self, op, *args, timeout):
        self.exchanged = getattr(self, "exchanged", 0) + 1
        return self.op(op, *args, timeout=timeout)

    def checked(self, op, answer, where=""):
        """As KernelPeer.checked: the real check of the answer's form."""
        from scoring.kernel.peer import checked_answer

        return checked_answer(op, answer, "the candidate", where or f"during {op}")

    def op(self, op, *args, timeout, where=""):
        if op == "cuda_slots":
            return {}
        if op == "cuda_calls":
            self.requests.append(len(args[0]))
            return {"calls": [self.one_call(slot, n) for slot, n in args[0]]}
        if op == "release":
            self.held.pop(args[0], None)
        if op == "ping":
            self.pings = getattr(self, "pings", 0) + 1
        return {}

    def close(self):
        pass


class _CandidatePeer(_FakePeer):
    def __init__(self, fn):
        super().__init__(fn)
        _FakePeer.alive = True

    def close(self):
        _FakePeer.alive = False


def _run(fn, monkeypatch, peer_cls=None, copy_cls=None, ctx_extra=None, **spec_overrides):
    monkeypatch.setattr(gpu, "FLUSH_BYTES", 1 << 20)
    monkeypatch.setattr(gpu.Harness, "flush", lambda self: 0.09)  # a CPU fill's time is noise, not a GPU's flush
    monkeypatch.setattr(gpu.Harness, "slot_descriptors", lambda self: [])
    monkeypatch.setattr(gpu.Harness, "open_output", lambda self, ipc, n, where: _FakePeer.outputs[ipc["handle"]])
    original_init = gpu.Harness.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        _FakePeer.harness = self

    monkeypatch.setattr(gpu.Harness, "__init__", init)
    copies = []

    def copy_peer(ctx, mode, cpus=None):
        copies.append((copy_cls or _FakePeer)(lambda x: torch.empty_like(x).copy_(x)))
        copies[-1].cpus = cpus
        return copies[-1]

    def candidate_peer(ctx, folder, file, function, mode, cpus=None):
        peer = (peer_cls or _CandidatePeer)(fn)
        peer.cpus = cpus
        candidates.append(peer)
        return peer

    monkeypatch.setattr(gpu, "TrustedCopyPeer", copy_peer)
    monkeypatch.setattr(gpu, "KernelPeer", candidate_peer)
    candidates = []
    _FakePeer.alive = False
    params = {"n": 5000, "min_reps": 30, "max_reps": 40, "time_cap_s": 3.0, "warmup": 2, "floor_tolerance": 1.0,
              **spec_overrides}
    spec = KernelSpec.from_params(params, "fake")
    ctx = types.SimpleNamespace(**{"rng": random.Random(7), "remaining": lambda: 60.0, "log": lambda line: None,
                                   "candidate_dir": None, **(ctx_extra or {})})
    details = gpu.score_on_gpu(ctx, spec, _fake_torch())
    details["_copy_peer"] = copies[0]
    if candidates:
        details["_candidate_peer"] = candidates[0]
    return details


def _rejection(fn, monkeypatch, batch=1) -> Invalid:
    with pytest.raises(Invalid) as info:
        _run(fn, monkeypatch, batch=batch)
    return info.value


def test_a_correct_candidate_gets_a_time_and_every_figure(monkeypatch):
    details = _run(_starting, monkeypatch)
    # each process's empty round trip (ping), a diagnostic: measured for both peers, PINGS times each
    assert set(details["ping_median_ms"]) == {"candidate", "copy_peer"}
    assert all(0 <= v < 50 for v in details["ping_median_ms"].values()), details["ping_median_ms"]
    assert details["_copy_peer"].pings == details["_candidate_peer"].pings == gpu.PINGS
    assert 30 <= details["reps"] <= 40 and len(details["times_ms"]) == details["reps"]
    assert details["checks"] == 13 + 2 + details["reps"]  # correctness cases, warm-up, timed calls
    assert details["device"] == "Fake GPU (CPU)" and details["copy_floor_ms"] > 0
    assert details["median_ms"] == pytest.approx(
        details["harness_median_ms"] - details["copy_harness_median_ms"] + details["copy_floor_ms"])
    assert details["stopped_because"]


@pytest.mark.parametrize("batch", [1, 4])
def test_flow_rejects_replayed_results(monkeypatch, batch):
    cache = {}

    def by_shape(x):
        if x.numel() not in cache:
            cache[x.numel()] = _starting(x)
        return cache[x.numel()].clone()

    assert _rejection(by_shape, monkeypatch, batch).reason == "replayed_result"


@pytest.mark.parametrize("batch", [1, 4])
def test_flow_rejects_input_mutation(monkeypatch, batch):
    def mutate(x):
        y = _starting(x)
        x.add_(1)
        return y

    assert _rejection(mutate, monkeypatch, batch).reason == "input_mutated"


@pytest.mark.parametrize("batch", [1, 4])
def test_flow_rejects_a_reused_output_buffer(monkeypatch, batch):
    buf = torch.empty(8192, dtype=torch.int32)

    def stale(x):
        out = buf[: x.numel()]
        out.copy_(_starting(x))
        return out

    assert _rejection(stale, monkeypatch, batch).reason == "stale_output"


@pytest.mark.parametrize("batch", [1, 4])
def test_flow_rejects_wrong_timed_calls(monkeypatch, batch):
    seen = {}

    def lazy(x):
        seen[x.numel()] = seen.get(x.numel(), 0) + 1
        return torch.zeros_like(x) if seen[x.numel()] > 2 else _starting(x)

    error = _rejection(lazy, monkeypatch, batch)
    assert error.reason == "wrong_on_timed_call" and "timed call 1" in error.message


@pytest.mark.parametrize("lazy", ["neg", "sparse"])
def test_flow_rejects_outputs_whose_memory_is_not_their_values(monkeypatch, lazy):
    """The harness reads an output's memory through CUDA IPC, never torch's view of it: a negative view
    whose memory holds the right answer, or a sparse tensor, is wrong_layout before any IPC is opened."""
    def cheat(x):
        return _starting(x)._neg_view() if lazy == "neg" else _starting(x).to_sparse()

    error = _rejection(cheat, monkeypatch)
    assert error.reason == "wrong_layout" and "case '1 element'" in error.message, error.message


def test_flow_rejects_outputs_finished_later(monkeypatch):
    """The output is written only when the harness asks the peer to synchronize (work left running)."""
    pending = []

    def deferred(x):
        y = torch.zeros_like(x)
        pending.append((y, _starting(x)))
        return y

    class LatePeer(_CandidatePeer):
        def op(self, op, *args, timeout, where=""):
            if op == "sync":
                for y, value in pending:
                    y.copy_(value)
                pending.clear()
            return super().op(op, *args, timeout=timeout, where=where)

    with pytest.raises(Invalid) as info:
        _run(deferred, monkeypatch, peer_cls=LatePeer)
    assert info.value.reason == "deferred_work", info.value.message


def test_the_overhead_is_measured_while_no_candidate_process_exists(monkeypatch):
    strays = []
    details = _run(_starting, monkeypatch, ctx_extra={"kill_strays": lambda keep: strays.append(list(keep)) or 0})
    copy = details["_copy_peer"]
    clean = 2 * (gpu.CLEAN_WARMUP + gpu.CLEAN_CALLS)
    assert copy.count == clean + copy.calls_while_candidate_alive
    assert copy.calls_while_candidate_alive == details["reps"] + 2  # the loop's calls (warm-up included)
    assert strays == [[copy.pid]]  # what the candidate left behind is killed before the second clean phase
    assert details["flush_median_ms"]["clean"] > 0 and details["first_read_median_ms"]["clean"] > 0


def test_a_copy_peer_slowed_while_the_candidate_is_alive_is_interference(monkeypatch):
    """What a candidate that stops the copy peer (SIGSTOP) or loads the GPU during its calls causes."""

    class SlowedCopy(_FakePeer):
        def op(self, op, *args, timeout, where=""):
            if op == "cuda_calls" and _FakePeer.alive:
                time.sleep(0.02)
            return super().op(op, *args, timeout=timeout, where=where)

    with pytest.raises(Invalid) as info:
        _run(_starting, monkeypatch, copy_cls=SlowedCopy)
    assert info.value.reason == "peer_interference", info.value.message
    assert "a call took" in info.value.message


class _PhasedCopyPeer(_FakePeer):
    """A copy peer whose answers carry the boot's phase timings (as the real boot's do), slower in the
    timing loop (while a candidate is alive) than in the clean phases."""

    def one_call(self, slot, n):
        answer = super().one_call(slot, n)
        answer["phases_ms"] = [0.03, 0.4, 0.07] if _FakePeer.alive else [0.02, 0.3, 0.05]
        return answer


class _LyingPhasesPeer(_CandidatePeer):
    """A candidate whose answers carry phase figures of the wrong form."""

    def one_call(self, slot, n):
        answer = super().one_call(slot, n)
        answer["phases_ms"] = ["fast", None, -1] if self.count % 2 else [1.0, 2.0]
        return answer


def test_the_copy_peers_round_trip_is_broken_down_and_candidate_phases_are_not_trusted(monkeypatch):
    details = _run(_starting, monkeypatch, copy_cls=_PhasedCopyPeer)
    assert details["copy_peer_phases_ms"] == {"call_ms": 0.02, "sync_ms": 0.3, "export_ms": 0.05}
    assert details["copy_peer_in_loop_phases_ms"] == {"call_ms": 0.03, "sync_ms": 0.4, "export_ms": 0.07}
    assert details["candidate_reported_phases_ms"] == {"call_ms": None, "sync_ms": None, "export_ms": None}
    assert set(details["reply_median_ms"]) == {"candidate", "copy", "clean"}
    assert all(v >= 0 for v in details["reply_median_ms"].values())


def test_phase_figures_of_the_wrong_form_are_a_protocol_error(monkeypatch):
    """Three finite floats or nothing (scoring/kernel/peer.py ANSWERS): anything else is no answer of the boot's."""
    from scoring.errors import CandidateProtocolError

    with pytest.raises(CandidateProtocolError, match=r"calls\[0\]\.phases_ms\[0\] must be a finite float") as info:
        _run(_starting, monkeypatch, peer_cls=_LyingPhasesPeer)
    assert info.value.reason == "protocol_error" and info.value.details["field"] == "calls[0].phases_ms[0]"


def test_timed_calls_go_in_requests_of_batch_calls_and_are_timed_per_call(monkeypatch):
    strays = []
    details = _run(_starting, monkeypatch, batch=4,
                   ctx_extra={"kill_strays": lambda keep: strays.append(list(keep)) or 0})
    assert details["batch"] == 4 and 30 <= details["reps"] <= 40
    assert details["checks"] == 13 + 4 * (2 + details["reps"])  # correctness cases one by one, then requests of 4
    assert details["median_ms"] == pytest.approx(
        details["harness_median_ms"] - details["copy_harness_median_ms"] + details["copy_floor_ms"])
    copy = details["_copy_peer"]
    clean = gpu.CLEAN_WARMUP + gpu.CLEAN_CALLS
    # the copy peer answers in requests of the same size in the clean phases and in the loop
    assert copy.requests == [4] * (clean + 2 + details["reps"] + clean)


def test_two_calls_of_one_request_may_not_share_an_output_buffer(monkeypatch):
    """After the correctness cases, two buffers taken in turn: never the previous call's (which a
    request of one would catch), but the caller holds every output of a request while it checks them."""
    bufs, calls = [torch.empty(8192, dtype=torch.int32) for _ in range(2)], [0]

    def alternating(x):
        calls[0] += 1
        if calls[0] <= 13:  # the correctness cases: fresh tensors
            return _starting(x)
        out = bufs[calls[0] % 2][: x.numel()]
        out.copy_(_starting(x))
        return out

    error = _rejection(alternating, monkeypatch, batch=3)
    assert error.reason == "stale_output", error.message
    assert error.message.startswith("timed call 3 ") and "same buffer as the output of timed call 1 " in error.message


def test_a_request_answered_with_too_few_calls_is_a_protocol_error(monkeypatch):
    from scoring.errors import CandidateProtocolError

    class Short(_CandidatePeer):
        def op(self, op, *args, timeout, where=""):
            answer = super().op(op, *args, timeout=timeout, where=where)
            if op == "cuda_calls" and len(answer["calls"]) > 1:
                answer["calls"] = answer["calls"][:-1]
            return answer

    with pytest.raises(CandidateProtocolError, match="record of each of the 4 call"):
        _run(_starting, monkeypatch, peer_cls=Short, batch=4)


def test_batch_outside_its_range_is_refused():
    for bad in (0, 9, -1):
        with pytest.raises(ValueError, match="batch"):
            KernelSpec.from_params({"n": 10, "batch": bad}, "bad")


def test_an_honest_candidates_own_phases_are_reported_apart_and_change_nothing(monkeypatch):
    class Phased(_CandidatePeer):
        def one_call(self, slot, n):
            answer = super().one_call(slot, n)
            answer["phases_ms"] = [0.01, 0.2, 0.04]
            return answer

    details = _run(_starting, monkeypatch, peer_cls=Phased, batch=2)
    assert details["candidate_reported_phases_ms"] == pytest.approx({"call_ms": 0.01, "sync_ms": 0.2, "export_ms": 0.04})
    assert details["median_ms"] == pytest.approx(
        details["harness_median_ms"] - details["copy_harness_median_ms"] + details["copy_floor_ms"])


def test_a_batch_the_gpu_cannot_hold_is_refused_before_anything_runs(monkeypatch):
    monkeypatch.setattr(gpu, "FLUSH_BYTES", 1 << 20)  # as _run sets it
    monkeypatch.setitem(_FREE, "bytes", gpu.memory_needed(5000, 4) - 1)
    with pytest.raises(ValueError, match=r"batch=4 holds about .* GB of GPU memory"):
        _run(_starting, monkeypatch, batch=4)
    monkeypatch.setitem(_FREE, "bytes", gpu.memory_needed(5000, 4))
    assert _run(_starting, monkeypatch, batch=4)["batch"] == 4


def test_the_memory_a_scoring_holds_at_the_environments_size():
    assert 8e9 < gpu.memory_needed(10**8, 1) < 9e9       # fits a 16 GB GPU
    assert gpu.memory_needed(10**8, 8) < 40e9             # MAX_BATCH fits an 80 GB H100 with room to spare


def test_an_answer_that_names_no_output_is_a_protocol_error(monkeypatch):
    from scoring.errors import CandidateProtocolError

    class NoId(_CandidatePeer):
        def one_call(self, slot, n):
            answer = super().one_call(slot, n)
            answer.pop("id")
            return answer

    with pytest.raises(CandidateProtocolError, match="names no output to hold"):
        _run(_starting, monkeypatch, peer_cls=NoId)


def test_a_requests_inputs_reach_their_slots_only_after_every_expected_output_is_computed(monkeypatch):
    """The peers can read every slot: no input may sit there while the harness still prepares others."""
    order = []
    original_prepare, original_load = gpu.Harness.prepare, gpu.Harness.load_slots
    monkeypatch.setattr(gpu.Harness, "prepare", lambda self, *a, **k: order.append("prepare") or original_prepare(self, *a, **k))
    monkeypatch.setattr(gpu.Harness, "load_slots", lambda self, *a: order.append("load") or original_load(self, *a))
    _run(_starting, monkeypatch, batch=3)
    timed = "".join("p" if step == "prepare" else "L" for step in order)
    chunks = timed.split("L")[:-1]  # the prepares before each load
    assert set(chunks) == {"p", "ppp"}, timed  # correctness cases one by one; timed requests: all 3, then the load



@pytest.mark.parametrize("batch", [1, 2])
def test_a_time_from_requests_of_several_calls_says_it_is_for_trusted_solutions(monkeypatch, batch):
    """Through score_kernel, as a result reaches the user: batch > 1 is flagged in message and details."""
    from scoring.kernel import protocol

    real = gpu.score_on_gpu

    def fake_flow(ctx, spec, torch):
        monkeypatch.setattr(gpu, "score_on_gpu", real)  # _run drives the real flow on the fakes
        return _run(_starting, monkeypatch, batch=spec.batch)

    monkeypatch.setattr(protocol, "find_cuda", lambda: (_fake_torch(), "Fake GPU (CPU)"))
    monkeypatch.setattr(gpu, "score_on_gpu", fake_flow)
    result = protocol.score_kernel(types.SimpleNamespace(params={"n": 5000, "batch": batch}, variant="fake"))
    reps = result["details"]["reps"]
    if batch == 1:
        assert "batch_warning" not in result["details"] and "trusted" not in result["message"]
        assert f"over {reps} timed calls (" in result["message"]
    else:
        assert result["details"]["batch_warning"] == protocol.BATCH_WARNING
        assert f"over {reps} timed requests of 2 calls; {protocol.BATCH_WARNING} (" in result["message"]


class _Pauses:
    """The scorer context's pause_strays / resume_strays, recording when the candidate is stopped."""

    def __init__(self, complete=True):
        self.paused, self.complete = False, complete
        self.pauses, self.resumes, self.keeps = 0, 0, []

    def pause_strays(self, keep=()):
        self.paused = True
        self.pauses += 1
        self.keeps.append(list(keep))
        return [31337], self.complete

    def resume_strays(self, pids):
        assert pids == [31337]
        self.paused = False
        self.resumes += 1


def _recording(pauses, calls):
    """A fake peer class whose calls record whether the candidate's processes were stopped."""

    class Peer(_FakePeer):
        def one_call(self, slot, n):
            calls.append((type(self).__name__, _FakePeer.alive, pauses.paused))
            return super().one_call(slot, n)

    return Peer


def test_the_loop_times_the_copy_peer_with_the_candidates_processes_stopped(monkeypatch):
    pauses, copy_calls, cand_calls = _Pauses(), [], []
    copy_cls, cand_base = _recording(pauses, copy_calls), _recording(pauses, cand_calls)

    class Candidate(cand_base, _CandidatePeer):
        pass

    details = _run(_starting, monkeypatch, peer_cls=Candidate, copy_cls=copy_cls,
                   ctx_extra={"pause_strays": pauses.pause_strays, "resume_strays": pauses.resume_strays})
    in_loop = [paused for _, alive, paused in copy_calls if alive]
    assert len(in_loop) == details["reps"] + 2  # every copy-peer call of the loop (warm-up included) ...
    assert all(in_loop)                          # ... with the candidate stopped
    assert not any(paused for _, alive, paused in copy_calls if not alive)  # the clean phases: no candidate
    assert not any(paused for _, _, paused in cand_calls)                   # the candidate runs when called
    assert pauses.pauses == pauses.resumes == len(in_loop) and not pauses.paused
    assert all(keep == [_FakePeer.pid] for keep in pauses.keeps)  # the copy peer is never stopped
    assert details["in_loop_estimate_ms"] == pytest.approx(
        details["harness_median_ms"] - details["copy_in_loop_harness_median_ms"] + details["copy_floor_ms"])


def test_a_candidate_that_cannot_all_be_stopped_is_interference_and_is_resumed(monkeypatch):
    pauses = _Pauses(complete=False)
    with pytest.raises(Invalid) as info:
        _run(_starting, monkeypatch, ctx_extra={"pause_strays": pauses.pause_strays,
                                                "resume_strays": pauses.resume_strays})
    assert info.value.reason == "peer_interference" and "could not all be stopped" in info.value.message
    assert pauses.pauses == pauses.resumes == 1 and not pauses.paused


def test_pin_cpus_gives_the_harness_and_the_copy_peer_cpus_of_their_own(monkeypatch):
    """Variant parameter pin_cpus (scoring/kernel/cpus.py): on a machine of 8 CPUs the harness's thread
    runs on CPU 7 during the scoring (and is given back its CPUs after), the copy peer on 6, and the
    candidate's process on 0-5; off by default."""
    from scoring.kernel import cpus

    pinned = []

    class Recorded(cpus.Pinned):
        def __enter__(self):
            pinned.append(("enter", self.cpus))
            return self

        def __exit__(self, *exc):
            pinned.append(("exit", self.cpus))

    monkeypatch.setattr(cpus, "available", lambda: frozenset(range(8)))
    monkeypatch.setattr(cpus, "cores", lambda available: [frozenset({c}) for c in sorted(available)])  # no SMT
    monkeypatch.setattr(cpus, "Pinned", Recorded)
    details = _run(_starting, monkeypatch, pin_cpus=True)
    assert pinned == [("enter", frozenset({7})), ("exit", frozenset({7}))]
    assert details["_copy_peer"].cpus == frozenset({6})
    assert details["_candidate_peer"].cpus == frozenset(range(6))
    assert details["cpus"] == {"harness": [7], "copy_peer": [6], "candidate": [0, 1, 2, 3, 4, 5], "idle_siblings": []}

    pinned.clear()
    details = _run(_starting, monkeypatch)
    assert pinned == [("enter", None), ("exit", None)] and details["cpus"] is None
    assert details["_copy_peer"].cpus is None and details["_candidate_peer"].cpus is None


def test_pin_cpus_gives_whole_cores_and_needs_enough_of_them(monkeypatch, tmp_path):
    """The harness and the copy peer each get a physical core (the harness one CPU of it, its
    hyperthread siblings to no one; the copy peer all of it), whatever the siblings' numbering; the
    candidate the other cores."""
    from scoring.kernel import cpus

    # siblings numbered (i, i + 4): cores {0,4} {1,5} {2,6} {3,7}
    spread = [frozenset({i, i + 4}) for i in range(4)]
    assert cpus.plan(frozenset(range(8)), spread) == cpus.CpuPlan(
        harness=frozenset({3}), copy_peer=frozenset({2, 6}), candidate=frozenset({0, 1, 4, 5}), idle=frozenset({7}))
    # siblings numbered (2i, 2i + 1): cores {0,1} {2,3} {4,5} {6,7}
    paired = [frozenset({2 * i, 2 * i + 1}) for i in range(4)]
    assert cpus.plan(frozenset(range(8)), paired) == cpus.CpuPlan(
        harness=frozenset({6}), copy_peer=frozenset({4, 5}), candidate=frozenset({0, 1, 2, 3}), idle=frozenset({7}))
    # a core with a sibling this process may not use is not whole: skipped
    assert cpus.plan(frozenset(range(7)), paired).harness == frozenset({4})
    assert cpus.plan(frozenset(range(4)), paired) is None  # two cores: nothing left for the candidate
    assert cpus.parse_list("0-2,8,10-11\n") == {0, 1, 2, 8, 10, 11}
    # sysfs read for CPU 3 ("3,7") but not for CPU 7: one core {3, 7}, not {3, 7} and {7}
    monkeypatch.setattr(cpus, "SYS_CPU", tmp_path)
    (tmp_path / "cpu3" / "topology").mkdir(parents=True)
    (tmp_path / "cpu3" / "topology" / "thread_siblings_list").write_text("3,7\n")
    assert cpus.cores(frozenset({0, 3, 7})) == [frozenset({0}), frozenset({3, 7})]
    logged = []
    monkeypatch.setattr(cpus, "available", lambda: frozenset({0, 1}))
    details = _run(_starting, monkeypatch, pin_cpus=True, ctx_extra={"log": logged.append})
    assert details["cpus"] is None and any("pin_cpus needs two whole cores" in line for line in logged), logged
    with pytest.raises(ValueError, match="pin_cpus must be true or false"):
        KernelSpec.from_params({"n": 10, "pin_cpus": "yes"})


def test_pinned_puts_the_thread_on_its_cpus_and_gives_them_back():
    import os

    from scoring.kernel import cpus

    before = os.sched_getaffinity(0)
    one = frozenset({max(before)})
    with pytest.raises(RuntimeError):
        with cpus.Pinned(one):
            assert os.sched_getaffinity(0) == one
            raise RuntimeError("a rejection inside the scoring")
    assert os.sched_getaffinity(0) == before
    with cpus.Pinned(None):
        assert os.sched_getaffinity(0) == before


class _LoggedClock:
    """gpu.time with every perf_counter() read logged (the timed window's ends)."""

    def __init__(self, log):
        self.log = log

    def perf_counter(self):
        self.log.append("clock")
        return time.perf_counter()

    def __getattr__(self, name):
        return getattr(time, name)


def test_answers_are_checked_outside_the_timed_window(monkeypatch):
    """A request's answer is exchanged between t0 and t1 and its form checked only after t2 (the barrier's
    end); a ping's after its round trip was timed: the checks never lengthen a timed round trip."""
    log = []

    class Logged(_CandidatePeer):
        def exchange(self, op, *args, timeout):
            log.append(f"exchange {op}")
            return super().exchange(op, *args, timeout=timeout)

        def checked(self, op, answer, where=""):
            log.append(f"checked {op}")
            return super().checked(op, answer, where)

    monkeypatch.setattr(gpu, "time", _LoggedClock(log))
    _run(_starting, monkeypatch, peer_cls=Logged)
    requests = [i for i, step in enumerate(log) if step == "exchange cuda_calls"]
    pings = [i for i, step in enumerate(log) if step == "exchange ping"]
    assert len(requests) > 30 and len(pings) == gpu.PINGS
    for i in requests:  # t0, the round trip, t1, (barrier), t2, then the check
        window = log[i - 1:i + 4]
        assert window == ["clock", "exchange cuda_calls", "clock", "clock", "checked cuda_calls"], window
    for i in pings:
        assert log[i - 1:i + 3] == ["clock", "exchange ping", "clock", "checked ping"], log[i - 1:i + 3]


@pytest.mark.parametrize("change, field", [({"dtype": {(1, 2): "torch.int32"}}, "calls[0].meta.dtype"),
                                           ({"shape": [10**5000]}, "calls[0].meta.shape[0]")])
def test_a_call_record_of_the_wrong_form_is_a_protocol_error(monkeypatch, change, field):
    """What the candidate's process reports of an output is checked before it is compared or shown."""
    from scoring.errors import CandidateProtocolError

    class Hostile(_CandidatePeer):
        def one_call(self, slot, n):
            answer = super().one_call(slot, n)
            answer["meta"].update(change)
            return answer

    with pytest.raises(CandidateProtocolError) as info:
        _run(_starting, monkeypatch, peer_cls=Hostile)
    assert info.value.details["field"] == field and len(info.value.message) < 400, info.value.message
