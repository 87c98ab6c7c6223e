"""Any event of a trial as text: a one-line title and a body, for the replay panes."""

from __future__ import annotations

import json
from typing import Any

from console.store.records import EventRecord, PauseRecord, SubmissionRecord
from console.trials.clock import format_duration
from console.trials.hidden import HIDDEN_MESSAGE

MAX_BODY = 20_000  # characters of a body; the rest is elided


def _cap(text: str, limit: int = MAX_BODY) -> str:
    """text, cut to limit characters with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters)"


def _json(value: Any) -> str:
    """Readable JSON for anything."""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _num(value: Any, digits: int = 3) -> str:
    return "-" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.{digits}f}"


def _args(arguments: Any) -> str:
    """Tool-call arguments (a dict or a JSON string) as readable text."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return arguments
    if isinstance(arguments, dict) and len(arguments) == 1:
        (value,) = arguments.values()
        if isinstance(value, str):
            return value  # e.g. {"command": "ls -la"}: the command itself
    return _json(arguments)


def _score(valid: Any, normalized: Any, raw: Any, reason: str, final: bool) -> str:
    verdict = f"valid, normalized {_num(normalized)}" if valid else f"INVALID ({reason or 'no reason'})"
    return ("final score: " if final else "score: ") + verdict + (f", raw {_num(raw, 4)}" if valid else "")


def _command(d: dict) -> tuple[str, str]:
    if "malformed" in d:
        return "command (unreadable log line)", f"{d.get('error', '')}\n{d['malformed']}"
    title = f"$ {d.get('command', '')}"
    if d.get("exit") is not None:
        title += f"  → exit {d['exit']}"
    body = "\n".join(str(d[k]) for k in ("output", "stdout", "stderr") if d.get(k))
    return title, (body + (f"\n(in {d['cwd']})" if d.get("cwd") else "")).strip()


def _model_request(d: dict) -> tuple[str, str]:
    title = f"model request #{d.get('step', '?')}" + (f" ({d['model']})" if d.get("model") else "")
    parts = [f"{d['messages']} messages" if isinstance(d.get("messages"), int) else ""]
    if d.get("tools") is not None:
        parts.append(f"{d['tools']} tools")
    if isinstance(d.get("remaining_s"), (int, float)):
        parts.append(f"{format_duration(d['remaining_s'])} left")
    body = ", ".join(p for p in parts if p)
    if d.get("params"):
        body += "\n" + _json(d["params"])
    if isinstance(d.get("messages"), list):
        body += "\n" + _json(d["messages"])
    return title, body.strip()


def _model_response(d: dict) -> tuple[str, str]:
    title = f"model response #{d.get('step', '?')}"
    lines = []
    if d.get("content"):
        lines.append(str(d["content"]))
    if d.get("refusal"):
        lines.append(f"refusal: {d['refusal']}")
    for call in d.get("tool_calls") or []:
        if isinstance(call, dict):
            lines.append(f"→ {call.get('name', '?')}({_args(call.get('arguments', ''))})")
    usage = d.get("usage") or {}
    if usage:
        lines.append(f"tokens: {usage.get('prompt_tokens', '?')} in, {usage.get('completion_tokens', '?')} out")
    if d.get("error"):
        lines.append(f"error: {d['error']}")
    if d.get("finish_reason"):
        title += f" ({d['finish_reason']})"
    return title, "\n".join(lines)


def _tool_output(d: dict) -> tuple[str, str]:
    title = f"tool output: {d.get('name', '?')}" + (" (error)" if d.get("error") else "")
    body = str(d.get("output") or "")
    if d.get("error"):
        body = (body + "\n" if body else "") + f"error: {d['error']}"
    return title, body


def _paused(d: dict) -> tuple[str, str]:
    return f"paused ({d.get('reason', '?')})", str(d.get("note") or "")


def _resumed(d: dict) -> tuple[str, str]:
    took = d.get("paused_s")
    return f"resumed ({d.get('reason', '?')})", f"paused for {format_duration(took)}" if took is not None else ""


def _ended(d: dict) -> tuple[str, str]:
    return f"trial ended ({d.get('reason', '?')})", f"final score {_num(d.get('final_score'))}"


def _snapshot(d: dict) -> tuple[str, str]:
    digest = str(d.get("hash") or "")
    return f"snapshot {digest[:12]}" + (f" ({d['reason']})" if d.get("reason") else ""), digest


_KINDS = {
    "command": _command,
    "model_request": _model_request,
    "model_response": _model_response,
    "tool_call": lambda d: (f"tool call: {d.get('name', '?')}", _args(d.get("arguments", ""))),
    "tool_output": _tool_output,
    "note": lambda d: ("note after the end" if d.get("after_end") else "note", str(d.get("text", ""))),
    "agent_note": lambda d: (f"agent note ({d.get('kind', '?')})", str(d.get("text") or d.get("refusal") or "")),
    "paused": _paused,
    "resumed": _resumed,
    "score": lambda d: (_score(d.get("valid"), d.get("normalized"), d.get("raw"), d.get("reason", ""),
                               bool(d.get("final"))), str(d.get("message") or "")),
    "snapshot": _snapshot,
    "created": lambda d: ("trial created", f"participant {d.get('participant', '?')}"),
    "started": lambda d: ("clock started", ""),
    "ended": _ended,
}


def _hidden(item: Any) -> tuple[str, str] | None:
    """(title, body) of a scoring or an end whose scores are hidden (console.trials.hidden): the verdict only, and
    an invalid submission's message; None for any other item."""
    if isinstance(item, EventRecord) and isinstance(item.data, dict) and item.kind in ("score", "ended"):
        d = item.data
        if item.kind == "ended":
            return f"trial ended ({d.get('reason', '?')})", "final score hidden"
        valid, reason, final, message = d.get("valid"), d.get("reason", ""), bool(d.get("final")), d.get("message")
    elif isinstance(item, SubmissionRecord):
        valid, reason, final, message = item.valid, item.reason, item.final, item.message
    else:
        return None
    verdict = "valid (score hidden)" if valid else f"INVALID ({reason or 'no reason'})"
    return ("final score: " if final else "score: ") + verdict, HIDDEN_MESSAGE if valid else str(message or "")


def describe(item: Any, hidden: bool = False) -> tuple[str, str]:
    """(title, body) for an event, a submission, a pause, or a timeline Item holding one of them; `hidden`: the
    trial's scores are hidden (console.trials.hidden), so a scoring shows its verdict only."""
    from console.compare.timeline import Item

    if isinstance(item, Item):
        item = item.event or item.submission or item.pause
    if hidden and (shown := _hidden(item)) is not None:
        return shown[0], _cap(shown[1])
    if isinstance(item, EventRecord):
        data = item.data if isinstance(item.data, dict) else {"data": item.data}
        render = _KINDS.get(item.kind)
        if render is None:
            return item.kind, _cap(_json(data))
        try:
            title, body = render(data)
        except Exception:  # a known kind with unexpected fields: show it raw rather than fail
            return item.kind, _cap(_json(data))
        return title, _cap(body)
    if isinstance(item, SubmissionRecord):
        body = item.message + (f"\nsnapshot {item.snapshot}" if item.snapshot else "")
        return _score(item.valid, item.normalized, item.raw, item.reason, item.final), _cap(body)
    if isinstance(item, PauseRecord):
        took = "" if item.ended_at is None else f"for {format_duration(item.ended_at - item.started_at)}"
        return f"paused ({item.reason})", "\n".join(p for p in (took, item.note) if p)
    return type(item).__name__, _cap(repr(item))
