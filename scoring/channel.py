"""The result channel between the scorer's process and the runner: one signed line on a private pipe."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """The value with every non-finite float (inf, nan) replaced by None: JSON has no such numbers,
    and a figure that came out infinite must not cost the whole result."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def sign(key: bytes, nonce: str, payload: dict[str, Any]) -> bytes:
    """Encode a payload as one line, signed with the run's secret key."""
    body = json.dumps({"nonce": nonce, "payload": finite(payload)}, sort_keys=True, allow_nan=False)
    mac = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    return f"{mac} {body}\n".encode()


class ChannelTampered(Exception):
    """The result channel carried something that the scorer did not sign."""


def verify(key: bytes, nonce: str, data: bytes) -> dict[str, Any] | None:
    """Return the payload of the single signed line, None if empty; raise ChannelTampered otherwise."""
    lines = [line for line in data.split(b"\n") if line.strip()]
    if not lines:
        return None
    if len(lines) > 1:
        raise ChannelTampered(f"the result channel carried {len(lines)} messages; the scorer sends exactly one")
    mac, _, body = lines[0].decode("utf-8", "replace").partition(" ")
    expected = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        raise ChannelTampered("the result channel carried a message that the scorer did not sign")
    message = json.loads(body)
    if message.get("nonce") != nonce:
        raise ChannelTampered("the result channel carried a message from another scoring run")
    return message["payload"]
