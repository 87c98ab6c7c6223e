"""A strict decoder for answer frames whose form is known: plain values only, in time linear in the frame.

`candidate.decode_answer` (the C unpickler, refusing every class) is fast, but a frame of a few hundred
bytes can still stall it: a dict whose key is a tuple of tuples that share their parts (t = (t, t),
64 times over) is hashed while it is decoded, and a tuple's hash walks every path, 2^64 steps, inside
C, where no timeout reaches. This decoder runs the opcodes of plain values only (no class, no
persistent id, no out-of-band buffer) and lets a dict key or a set member be an atom only (str, bytes,
int, float, bool, None), whose hash is linear in its size; anything else is an UnpicklingError naming
the opcode or the key's type.

It is Python (pickle's own pure-Python unpickler with a whitelisted opcode table), some 20x slower than
the C one per opcode: for the kernel protocol's answers (a few hundred opcodes; the data travels as
single bytes objects), decoded after the timed window (scoring/kernel/peer.py).
"""

from __future__ import annotations

import io
import pickle
from typing import Any

KEY_TYPES = (str, bytes, int, float, bool, type(None))
# the opcodes of plain values: framing, the memo, atoms, and the containers
PLAIN_OPCODES = (
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP", "NONE", "NEWTRUE", "NEWFALSE",
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
    "EMPTY_LIST", "APPEND", "APPENDS", "LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS", "EMPTY_SET", "ADDITEMS", "FROZENSET",
    "GET", "BINGET", "LONG_BINGET", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE",
)


def _keys_plain(keys: Any, what: str) -> None:
    for key in keys:
        if type(key) not in KEY_TYPES:
            raise pickle.UnpicklingError(f"{what} of type {type(key).__name__[:40]}; only str, bytes, int, float, "
                                         "bool and None may be hashed")


class _Refusing(dict):
    def __missing__(self, code: int):
        raise pickle.UnpicklingError(f"the opcode {bytes([code])!r} is not one of a plain value's")


class StrictUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcode table can be narrowed
    dispatch = _Refusing({getattr(pickle, name)[0]: pickle._Unpickler.dispatch[getattr(pickle, name)[0]]
                          for name in PLAIN_OPCODES})

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"answer refers to {module[:80]}.{name[:80]}; only plain values are accepted")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("answer holds a persistent id; only plain values are accepted")

    def _load_setitem(self) -> None:
        _keys_plain((self.stack[-2],), "a dict key")
        pickle._Unpickler.load_setitem(self)

    def _load_setitems(self) -> None:  # self.stack holds what lies above the last mark: key, value, ...
        _keys_plain(self.stack[0::2], "a dict key")
        pickle._Unpickler.load_setitems(self)

    def _load_dict(self) -> None:
        _keys_plain(self.stack[0::2], "a dict key")
        pickle._Unpickler.load_dict(self)

    def _load_sets(self, load) -> None:
        _keys_plain(self.stack, "a set member")
        load(self)


StrictUnpickler.dispatch[pickle.SETITEM[0]] = StrictUnpickler._load_setitem
StrictUnpickler.dispatch[pickle.SETITEMS[0]] = StrictUnpickler._load_setitems
StrictUnpickler.dispatch[pickle.DICT[0]] = StrictUnpickler._load_dict
StrictUnpickler.dispatch[pickle.ADDITEMS[0]] = lambda self: self._load_sets(pickle._Unpickler.load_additems)
StrictUnpickler.dispatch[pickle.FROZENSET[0]] = lambda self: self._load_sets(pickle._Unpickler.load_frozenset)


def decode_strict(data: bytes) -> Any:
    """A frame's value, decoded by StrictUnpickler; pickle.UnpicklingError (or another error of pickle's)
    for anything but plain values with atoms as keys."""
    return StrictUnpickler(io.BytesIO(data)).load()
