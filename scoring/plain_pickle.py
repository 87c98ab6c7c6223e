"""A strict decoder for answer frames: plain values only, in time linear in the frame.

The C unpickler (refusing every class) is fast, but a frame of a few hundred bytes can still stall it:
a dict whose key is a tuple of tuples that share their parts (t = (t, t), 64 times over) is hashed
while it is decoded, and a tuple's hash walks every path, 2^64 steps, inside C, where no timeout
reaches. This decoder runs the opcodes of plain values only (no class, no persistent id, no
out-of-band buffer) and lets a dict key or a set member be an atom only (str, bytes, int, float,
bool, None), whose hash is linear in its size; anything else is an UnpicklingError naming the opcode
or the key's type. Int and float hashes are no secret (str and bytes hashes are salted), so keys
crafted to share one hash would make each insert walk all the others (n^2 steps): past HASH_SHARERS
such keys in one dict or set, the frame is refused too.

It is Python (pickle's own pure-Python unpickler with a whitelisted opcode table), some 10x slower
than the C one per opcode, except where the bulk of large answers lies: a run of number opcodes (a
list of floats or ints is pickled as batches of 1,000 BINFLOAT or BININT* opcodes) is matched whole
by a regular expression and handed to the C unpickler alone, where such opcodes can do nothing but
push numbers: within ~2x of the C unpickler on long lists of numbers (benchmarks/decode_answer.py).
No length read from the frame is trusted beyond the bytes left (pickle's Python BYTEARRAY8 would
allocate and zero it first: 4 GB for a frame of 20 bytes).
"""

from __future__ import annotations

import io
import pickle
import re
import struct
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
# int or float keys of one dict or set that may share a hash (a real answer's hardly ever do)
HASH_SHARERS = 16

# Whole number opcodes, one after another: BINFLOAT, BININT, BININT1, BININT2, LONG1 of up to 8 bytes
# (64-bit ints), NONE, NEWTRUE, NEWFALSE. Each has a fixed width given by its first byte(s), so a
# match is exactly a sequence of them, and it stops at the first byte that begins anything else.
# Possessive (++): nothing to backtrack, twice as fast.
_LONG1 = b"|".join(re.escape(bytes([n])) + b".{%d}" % n for n in range(9))
NUMBER_RUN = re.compile(rb"(?:G.{8}|K.|M..|J.{4}|\x8a(?:" + _LONG1 + rb")|N|\x88|\x89)++", re.DOTALL)
# Runs are looked for where a batch begins (after a MARK: pickle writes a list, tuple, dict or set of
# more than one item as batches of 1,000 between MARK and APPENDS, TUPLE...) and where a pickle FRAME
# begins (they cut batches anywhere, every ~64 KB); numbers after anything else in a batch go op by op,
# and so do runs shorter than RUN_BYTES (handing a run to the C unpickler costs about two opcodes).
RUN_BYTES = 16


class _Refusing(dict):
    def __missing__(self, code: int):
        raise pickle.UnpicklingError(f"the opcode {bytes([code])!r} is not one of a plain value's")


class StrictUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcode table can be narrowed
    dispatch = _Refusing({getattr(pickle, name)[0]: pickle._Unpickler.dispatch[getattr(pickle, name)[0]]
                          for name in PLAIN_OPCODES})

    def __init__(self, data: bytes):
        self._data, self._file = data, io.BytesIO(data)
        super().__init__(self._file)
        self._sharing: dict[int, dict[int, int]] = {}  # id of a dict or set -> hash -> its int/float keys

    def load(self) -> Any:
        """pickle's load, reading the answer's bytes directly: a FRAME opcode (a hint for buffered reading)
        is checked and passed over, as the C unpickler does; pickle's Python one copies each frame."""
        file = self._file
        self.read, self.readline = file.read, file.readline
        self.metastack, self.stack, self.proto = [], [], 0
        self.append = self.stack.append
        read, dispatch = file.read, self.dispatch
        try:
            while True:
                code = read(1)
                if not code:
                    raise EOFError
                dispatch[code[0]](self)
        except pickle._Stop as stop:
            return stop.value

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"answer refers to {module[:80]}.{name[:80]}; only plain values are accepted")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("answer holds a persistent id; only plain values are accepted")

    def _left(self, size: int) -> int:
        """size, when that many bytes are left; else UnpicklingError (a length may be no bigger than the frame)."""
        if size > len(self._data) - self._file.tell():
            raise pickle.UnpicklingError("pickle data was truncated")
        return size

    def _load_frame(self) -> None:  # a frame begins: perhaps in the middle of a batch
        self._left(struct.unpack("<Q", self.read(8))[0])
        self._load_run()

    def _load_bytearray8(self) -> None:  # pickle's would allocate (and zero) the length it reads first
        self.append(bytearray(self.read(self._left(struct.unpack("<Q", self.read(8))[0]))))

    def _load_mark(self) -> None:  # a batch of a list, tuple, dict or set begins
        pickle._Unpickler.load_mark(self)
        self._load_run()

    def _load_run(self) -> None:
        """Push the run of number opcodes that follows, if long enough, at once (the C unpickler's work)."""
        data, start = self._data, self._file.tell()
        run = NUMBER_RUN.match(data, start)
        if run and run.end() - start >= RUN_BYTES:
            self.stack.extend(pickle.loads(b"(" + data[start:run.end()] + b"l."))
            self._file.seek(run.end())

    def _keys_plain(self, keys: Any, what: str, container: Any = None) -> None:
        """Refuse a key that is not an atom, and the int or float key past HASH_SHARERS of one container
        (None: a container being made of these keys alone) to share one hash."""
        shared = {} if container is None else self._sharing.setdefault(id(container), {})
        for key in keys:
            kind = type(key)
            if kind is int or kind is float:
                h = hash(key)
                shared[h] = count = shared.get(h, 0) + 1
                if count > HASH_SHARERS:
                    raise pickle.UnpicklingError(f"more than {HASH_SHARERS} keys of one dict or set share the "
                                                 f"hash {h} (each insert would walk them all)")
            elif kind not in KEY_TYPES:
                raise pickle.UnpicklingError(f"{what} of type {kind.__name__[:40]}; only str, bytes, int, "
                                             "float, bool and None may be hashed")

    def _load_setitem(self) -> None:
        self._keys_plain((self.stack[-2],), "a dict key", self.stack[-3])
        pickle._Unpickler.load_setitem(self)

    def _load_setitems(self) -> None:  # self.stack holds what lies above the last mark: key, value, ...
        self._keys_plain(self.stack[0::2], "a dict key", self.metastack[-1][-1])
        pickle._Unpickler.load_setitems(self)

    def _load_dict(self) -> None:
        self._keys_plain(self.stack[0::2], "a dict key")
        pickle._Unpickler.load_dict(self)

    def _load_additems(self) -> None:
        self._keys_plain(self.stack, "a set member", self.metastack[-1][-1])
        pickle._Unpickler.load_additems(self)

    def _load_frozenset(self) -> None:
        self._keys_plain(self.stack, "a set member")
        pickle._Unpickler.load_frozenset(self)


for _code, _load in ((pickle.SETITEM, StrictUnpickler._load_setitem), (pickle.SETITEMS, StrictUnpickler._load_setitems),
                     (pickle.DICT, StrictUnpickler._load_dict), (pickle.ADDITEMS, StrictUnpickler._load_additems),
                     (pickle.FROZENSET, StrictUnpickler._load_frozenset)):
    StrictUnpickler.dispatch[_code[0]] = _load


class OpByOp(StrictUnpickler):
    """The strict decoder before runs (benchmarks/decode_answer.py's baseline): pickle's own load, with its
    frame buffer, and every opcode in Python."""
    dispatch = _Refusing(StrictUnpickler.dispatch)
    load = pickle._Unpickler.load


for _code, _load in ((pickle.MARK, StrictUnpickler._load_mark), (pickle.FRAME, StrictUnpickler._load_frame),
                     (pickle.BYTEARRAY8, StrictUnpickler._load_bytearray8)):
    StrictUnpickler.dispatch[_code[0]] = _load


def decode_strict(data: bytes, runs: bool = True) -> Any:
    """A frame's value, decoded by StrictUnpickler; pickle.UnpicklingError (or another error of pickle's)
    for anything but plain values with atoms as keys. runs=False: OpByOp, slower (for comparisons)."""
    return (StrictUnpickler if runs else OpByOp)(data).load()
