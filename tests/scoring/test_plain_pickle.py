"""scoring/plain_pickle.py: the decoder of every answer frame (candidate.decode_answer). It decodes what
the boots send (protocol 5, plain values) exactly as pickle does, runs of numbers included (handed to the
C unpickler whole), and refuses at once, with an UnpicklingError naming why, every frame that would run
code (classes, persistent ids), reach outside it (out-of-band buffers) or stall the decoding (a hash
bomb: a dict key or set member that is a tuple of shared tuples, 2^64 steps to hash; keys sharing one
hash; a length bigger than the frame)."""

from __future__ import annotations

import math
import pickle
import pickletools
import random
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scoring.plain_pickle import HASH_SHARERS, PLAIN_OPCODES, StrictUnpickler, decode_strict

ROOT = Path(__file__).resolve().parents[2]

PLAIN = [
    ("ok", None), ("ok", {"v": []}),
    ("ok", {"meta": {"tensor": True, "dtype": "torch.int32", "shape": [100_000_000], "ptr": 2**63 - 1,
                     "offset": -5}, "ipc": {"handle": b"\x00\xff" * 32, "event_handle": None},
            "phases_ms": [0.25, 1e-9, -0.0], "id": 7, "data": bytes(range(256)) * 1000, "v": ["x" * 300]}),
    ("ok", {1: "int key", 2.5: "float key", b"k": "bytes key", None: 0, False: 1, "é\u2603": "text"}),
    ("ok", [{"same": "dict"}] * 5),  # one object referenced five times: the memo's GET
    ("ok", (1, (2, (3, ())))), ("ok", {1, "a", b"b"}), ("ok", frozenset({2.5, None})),
    ("ok", bytearray(b"\x01\x02")), ("ok", -(2**200)), ("ok", math.inf),
    ("raised", "ValueError", "message", "traceback"), ("forbidden", ["/proc/1/mem"]),
]


@pytest.mark.parametrize("value", PLAIN, ids=range(len(PLAIN)))
def test_plain_values_decode_as_pickle_decodes_them(value):
    data = pickle.dumps(value, protocol=5)
    assert decode_strict(data) == pickle.loads(data) == value


def test_a_list_holding_itself_decodes():
    loop: list = []
    loop.append(loop)
    decoded = decode_strict(pickle.dumps(("ok", loop), protocol=5))
    assert decoded[1][0] is decoded[1]


def _shared_chain(depth: int) -> bytes:
    """The opcodes (protocol 2, unframed) that push t_depth, where t_0 = () and t_k = (t_k-1, t_k-1):
    tiny, and 2^depth paths to hash. Built from opcodes: building the tuple in Python is cheap, but
    pickling a dict or set that holds it would hash it here."""
    ops = bytearray(b")q\x000")  # EMPTY_TUPLE, BINPUT 0, POP
    for level in range(depth):
        ops += b"h" + bytes([level]) + b"h" + bytes([level]) + b"\x86q" + bytes([level + 1]) + b"0"
    return bytes(ops + b"h" + bytes([depth]))


BOMBS = {
    "dict key (SETITEM)": b"\x80\x02}" + _shared_chain(64) + b"K\x01s.",
    "dict key (SETITEMS)": b"\x80\x02}(" + _shared_chain(64) + b"K\x01u.",
    "dict key (DICT)": b"\x80\x02(" + _shared_chain(64) + b"K\x01d.",
    "set member (ADDITEMS)": b"\x80\x04\x8f(" + _shared_chain(64) + b"\x90.",
    "frozenset member": b"\x80\x04(" + _shared_chain(64) + b"\x91.",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_hash_bomb_is_refused_at_once(name):
    data = BOMBS[name]
    assert len(data) < 600
    started = time.perf_counter()
    with pytest.raises(pickle.UnpicklingError, match="of type tuple; only str, bytes, int, float, bool and None"):
        decode_strict(data)
    assert time.perf_counter() - started < 0.1


def test_the_bombs_are_well_formed():
    """The same frames with a 3-level chain decode under pickle to the dict or set they stand for: each
    bomb above is refused for its key, not for a broken frame."""
    chain: tuple = ()
    for _ in range(3):
        chain = (chain, chain)
    expected = {"dict key (SETITEM)": {chain: 1}, "dict key (SETITEMS)": {chain: 1}, "dict key (DICT)": {chain: 1},
                "set member (ADDITEMS)": {chain}, "frozenset member": frozenset({chain})}
    for name, data in BOMBS.items():
        small = data.replace(b"h@", b"h\x03")
        assert small != data and pickle.loads(small) == expected[name], name


@pytest.mark.parametrize("data, why", [
    (pickle.dumps(print, protocol=5), "is not one of a plain value's"),         # STACK_GLOBAL
    (pickle.dumps(math.pi.__class__, protocol=2), "is not one of a plain value's"),  # GLOBAL
    (b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00idt\x85R.", "is not one of a plain value's"),
    (b"\x80\x02P0\n.", "is not one of a plain value's"),                          # PERSID
    (b"\x80\x05\x97.", "is not one of a plain value's"),                          # NEXT_BUFFER
])
def test_classes_persistent_ids_and_buffers_are_refused(data, why):
    with pytest.raises(pickle.UnpicklingError, match=why):
        decode_strict(data)


def test_a_long_number_in_text_is_refused_by_pythons_digit_limit():
    with pytest.raises(ValueError, match="digits"):
        decode_strict(b"\x80\x02L" + b"9" * 10_000 + b"L\n.")


# -- runs of numbers, against pickle.loads ----------------------------------------------------------

NUMBERS = {  # each makes other opcodes: BINFLOAT, BININT1, BININT2, BININT, LONG1 (8 and 9+ bytes)...
    "float": lambda r: r.choice((1, -1)) * r.random() * 10.0 ** r.randrange(-300, 300),
    "special float": lambda r: r.choice((math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, sys.float_info.max)),
    "uint8": lambda r: r.randrange(256), "uint16": lambda r: r.randrange(65536),
    "int32": lambda r: r.randrange(-2**31, 2**31), "int64": lambda r: r.randrange(-2**63, 2**63),
    "big int": lambda r: r.randrange(-2**200, 2**200), "constant": lambda r: r.choice((None, True, False)),
}
ATOMS = {**NUMBERS, "str": lambda r: r.choice(("", "é\u2603", "x" * r.randrange(300))),
         "bytes": lambda r: r.randbytes(r.choice((0, 1, 70, 300)))}


def _numbers(r: random.Random) -> list:
    """A list of numbers of one kind or of all kinds mixed, long enough to cross batches and frames."""
    n = r.choice((2, 3, 17, 999, 1000, 1001, 2500, 20_000))
    if r.random() < 0.5:
        one = r.choice(list(NUMBERS.values()))
        return [one(r) for _ in range(n)]
    return [r.choice(list(NUMBERS.values()))(r) for _ in range(n)]


def _value(r: random.Random, depth: int = 3, sets: bool = True):
    """A random plain value: atoms, lists of numbers, tuples, dicts, sets (protocol 4 on: before, a set is
    pickled as a class's reduction), and lists met twice (the memo)."""
    if depth == 0 or r.random() < 0.2:
        return r.choice(list(ATOMS.values()))(r)
    kind = r.randrange(7)
    if kind == 0:
        return _numbers(r)
    if kind == 1:
        return tuple(_value(r, depth - 1, sets) for _ in range(r.choice((1, 2, 3, 4, 9))))
    if kind == 2:
        keys = [ATOMS[r.choice(("str", "uint16", "int64", "float", "bytes"))](r) for _ in range(r.randrange(6))]
        return {k: _value(r, depth - 1, sets) for k in keys}
    if kind == 3 and sets:
        members = {r.choice((ATOMS["str"], NUMBERS["int32"], NUMBERS["float"]))(r) for _ in range(r.randrange(5))}
        return r.choice((set, frozenset))(members)
    if kind == 4:
        shared = _numbers(r)
        return [shared, _value(r, depth - 1, sets), shared]
    return [_value(r, depth - 1, sets) for _ in range(r.randrange(5))]


def _same(a, b, seen: dict | None = None) -> bool:
    """a and b alike: types exact, NaN equal to NaN, -0.0 told from 0.0, and containers shared alike."""
    seen = {} if seen is None else seen
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) not in (list, tuple, dict, set, frozenset, bytearray) or type(a) is tuple and not a:
        return a == b
    if id(a) in seen or id(b) in seen:  # met before: the same pair again (both decoders share through the memo)
        return seen.get(id(a)) is b and seen.get(id(b)) is a
    seen[id(a)], seen[id(b)] = b, a
    if type(a) in (set, frozenset):
        return sorted(map(repr, a)) == sorted(map(repr, b))
    if type(a) is dict:
        a, b = list(a.items()), list(b.items())
    return len(a) == len(b) and all(_same(x, y, seen) for x, y in zip(a, b))


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("protocol", [3, 4, 5])  # 3: no frames
def test_random_plain_values_decode_as_pickle_decodes_them(seed, protocol):
    value = ("ok", _value(random.Random(seed), sets=protocol >= 4))
    data = pickle.dumps(value, protocol=protocol)
    expected = pickle.loads(data)
    assert _same(decode_strict(data), expected)
    assert _same(decode_strict(data, runs=False), expected)


@pytest.mark.parametrize("kind", sorted(NUMBERS))
def test_long_lists_of_each_kind_of_number_decode_as_pickle_decodes_them(kind):
    r = random.Random(kind)
    data = pickle.dumps(("ok", [NUMBERS[kind](r) for _ in range(30_000)]), protocol=5)
    assert _same(decode_strict(data), pickle.loads(data))


def test_a_frame_that_cuts_a_run_in_two_decodes():
    """Pickle's frames (~64 KB) end anywhere: here between two BINFLOATs of one batch."""
    r = random.Random(3)
    value = ("ok", [r.random() for _ in range(20_000)])
    data = pickle.dumps(value, protocol=5)
    names = [op.name for op, _, _ in pickletools.genops(data)]
    assert any(names[i - 1:i + 2] == ["BINFLOAT", "FRAME", "BINFLOAT"] for i in range(1, len(names) - 1))
    assert decode_strict(data) == value


@pytest.mark.parametrize("value", [
    [0.5] * 1000, [0.5] * 20_000, list(range(1000)), list(range(-500, 500)), [2**40 + i for i in range(1000)],
    [None, True, False, 7] * 250, [1.5, 2, None, 70_000, -3, 2**62] * 100,
], ids=["floats", "floats across frames", "uint8-uint16", "signed", "int64", "constants", "mixed"])
def test_a_batch_of_numbers_is_decoded_whole_not_op_by_op(monkeypatch, value):
    for code in b"GKMJ\x8aN\x88\x89":
        monkeypatch.setitem(StrictUnpickler.dispatch, code, lambda self: pytest.fail("decoded op by op"))
    assert decode_strict(pickle.dumps(("ok", value), protocol=5)) == ("ok", value)


def _floats(n: int) -> bytes:
    return b"".join(b"G" + struct.pack(">d", i + 0.25) for i in range(n))


def _outcome(decode, data: bytes):
    try:
        return "value", decode(data)
    except Exception:
        return "refused", None


@pytest.mark.parametrize("cut", range(1, 10))
def test_a_run_whose_last_number_is_cut_reads_as_pickle_reads_it(cut):
    """The bytes after a cut BINFLOAT are its argument for pickle too: refused (truncated), or a value
    both decoders agree on."""
    for tail in (b"", b"l.", b"l.\x00\x00\x00\x00\x00\x00\x00l."):
        data = b"\x80\x05(" + _floats(10)[:-cut] + tail
        strict, expected = _outcome(decode_strict, data), _outcome(pickle.loads, data)
        assert strict[0] == expected[0] and _same(strict[1], expected[1]), (cut, tail)
    assert _outcome(decode_strict, b"\x80\x05(" + _floats(10)[:-cut])[0] == "refused"


def test_a_run_stops_at_an_opcode_hidden_at_a_boundary():
    # MEMOIZE between two runs, then BINGET of it: the memo holds the number the run before it ended on
    data = b"\x80\x05(" + _floats(5) + b"\x94" + _floats(5) + b"h\x00l."
    assert decode_strict(data) == pickle.loads(data) == [i + 0.25 for i in range(5)] * 2 + [4.25]
    # a LONG1 of 9 bytes (past the run's) and a string inside a batch of ints
    data = b"\x80\x05(" + b"K\x01" * 20 + b"\x8a\x09" + b"\xff" * 9 + b"X\x01\x00\x00\x00a" + b"M\x00\x01" * 20 + b"l."
    assert _same(decode_strict(data), pickle.loads(data))
    # a class, or a hash bomb, right after a run
    with pytest.raises(pickle.UnpicklingError, match="is not one of a plain value's"):
        decode_strict(b"\x80\x05(" + _floats(20) + b"cos\nsystem\n.")
    started = time.perf_counter()
    with pytest.raises(pickle.UnpicklingError, match="of type tuple"):
        decode_strict(b"\x80\x02(" + _floats(20) + b"}" + _shared_chain(64) + b"K\x01sl.")
    assert time.perf_counter() - started < 0.1


def test_a_length_bigger_than_the_frame_is_refused_at_once():
    started = time.perf_counter()
    for data in (b"\x80\x05\x96" + struct.pack("<Q", 2**32) + b".",   # BYTEARRAY8 of 4 GB
                 b"\x80\x05\x95" + struct.pack("<Q", 2**40) + b"N."):  # FRAME of 1 TB
        with pytest.raises(pickle.UnpicklingError, match="truncated"):
            decode_strict(data)
        with pytest.raises(pickle.UnpicklingError, match="truncated"):
            pickle.loads(data)
    assert time.perf_counter() - started < 0.1
    assert decode_strict(pickle.dumps(bytearray(b"\x00\x01" * 50_000), protocol=5)) == bytearray(b"\x00\x01" * 50_000)


NOT_PLAIN = sorted(op.code.encode("latin-1") for op in pickletools.opcodes if op.name not in PLAIN_OPCODES)


@pytest.mark.parametrize("code", NOT_PLAIN, ids=[c.hex() for c in NOT_PLAIN])
def test_every_other_opcode_is_refused_even_after_a_run(code):
    for prefix in (b"\x80\x05N", b"\x80\x05(" + _floats(20), b"\x80\x05(" + b"K\x07" * 20):
        with pytest.raises(pickle.UnpicklingError, match="is not one of a plain value's"):
            decode_strict(prefix + code + b"\x00" * 16 + b".")


# -- keys that share a hash -------------------------------------------------------------------------

P = 2**61 - 1  # an int's hash is the int modulo P: k * P hash to 0


def _dict_frame(keys: list[int], batch: int = 1000) -> bytes:
    """A dict of these int keys (to None), built from opcodes (building it here would take n^2 steps)."""
    ops = bytearray(b"\x80\x04}")
    for i in range(0, len(keys), batch):
        ops += b"(" + b"".join(b"\x8a\x10" + k.to_bytes(16, "little", signed=True) + b"N" for k in keys[i:i + batch])
        ops += b"u"
    return bytes(ops + b".")


def test_int_keys_sharing_a_hash_are_refused_past_the_limit():
    keys = [k * P for k in range(HASH_SHARERS)]
    assert decode_strict(_dict_frame(keys)) == dict.fromkeys(keys)
    with pytest.raises(pickle.UnpicklingError, match=f"more than {HASH_SHARERS} keys of one dict or set share"):
        decode_strict(_dict_frame(keys + [HASH_SHARERS * P]))


def test_keys_sharing_a_hash_are_counted_across_batches_and_per_container():
    keys = list(range(3000))
    for k in range(HASH_SHARERS + 1):  # one in every batch of 100
        keys[k * 100 + 50] = (k + 1) * P
    with pytest.raises(pickle.UnpicklingError, match="share the hash 0"):
        decode_strict(_dict_frame(keys, batch=100))
    many = [{0: i, P: i} for i in range(1000)]  # a thousand dicts with the same two keys: fine
    assert decode_strict(pickle.dumps(("ok", many), protocol=5)) == ("ok", many)


def test_float_keys_and_set_members_sharing_a_hash_are_refused():
    floats = [x for x in (2.0 ** m for m in range(-1000, 1000)) if hash(x) == hash(0.5)]  # 2^m: hash 2^(m mod 61)
    assert len(floats) > HASH_SHARERS
    for value in (dict.fromkeys(floats), set(floats), frozenset(floats)):
        with pytest.raises(pickle.UnpicklingError, match="share the hash"):
            decode_strict(pickle.dumps(value, protocol=5))
    few = set(floats[:HASH_SHARERS])
    assert decode_strict(pickle.dumps(few, protocol=5)) == few


def test_twenty_thousand_keys_sharing_a_hash_are_refused_at_once():
    """Inserted, they would take some 2 * 10^8 steps (seconds, in C): refused after the 17th."""
    data = _dict_frame([k * P for k in range(20_000)])
    started = time.perf_counter()
    with pytest.raises(pickle.UnpicklingError, match="share the hash"):
        decode_strict(data)
    assert time.perf_counter() - started < 0.5


# -- the scorer's default ---------------------------------------------------------------------------

BOMB_CANDIDATE = '''
import __main__, os, struct, time

def f():
    # ("ok", {t64: 1}) where t_k = (t_k-1, t_k-1): a few hundred bytes, 2^64 steps to hash
    ops = bytearray(b"\\x80\\x02(X\\x02\\x00\\x00\\x00ok})q\\x000")
    for level in range(64):
        ops += b"h" + bytes([level]) + b"h" + bytes([level]) + b"\\x86q" + bytes([level + 1]) + b"0"
    data = bytes(ops + b"h@K\\x01st.")
    os.write(__main__.OUT_FD, struct.pack(">Q", len(data)) + data)
    time.sleep(100)  # killed at once by the scorer, unless it stalls (then this ends on its own)
'''


# the scorer's side, in a process of its own: were the bomb decoded by the C unpickler, that process would
# hash for ever, where no pytest timeout reaches (it is killed at the subprocess's timeout instead)
SCORER_SIDE = """
import sys, time
from pathlib import Path
from scoring.candidate import CandidateProcess

proc = CandidateProcess(Path(sys.argv[1]), "solution.py", "f", memory_mb=1024, output_cap_bytes=1 << 20,
                        startup_timeout_s=30)
started = time.monotonic()
try:
    proc.call(timeout=60)
except Exception as exc:
    print(type(exc).__name__, round(time.monotonic() - started, 3), exc)
finally:
    proc.close()
"""


def test_a_hash_bomb_answer_is_a_protocol_error_at_once_by_default(tmp_path):
    """CandidateProcess decodes strictly by default: the bomb is refused, the scoring not left to time out."""
    (tmp_path / "solution.py").write_text(textwrap.dedent(BOMB_CANDIDATE))
    run = subprocess.run([sys.executable, "-c", SCORER_SIDE, str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=90)
    assert run.returncode == 0, run.stderr[-2000:]
    kind, seconds, message = run.stdout.strip().split(" ", 2)
    assert kind == "CandidateProtocolError" and "a dict key of type tuple" in message, run.stdout
    assert float(seconds) < 5, run.stdout
