"""Text and JSON that every backend can store: valid UTF-8, no NUL, JSON types only.

What the store records comes in part from candidates, agents and shells (a scorer's message, a tool's
output, a command line): a lone surrogate cannot be encoded as UTF-8 (SQLite's driver and psycopg
refuse it), PostgreSQL's text refuses NUL, and json refuses tuple keys and ints of over 4,300
digits. Cleaned here, such a record is stored with the odd characters replaced instead of being lost.
"""

from __future__ import annotations

import math
import re
from typing import Any

from scoring.payload import NUL_SIGN, REPLACEMENT, cut_text, storable, text_of  # noqa: F401 (re-exported)

INT_BITS = 10_000  # larger ints are stored as text (about 3,000 digits; str() refuses over 4,300)

# in ASCII JSON: an escaped NUL or surrogate (a valid pair, too: the slow path then checks the values)
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def clean_text(text: Any) -> Any:
    """The string with NULs and lone surrogates replaced (scoring.payload.storable); anything else as it is."""
    return storable(text) if isinstance(text, str) else text


def safe_str(value: Any) -> str:
    """str(value), or its repr, or its type's name: whichever works first, storable."""
    return storable(text_of(value))


def _key(key: Any) -> str:
    """A dict key as JSON writes it: strings as they are, numbers and None as json.dumps would."""
    if isinstance(key, str):
        return clean_text(key)
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, int) and key.bit_length() <= INT_BITS:
        return str(int(key))
    return safe_str(key)


def clean_json(value: Any) -> Any:
    """The value made JSON-safe: strings cleaned, keys strings, tuples and sets lists, non-finite floats
    as text ("NaN", "Infinity"), huge ints as text, anything else as its text."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value) if value.bit_length() <= INT_BITS else f"<an int of {value.bit_length():,} bits>"
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {_key(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((clean_json(v) for v in value), key=repr)
    return value  # dataclasses, paths...: json's default hook turns them into JSON (and cleans them)


def has_unstorable_escape(text: str) -> bool:
    """Whether ASCII JSON text holds an escaped NUL or surrogate (cheap: one regex scan)."""
    return _UNSTORABLE_ESCAPE.search(text) is not None
