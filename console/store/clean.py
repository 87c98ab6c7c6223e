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

NUL_SIGN = "\u2400"  # SYMBOL FOR NULL, in place of a NUL
REPLACEMENT = "\ufffd"  # in place of a lone surrogate
INT_BITS = 10_000  # larger ints are stored as text (about 3,000 digits; str() refuses over 4,300)

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# in ASCII JSON: an escaped NUL or surrogate (a valid pair, too: the slow path then checks the values)
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _replace(match: re.Match) -> str:
    return NUL_SIGN if match.group() == "\x00" else REPLACEMENT


def clean_text(text: Any) -> Any:
    """The string with NULs and lone surrogates replaced; anything else as it is."""
    if not isinstance(text, str) or (text.isascii() and "\x00" not in text):
        return text
    return _UNSTORABLE.sub(_replace, text)


def cut_text(text: str, limit: int) -> str:
    """The text at most `limit` characters long: head and tail kept, the cut said between them."""
    if len(text) <= limit:
        return text
    marker = f" …[{len(text) - limit:,} characters cut]… "
    head = max(0, limit - len(marker)) // 2
    tail = max(0, limit - len(marker) - head)
    return text[:head] + marker + (text[-tail:] if tail else "")


def safe_str(value: Any) -> str:
    """str(value), or its repr, or its type's name: whichever works first."""
    for show in (str, repr):
        try:
            return clean_text(str.__str__(show(value)))
        except Exception:
            pass
    return f"<{type(value).__name__}>"


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
