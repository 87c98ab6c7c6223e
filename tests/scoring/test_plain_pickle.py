"""scoring/plain_pickle.py: the kernel peer's decoder. It decodes what the boots send (protocol 5, plain
values) exactly as pickle does, and refuses at once, with an UnpicklingError naming why, every frame
that would run code (classes, persistent ids) or stall the decoding (a hash bomb: a dict key or set
member that is a tuple of shared tuples, 2^64 steps to hash)."""

from __future__ import annotations

import math
import pickle
import time

import pytest

from scoring.plain_pickle import decode_strict

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
