"""Answers of the wrong form from the candidate's process (scoring/kernel/peer.py ANSWERS): a solution can
replace the kernel boot's functions and answer anything the channel decodes. Each is a protocol_error,
at once and with a short message naming the field, before the scorer compares, formats or stores any
of it (the red-team's proofs of concept: a 2^64-step comparison, a repr of 2 million leaves, a dict
with a tuple key in the details, an int of 5,000 digits in a message)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from triton_cumsum_support import ROOT, require_kernel_stack

require_kernel_stack()

from scoring.errors import CandidateProtocolError, Invalid  # noqa: E402
from scoring.kernel import checks  # noqa: E402

TESTS = Path(__file__).resolve().parents[1]


def _chain(depth: int) -> list:
    """depth lists, each holding its successor twice: tiny when pickled, 2^depth paths to walk."""
    node: list = []
    for _ in range(depth):
        node = [node, node]
    return node


def _meta(**changes) -> dict:
    meta = {"tensor": True, "type": "torch.Tensor", "subclass": False, "dtype": "torch.int32", "shape": [16],
            "stride": [1], "device": "cpu", "contiguous": True, "offset": 0, "requires_grad": False,
            "aliases_input": False, "storage_ptr": 94_000_000_000_000, "ptr": 94_000_000_000_000,
            "layout": "torch.strided", "nested": False, "neg": False, "conj": False, "zero": False}
    return {**meta, **changes}


def _cpu_call(**changes) -> dict:
    return {"meta": _meta(), "input_after": bytes(64), "data": bytes(64), "id": 3, "v": [], **changes}


def _ipc(**changes) -> dict:
    ipc = {"device": 0, "handle": b"h" * 64, "storage_bytes": 4096, "storage_offset_bytes": 0, "tensor_offset": 0,
           "ref_counter_handle": b"/torch_1_2_3", "ref_counter_offset": 7, "event_handle": None,
           "event_sync_required": False}
    return {**ipc, **changes}


def _call(**changes) -> dict:
    return {"meta": _meta(device="cuda:0"), "ipc": _ipc(), "id": 5, "phases_ms": [0.4, 0.01, 0.02], **changes}


HONEST = [
    ("cpu_slots", {"v": []}), ("cuda_slots", {"v": []}), ("sync", {"v": []}), ("release", {"v": []}),
    ("ping", {"v": []}), ("cpu_call", _cpu_call()), ("cpu_call", _cpu_call(data=None)),
    ("cpu_call", _cpu_call(meta={"tensor": False, "type": "builtins.list"})),
    ("cpu_call", _cpu_call(meta={k: v for k, v in _meta(device="meta").items() if k not in ("storage_ptr", "ptr")})),
    ("recheck", {"data": bytes(40), "v": []}), ("recheck", {"data": None, "v": []}),
    ("cuda_calls", {"calls": [_call(), _call(ipc=None, id=6), _call(ipc=_ipc(event_handle=b"e" * 64))], "v": []}),
]

HOSTILE = [  # (op, answer, the field the error must name)
    ("cpu_call", _cpu_call(meta=_meta(storage_ptr=_chain(64))), "meta.storage_ptr"),   # compare_bomb
    ("cpu_call", _cpu_call(meta=_meta(dtype=_chain(64))), "meta.dtype"),               # dag_memory_amplification
    ("cpu_call", _cpu_call(meta=_meta(dtype={(1, 2): "torch.int32"})), "meta.dtype"),  # tuple_key_crash
    ("cpu_call", _cpu_call(meta=_meta(shape=[10**5000])), "meta.shape[0]"),            # bigint_scorer_error
    ("cpu_call", _cpu_call(meta=_meta(shape=[1] * 100_000)), "meta.shape"),
    ("cpu_call", _cpu_call(meta=_meta(stride=(1,))), "meta.stride"),
    ("cpu_call", _cpu_call(meta=_meta(dtype="torch.int32" * 100_000)), "meta.dtype"),
    ("cpu_call", _cpu_call(meta=_meta(contiguous=1)), "meta.contiguous"),
    ("cpu_call", _cpu_call(meta=_meta(offset=2**64)), "meta.offset"),
    ("cpu_call", _cpu_call(meta=_chain(64)), "meta"),
    ("cpu_call", _cpu_call(meta=_meta(extra=_chain(64))), "meta"),
    ("cpu_call", _cpu_call(data=bytearray(64)), "data"),
    ("cpu_call", _cpu_call(input_after=_chain(64)), "input_after"),
    ("cpu_call", _cpu_call(id=True), "id"),
    ("cpu_call", {**_cpu_call(), (1, 2): 3}, "the answer"),
    ("recheck", {"data": _chain(64), "v": []}, "data"),
    ("cuda_calls", {"calls": [_call()] * 9, "v": []}, "calls"),
    ("cuda_calls", {"calls": [_call(phases_ms=[math.nan, 0.0, 0.0])], "v": []}, "calls[0].phases_ms[0]"),
    ("cuda_calls", {"calls": [_call(phases_ms=[0.1, 0.2, math.inf])], "v": []}, "calls[0].phases_ms[2]"),
    ("cuda_calls", {"calls": [_call(ipc=_ipc(handle=b"h" * 2000))], "v": []}, "calls[0].ipc.handle"),
    ("cuda_calls", {"calls": [_call(ipc=_ipc(device=-(2**70)))], "v": []}, "calls[0].ipc.device"),
    ("cuda_calls", {"calls": [_call(), _call(meta=_meta(storage_ptr=_chain(64)))], "v": []},
     "calls[1].meta.storage_ptr"),
    ("cuda_calls", {"calls": _chain(64), "v": []}, "calls[0]"),
    ("ping", {"v": [_chain(64)]}, "v[0]"),
    ("ping", {"v": ["x"] * 21}, "v"),
    ("ping", {"v": ["/proc/1/" + "x" * 400]}, "v[0]"),
    ("ping", _chain(64), "the answer"),
    ("ping", {"v": [], "raised": "PermissionError: no"}, "raised"),
]


@pytest.mark.parametrize("op, answer", HONEST)
def test_the_boots_own_answers_pass_unchanged(op, answer):
    from scoring.kernel.peer import checked_answer

    assert checked_answer(op, answer, "the candidate", "on case 'x'") is answer


@pytest.mark.parametrize("index", range(len(HOSTILE)), ids=[f"{op}-{field}" for op, _, field in HOSTILE])
def test_an_answer_of_the_wrong_form_is_a_short_protocol_error_at_once(index):
    from scoring.kernel.peer import checked_answer

    op, answer, field = HOSTILE[index]
    started = time.perf_counter()
    with pytest.raises(CandidateProtocolError) as info:
        checked_answer(op, answer, "the candidate", "on case 'x'")
    assert time.perf_counter() - started < 0.5
    error = info.value
    assert error.reason == "protocol_error" and error.details["field"] == field, error.message
    assert error.message.startswith("on case 'x': ") and len(error.message) < 400, error.message
    assert len(json.dumps(error.details)) < 400, error.details


def test_a_forbidden_access_reported_in_an_answer_is_still_forbidden_access():
    from scoring.kernel.peer import checked_answer

    with pytest.raises(Invalid) as info:
        checked_answer("cpu_call", {"v": ["open /repo/reference_solutions/x.py"], "raised": "PermissionError: x"},
                       "the candidate", "on case 'x'")
    assert info.value.reason == "forbidden_access" and "reference_solutions" in info.value.message


def test_a_malformed_answer_kills_the_peers_process():
    from scoring.kernel.peer import KernelPeer

    class Proc:
        killed = 0

        def call_raw(self, *args, timeout):
            return b"the frame"

        def answer_of(self, frame):
            assert frame == b"the frame"
            return {"v": [], "data": _chain(64)}

        def kill(self):
            Proc.killed += 1

    peer = object.__new__(KernelPeer)
    peer.proc, peer.label = Proc(), "the candidate"
    with pytest.raises(CandidateProtocolError, match="data must be bytes"):
        peer.op("recheck", 1, timeout=1.0)
    assert Proc.killed == 1


def test_messages_show_what_the_candidate_reported_cut_short_and_escaped():
    """A 300-character dtype of control characters (the most the form allows) in a wrong_dtype message."""
    weird = "\x1b[2J[red]" * 30
    for meta, reason in ((_meta(dtype=weird), "wrong_dtype"), (_meta(device=weird), "wrong_device"),
                         ({"tensor": False, "type": weird}, "not_a_tensor"),
                         (_meta(shape=[2**63] * 64), "wrong_shape")):
        with pytest.raises(Invalid) as info:
            checks.check_meta(meta, 16, "cpu", "case 'x'")
        assert info.value.reason == reason and len(info.value.message) < 250, info.value.message
        assert "\x1b" not in info.value.message
    assert checks.shown("torch.int64") == "torch.int64" and checks.shown([2]) == "(2,)"
    assert checks.shown([10**30]).startswith("<a list of 1 ints") and checks.shown({}) == "<dict>"


# -- end to end: candidates that patch the boot, scored in a process of their own (before the fix, the
# first one never came back: a subprocess can be timed out, a comparison inside C cannot)

_PATCHING = '''
import __main__
import torch

_real = []


def _chain(depth):
    node = []
    for _ in range(depth):
        node = [node, node]
    return node


def _describe(y, x):
    meta = _real[0](y, x)
    {change}
    return meta


def prefix_sum(x):
    if not _real:  # the boot defines _describe after importing this file: patched at the first call
        _real.append(__main__._describe)
        __main__._describe = _describe
    return torch.zeros_like(x)
'''

POCS = {  # the red-team's folders under /tmp/redteam, and one more for the forbidden-access record
    "compare_bomb": ('meta["storage_ptr"] = _chain(64)', "meta.storage_ptr"),
    "dag_memory_amplification": ('meta["dtype"] = _chain(21)', "meta.dtype"),
    # refused while it is decoded (plain_pickle: a dict key must be an atom), before the schema is checked
    "tuple_key_crash": ('meta["dtype"] = {(1, 2): "torch.int32"}', "the frame"),
    "bigint_scorer_error": ('meta["shape"] = [10 ** 5000]', "meta.shape[0]"),
    "violations_record": ('__main__._recorded = lambda: [_chain(64)]', "v[0]"),
}

_SCORE = '''
import json, sys, time
from pathlib import Path
from triton_cumsum_support import score_directly

started = time.monotonic()
result = score_directly(Path(sys.argv[1]), timeout_s=60)
print(json.dumps({"reason": result["reason"], "message": result["message"], "details": result["details"],
                  "seconds": time.monotonic() - started}))
'''


@pytest.mark.parametrize("name", sorted(POCS))
def test_a_candidate_patching_the_boots_answers_gets_a_protocol_error_at_once(name, tmp_path):
    change, field = POCS[name]
    (tmp_path / name).mkdir()
    (tmp_path / name / "solution.py").write_text(_PATCHING.replace("{change}", change))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS / "triton_cumsum"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_SCORE), str(tmp_path / name)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(proc.stdout) < 5_000, f"a verdict of {len(proc.stdout)} characters"
    verdict = json.loads(proc.stdout)
    assert verdict["reason"] == "protocol_error", verdict["message"]
    assert verdict["details"]["field"] == field and verdict["details"]["op"] == "cpu_call", verdict["details"]
    expected = "a dict key of type tuple" if field == "the frame" else f"{field} must be "
    assert expected in verdict["message"] and len(verdict["message"]) < 400, verdict["message"]
    assert verdict["seconds"] < 30, verdict["seconds"]


_RAW_FRAME = '''
import os
import struct
import time
import __main__
import torch


def _bomb():
    """A pickle of {t: 1} where t = (t', t'), 64 levels of one shared tuple, whose key's hash
    walks 2^64 paths: about 500 bytes, built from opcodes (building the dict here would hash it)."""
    body = bytearray(b"\\x80\\x02}")                 # PROTO 2, EMPTY_DICT
    body += b")q\\x000"                                  # EMPTY_TUPLE, BINPUT 0, POP
    for level in range(64):  # BINGET, BINGET, TUPLE2, BINPUT, POP: memo[level + 1] = (memo[level],) * 2
        body += b"h" + bytes([level]) + b"h" + bytes([level]) + b"\\x86q" + bytes([level + 1]) + b"0"
    body += b"h@K\\x01s"                                 # BINGET 64 (the key), BININT1 1, SETITEM
    return pickle_frame(bytes(body) + b".")


def pickle_frame(dict_pickle):
    # ("ok", <the dict>): PROTO, MARK, "ok", the dict's opcodes, TUPLE, STOP
    inner = dict_pickle[2:-1]
    data = b"\\x80\\x02(X\\x02\\x00\\x00\\x00ok" + inner + b"t."
    return struct.pack(">Q", len(data)) + data


def prefix_sum(x):
    os.write(__main__.OUT_FD, _bomb())   # the answer to this call, before the boot's own
    time.sleep(3600)
    return torch.zeros_like(x)
'''


def test_a_hash_bomb_frame_is_a_protocol_error_at_once_not_a_stall(tmp_path):
    """A frame of a few hundred bytes whose decoding would hash a 64-level shared tuple (2^64 steps inside
    the C unpickler, where no timeout reaches: the scoring ran to its timeout) is refused by the kernel
    peer's strict decoder (scoring/plain_pickle.py) at once: a dict key must be an atom."""
    (tmp_path / "bomb").mkdir()
    (tmp_path / "bomb" / "solution.py").write_text(_RAW_FRAME)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS / "triton_cumsum"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_SCORE), str(tmp_path / "bomb")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdict = json.loads(proc.stdout)
    assert verdict["reason"] == "protocol_error", verdict["message"]
    assert "a dict key of type tuple" in verdict["message"] and len(verdict["message"]) < 400, verdict["message"]
    assert verdict["details"]["op"] == "cpu_call" and verdict["details"]["field"] == "the frame", verdict["details"]
    assert verdict["seconds"] < 30, verdict["seconds"]
