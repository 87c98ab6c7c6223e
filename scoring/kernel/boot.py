"""Code run inside the candidate's process for kernel scoring (the untrusted side of the protocol).

Passed to `python -I -B -c` by scoring.kernel.peer, with the request and answer pipes, the
entry point, the mode ("cpu" or "cuda"), how long to poll for a request before blocking (seconds;
0: block at once) and the folders and /proc entries that are off limits.
It speaks the framing of scoring.candidate (("call", args, {}) in, ("ok", value) out), so the
scorer's CandidateProcess times, limits and kills it as any other candidate. args[0] is an op:

  cpu_slots (capacity,)        make two input slots in this process (interpreter path)
  cpu_call  (slot, data)       copy the input bytes into a slot, call the entry point, answer
                               the output's metadata, its bytes (only for a dense, contiguous int32
                               CPU tensor of the input's shape: any other is rejected from its
                               metadata), and the input's bytes after the call
  cuda_slots (descriptors,)    open the scorer's input slots (CUDA IPC; batch + 1 of them)
  cuda_calls ([[slot, n], ...])  for each pair in turn: call the entry point on slot[:n], synchronize
                               the device, export the output; answer {"calls": [...]}, each the
                               output's metadata and its CUDA IPC handle (the scorer reads it in its
                               own process)
  recheck (id,)                the bytes of an output returned earlier (interpreter path)
  sync                         torch.cuda.synchronize()
  release (id,)                forget an output returned earlier

Nothing here is trusted: the scorer checks every answer in its own process (its form first, before
it reads any of it: scoring/kernel/peer.py ANSWERS) and times every call with its own clock. The
audit hook is a tripwire for plain reads of the scorer's files and process, not a sandbox (see
environments/triton_cumsum/SCORING.md).
"""

from scoring.candidate_boot import ENTRY, FRAMING, TRIPWIRE

KERNEL_BOOT = r'''
import os, sys, pickle, struct, traceback, importlib, ctypes

IN_FD, OUT_FD = int(sys.argv[1]), int(sys.argv[2])
FILE, FUNC, MODE, SPIN_S = sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6])
DENY = tuple(p for p in sys.argv[7:] if p)
if SPIN_S > 0:
    # poll for the next request before blocking: a blocked reader's wake-up costs ~0.1 ms in a VM,
    # and varies, inside the scorer's timed window (benchmarks/round_trip.py)
    import select as _select_module, time as _time_module

    def _spinning(read, select, clock, spin_s):
        def spin_read(fd, n):
            end, fds = clock() + spin_s, [fd]
            while clock() < end:
                if select(fds, [], [], 0)[0]:
                    break
            return read(fd, n)
        return spin_read

    _FRAME_READ = _spinning(os.read, _select_module.select, _time_module.perf_counter, SPIN_S)
    del _spinning
''' + TRIPWIRE + FRAMING + ENTRY + r'''

try:
    import torch
    from torch.multiprocessing.reductions import reduce_tensor as _reduce_tensor
except BaseException as exc:
    _send(("raised", type(exc).__name__, "the kernel environment needs torch: %s" % exc, _tail(exc)))
    os._exit(0)
# bound before the candidate's import: patching torch.cuda.synchronize (a timer-patching cheat)
# must not make the protocol answer before the candidate's work is done
_cuda_sync, _ipc_collect = torch.cuda.synchronize, torch.cuda.ipc_collect
import time as _time
_clock = _time.perf_counter

fn = _load_entry()
if fn is not None:
    _send(("ready",))

held = {}
slots = []
counter = [0]


def _bytes_of(t):
    t = t.detach()
    if t.device.type != "cpu" or not t.is_contiguous():
        t = t.contiguous().cpu()
    size = t.numel() * t.element_size()
    return ctypes.string_at(t.data_ptr(), size) if size else b""


def _type_name(y):
    return ("%s.%s" % (type(y).__module__, type(y).__name__))[:200]  # the scorer takes 300 characters at most


def _describe(y, x):
    if not isinstance(y, torch.Tensor):
        return {"tensor": False, "type": _type_name(y)}
    meta = {
        "tensor": True,
        "type": _type_name(y),
        "subclass": type(y) is not torch.Tensor,
        "dtype": str(y.dtype),
        "device": str(y.device),
        # a tensor whose memory does not hold its values: another layout (sparse: no strides, no storage),
        # nested, or a lazy negative / conjugate view or a zero tensor (its bytes are not its values)
        "layout": str(y.layout)[:200],
        "nested": bool(y.is_nested),
        "neg": bool(y.is_neg()),
        "conj": bool(y.is_conj()),
        "zero": bool(y._is_zerotensor()),
        "requires_grad": bool(y.requires_grad),
        "aliases_input": False,
    }
    if meta["nested"]:
        return meta  # no shape, strides or storage to read: check_meta rejects it by the above
    meta["shape"] = list(y.shape)
    if not _dense(meta):
        return meta
    meta.update({"stride": list(y.stride()), "contiguous": bool(y.is_contiguous()), "offset": int(y.storage_offset())})
    if y.device.type in ("cpu", "cuda"):
        ptr = int(y.untyped_storage().data_ptr())
        meta["storage_ptr"] = ptr
        meta["aliases_input"] = any(ptr == int(s.untyped_storage().data_ptr()) for s in slots)
        meta["ptr"] = int(y.data_ptr())
    return meta


def _dense(meta):
    return (meta.get("layout") == "torch.strided" and not meta.get("nested") and not meta.get("neg")
            and not meta.get("conj") and not meta.get("zero"))


def _usable(meta, device_type):
    return (meta.get("tensor") and not meta.get("subclass") and meta.get("dtype") == "torch.int32" and _dense(meta)
            and meta.get("device", "").split(":")[0] == device_type and not meta.get("aliases_input"))


def _keep(y):
    counter[0] += 1
    held[counter[0]] = y
    return counter[0]


def _export_cuda(y):
    _, a = _reduce_tensor(y.detach())
    return {"device": int(a[6]), "handle": bytes(a[7]), "storage_bytes": int(a[8]),
            "storage_offset_bytes": int(a[9]), "tensor_offset": int(a[3]), "ref_counter_handle": bytes(a[11]),
            "ref_counter_offset": int(a[12]), "event_handle": None if a[13] is None else bytes(a[13]),
            "event_sync_required": bool(a[14])}


def _open_cuda(d):
    from torch.multiprocessing.reductions import rebuild_cuda_tensor
    return rebuild_cuda_tensor(torch.Tensor, torch.Size([d["numel"]]), (1,), d["tensor_offset"],
                               torch.storage.TypedStorage, torch.int32, d["device"], d["handle"],
                               d["storage_bytes"], d["storage_offset_bytes"], False, d["ref_counter_handle"],
                               d["ref_counter_offset"], d["event_handle"], d["event_sync_required"])


def _cuda_call(slot, n):
    x = slots[slot][:n]
    t0 = _clock()
    y = fn(x)
    t1 = _clock()
    _cuda_sync()
    t2 = _clock()
    meta = _describe(y, x)
    answer = {"meta": meta, "ipc": None}
    if _usable(meta, "cuda") and meta.get("contiguous") and y.numel() > 0:  # an empty tensor has no IPC handle
        answer["ipc"] = _export_cuda(y)
    answer["id"] = _keep(y)
    # where the round trip goes (diagnostic only: a candidate can report anything here; the
    # scorer reports the trusted copy peer's figures)
    answer["phases_ms"] = [(t1 - t0) * 1e3, (t2 - t1) * 1e3, (_clock() - t2) * 1e3]
    return answer


def _op(op, args):
    if op == "cpu_slots":
        slots[:] = [torch.zeros(max(int(args[0]), 1), dtype=torch.int32) for _ in range(2)]
        return {}
    if op == "cpu_call":
        slot, data = args
        x = slots[slot][: len(data) // 4]
        x.copy_(torch.frombuffer(bytearray(data), dtype=torch.int32))
        y = fn(x)
        meta = _describe(y, x)
        answer = {"meta": meta, "input_after": _bytes_of(x), "data": None}
        # only an output the scorer will read: of the input's shape, contiguous (check_meta rejects any
        # other at once, and a huge one of the wrong shape would cost the scorer its bytes first)
        if _usable(meta, "cpu") and meta.get("shape") == [x.numel()] and meta.get("contiguous"):
            answer["data"] = _bytes_of(y)
        answer["id"] = _keep(y)
        return answer
    if op == "cuda_slots":
        slots[:] = [_open_cuda(d) for d in args[0]]
        return {}
    if op == "cuda_calls":
        return {"calls": [_cuda_call(int(slot), int(n)) for slot, n in args[0]]}
    if op == "recheck":
        y = held.get(args[0])
        return {"data": None if y is None else _bytes_of(y)}
    if op == "sync":
        if MODE == "cuda":
            _cuda_sync()
        return {}
    if op == "release":
        held.pop(args[0], None)
        if MODE == "cuda":
            _ipc_collect()
        return {}
    if op == "ping":
        return {}
    raise ValueError("unknown op %r" % (op,))


def _recorded():
    # the first forbidden accesses, as the scorer takes them (scoring/kernel/peer.py: 20 of 300 characters)
    return [v[:300] for v in _violations[:20] if type(v) is str]


for args, kwargs in (_requests() if fn is not None else ()):
    try:
        answer = _op(args[0], args[1:])
        answer["v"] = _recorded()
        _send(("ok", answer))
    except MemoryError:
        _send(("memory", "MemoryError in %s" % FUNC))
    except BaseException as exc:
        if _denied(exc) or _violations:
            raised = "%s: %s" % (type(exc).__name__[:200], str(exc)[:500])
            _send(("ok", {"v": _recorded(), "raised": raised}))
        else:
            _send(("raised", type(exc).__name__, str(exc)[:2000], _tail(exc)))
sys.stdout.flush()
os._exit(0)
'''
