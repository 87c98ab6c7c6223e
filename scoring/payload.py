"""The scorer's result payload made safe to sign, send and store, whatever the scorer put in it.

A scorer's details carry data that came from the candidate (an exception's text, values it returned):
lone surrogates, NULs, tuple keys, ints of thousands of digits, megabytes of text, shared or deep
structures. safe_payload turns all of it into valid UTF-8 JSON of bounded size, so that the verdict
and its details always reach the runner, and every database can record them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MESSAGE_CHARS = 4_000  # the verdict's message
REASON_CHARS = 200
DETAIL_CHARS = 32_000  # one string in the details (optimizer_rubric keeps 20,000 characters of its reproduce log)
KEY_CHARS = 200  # one key of a dict in the details
ITEMS = 10_000  # items of one list or dict in the details
DEPTH = 32  # nesting of the details
PAYLOAD_BYTES = 1_000_000  # the whole signed payload, as JSON
WALK_CHARS = 2 * PAYLOAD_BYTES  # what cleaning the details may build (and so its work) before it cuts the rest
INT_BITS = 1_000  # larger ints become text (JSON readers refuse ints of over 4,300 digits)
OWN_DETAILS = ("candidate_seconds", "candidate_calls", "stray_processes_killed")

_CONTAINERS = (dict, list, tuple, set, frozenset)
_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")  # NUL (PostgreSQL's text refuses it) and lone surrogates


def finite_number(value: Any) -> bool:
    """Whether a value is a finite int or float (not a bool; an int past a float's range is not: math.isfinite
    raises on it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def text_of(value: Any) -> str:
    """str(value), or its repr, or its type's name: whichever of them works first."""
    if isinstance(value, str):
        return str.__str__(value)  # an exact str, even of a subclass
    for show in (str, repr):
        try:
            text = show(value)
            if isinstance(text, str):
                return str.__str__(text)
        except Exception:
            pass
    return f"<{type(value).__name__}>"


NUL_SIGN = "\u2400"  # SYMBOL FOR NULL, in place of a NUL
REPLACEMENT = "\ufffd"  # in place of a lone surrogate


def cut_text(text: str, limit: int) -> str:
    """The text at most `limit` characters long: head and tail kept, the cut said between them."""
    if len(text) <= limit:
        return text
    marker = f" …[{len(text) - limit:,} characters cut]… "
    head = max(0, limit - len(marker)) // 2
    tail = max(0, limit - len(marker) - head)
    return text[:head] + marker + (text[-tail:] if tail else "")


def storable(text: str) -> str:
    """The text in valid UTF-8 without NULs: a NUL becomes NUL_SIGN and a lone surrogate REPLACEMENT."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNENCODABLE.sub(lambda m: NUL_SIGN if m.group() == "\x00" else REPLACEMENT, text)


def clean_text(text: str, limit: int) -> str:
    """The text cut to `limit` characters (cut_text), storable."""
    return storable(cut_text(text, limit))


def as_dict(details: Any) -> dict[Any, Any]:
    """An exception's details as a dict (never raises)."""
    try:
        return dict(details or {})
    except Exception:
        return {"details": details}


class _Cleaner:
    """Turns any value into JSON-safe data within an overall budget of characters.

    Keys become strings, tuples and sets lists, non-finite floats None, huge ints and other objects a
    bounded text; long strings, lists and dicts are cut, deep nesting ends in a marker. The budget bounds
    the work as well as the result: shared sub-structures (a DAG) are not expanded beyond it."""

    def __init__(self, budget: int) -> None:
        self.left = budget

    def value(self, value: Any, depth: int = 0) -> Any:
        """The cleaned value; a marker text where the budget or the depth ran out."""
        if self.left <= 0 and not _scalar(value):
            return "…[cut: the result's size limit]"
        try:
            return self._value(value, depth)
        except Exception as exc:  # a value that cannot even be looked at
            return f"<unreadable {type(value).__name__}: {type(exc).__name__}>"

    def _value(self, value: Any, depth: int) -> Any:
        self.left -= 16  # about what a number or an empty container takes in JSON, with its separator
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            value = int.__index__(value)
            bits = value.bit_length()
            return value if bits <= INT_BITS else f"<an int of {bits:,} bits>"
        if isinstance(value, float):
            value = float.__float__(value)
            return value if math.isfinite(value) else None
        if isinstance(value, str):
            return self.text(value, DETAIL_CHARS)
        if depth >= DEPTH and isinstance(value, _CONTAINERS):
            return f"<a {type(value).__name__} nested over {DEPTH} deep>"
        if isinstance(value, dict):
            return self.mapping(value, depth)
        if isinstance(value, (list, tuple, set, frozenset)):
            return self.sequence(value, depth)
        return self.text(text_of(value), DETAIL_CHARS)

    def text(self, value: Any, limit: int) -> str:
        """Any value as clean text of at most `limit` characters."""
        text = clean_text(text_of(value), limit)
        self.left -= len(text)
        return text

    def key(self, key: Any) -> str:
        """A dict key as a clean string (json.dumps refuses tuple keys, for one)."""
        return self.text(key if isinstance(key, str) else text_of(key), KEY_CHARS)

    def mapping(self, value: dict, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(dict.items(value)):
            if i >= ITEMS or self.left <= 0:
                out["…"] = f"{len(value) - i:,} more entries cut"
                break
            out[self.key(k)] = self.value(v, depth + 1)
        return out

    def sequence(self, value: Any, depth: int) -> list[Any]:
        out = []
        for i, v in enumerate(value):
            if i >= ITEMS or self.left <= 0:
                out.append(f"…{len(value) - i:,} more items cut")
                break
            out.append(self.value(v, depth + 1))
        return out


def _scalar(value: Any) -> bool:
    """None, a bool or a number: cheap to keep, whatever the budget says."""
    return value is None or isinstance(value, (bool, int, float))


def _size(value: Any) -> int:
    """Bytes of the value as the channel encodes it (ASCII JSON)."""
    return len(json.dumps(value, sort_keys=True, allow_nan=False))


def _clean_details(details: Any, cleaner: _Cleaner) -> dict[str, Any]:
    """The details cleaned: numbers first, then texts, then containers (which the budget cuts first)."""
    if not isinstance(details, dict):
        return {"details": cleaner.value(details)}
    entries = list(dict.items(details))[:ITEMS]
    rank = lambda entry: 0 if _scalar(entry[1]) else 2 if isinstance(entry[1], _CONTAINERS) else 1  # noqa: E731
    out = {cleaner.key(k): cleaner.value(v, 1) for k, v in sorted(entries, key=rank)}
    if len(details) > ITEMS:
        out["…"] = f"{len(details) - ITEMS:,} more entries cut"
    return out


def _fit(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload within PAYLOAD_BYTES: the biggest details are replaced by a marker until it fits."""
    total = _size(payload)
    if total <= PAYLOAD_BYTES:
        return payload
    details = payload["details"]
    for key, size in sorted(((k, _size(v)) for k, v in details.items()), key=lambda kv: -kv[1]):
        if total <= PAYLOAD_BYTES:
            break
        marker = f"…[cut: {size:,} bytes, over the result's limit of {PAYLOAD_BYTES:,} bytes]"
        details[key] = marker
        total += _size(marker) - size
    if total > PAYLOAD_BYTES:  # too many keys even without their values: keep only ours
        payload["details"] = {k: details[k] for k in OWN_DETAILS if k in details}
        payload["details"]["details_cut"] = f"the details were over the result's limit of {PAYLOAD_BYTES:,} bytes"
    return payload


def safe_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as the channel can always sign it and any store can keep it: valid UTF-8 without
    NULs, JSON types only, string keys, the message at most MESSAGE_CHARS characters, the whole at
    most PAYLOAD_BYTES bytes. Whatever a scorer put in its details (a candidate's data among them)."""
    try:
        cleaner = _Cleaner(WALK_CHARS)
        out: dict[str, Any] = {"valid": payload.get("valid") is True}
        for key, value in payload.items():
            if key == "message":
                out[key] = cleaner.text(value, MESSAGE_CHARS)
            elif key == "reason":
                out[key] = cleaner.text(value, REASON_CHARS)
            elif key != "valid" and key != "details":
                out[cleaner.key(key)] = cleaner.value(value, 1)
        out["details"] = _clean_details(payload.get("details") or {}, cleaner)
        return _fit(out)
    except Exception as exc:  # e.g. details changed by a thread while being read: still a verdict
        return unencodable(exc)


def unencodable(exc: Exception) -> dict[str, Any]:
    """The verdict when even the cleaned payload could not be signed (never expected)."""
    return {"valid": False, "reason": "scorer_error",
            "message": clean_text(f"the scorer's result could not be encoded: {type(exc).__name__}: {text_of(exc)}",
                                  MESSAGE_CHARS),
            "details": {}}

