"""The shape of a chat-completion reply: a 200 that is not a usable completion is an API error, not a crash.

An endpoint can answer 200 with a proxy's HTML page, JSON of another shape, or token counts that
are not numbers. The openai client passes such answers through (as text, or as a model built
without validation), so the agent checks what it reads before it reads it.
"""

from __future__ import annotations

from typing import Any

from scoring.api_errors import token_count

BODY_SHOWN = 200  # bytes of a bad body quoted in the error message
USAGE_FIELDS = ("prompt_tokens", "completion_tokens")


class BadReply(Exception):
    """A 200 answer that is not a usable chat completion; the message says what was wrong."""

    status_code = 200


def parse_reply(raw: Any) -> Any:
    """The ChatCompletion of a raw openai response, or BadReply naming the content type, field or body."""
    from openai.types.chat import ChatCompletion

    try:
        parsed = raw.parse()
    except (ValueError, TypeError) as exc:  # invalid JSON under a JSON content type (pydantic errors too)
        raise BadReply(f"the answer is not valid JSON ({type(exc).__name__}: {exc}); {_body(raw)}") from None
    if isinstance(parsed, str):  # the client's answer to a body it could not read as JSON
        kind = raw.headers.get("content-type") or "none"
        raise BadReply(f"HTTP {raw.status_code} with content type {kind!r}, not a JSON chat completion; "
                       f"{_body(raw)}")
    problem = (f"a JSON {type(parsed).__name__}, not a chat completion object"
               if not isinstance(parsed, ChatCompletion) else completion_problem(parsed))
    if problem:
        raise BadReply(f"{problem}; {_body(raw)}")
    return parsed


def _body(raw: Any) -> str:
    """The first bytes of the body, for the error message."""
    try:
        data = raw.content
    except Exception:  # the body itself could not be read: say so rather than fail again
        return "body unreadable"
    more = f" ({len(data)} bytes)" if len(data) > BODY_SHOWN else ""
    return f"body starts {data[:BODY_SHOWN]!r}{more}" if data else "empty body"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def completion_problem(response: Any) -> str | None:
    """What makes this completion unusable by the agent loop (the first problem found), or None."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        return f"'choices' is {_show(choices)}, not a non-empty list"
    message = getattr(choices[0], "message", None)
    if message is None or isinstance(message, (str, int, float, list, dict)):
        return f"'choices[0].message' is {_show(message)}, not a message object"
    for name in ("content", "refusal"):
        value = getattr(message, name, None)
        if value is not None and not isinstance(value, str):
            return f"'choices[0].message.{name}' is {_show(value)}, not a string or null"
    calls = getattr(message, "tool_calls", None)
    if calls is not None and not isinstance(calls, list):
        return f"'choices[0].message.tool_calls' is {_show(calls)}, not a list or null"
    for i, call in enumerate(calls or []):
        problem = _tool_call_problem(call)
        if problem:
            return f"'choices[0].message.tool_calls[{i}]' {problem}"
    return None


def _tool_call_problem(call: Any) -> str | None:
    fn = getattr(call, "function", None) or getattr(call, "custom", None)
    if fn is None or isinstance(fn, (str, int, float, list, dict)):
        return f"has no function object ({_show(call)})"
    if not isinstance(getattr(fn, "name", None), str):
        return f"has function name {_show(getattr(fn, 'name', None))}, not a string"
    args = getattr(fn, "arguments", None) if hasattr(fn, "arguments") else getattr(fn, "input", None)
    if args is not None and not isinstance(args, str):
        return f"has arguments {_show(args)}, not a string"
    if not isinstance(getattr(call, "id", None), str):
        return f"has id {_show(getattr(call, 'id', None))}, not a string"
    return None


def token_counts(usage: Any) -> tuple[dict[str, int], dict[str, str]]:
    """({field: count} of the usable usage fields, {field: what was there} of the missing or malformed ones)."""
    counts, unknown = {}, {}
    for name in USAGE_FIELDS:
        count = token_count(usage, name)
        if count is not None:
            counts[name] = count
        else:
            value = getattr(usage, name, None)
            unknown[name] = "missing" if value is None else _show(value)
    return counts, unknown
