"""One Inspect sample as trial content (the shape bundle_write writes); see inspect_log.py for the mapping."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

PAUSE_MIN_S = 1.0  # wall time not counted as working, shorter than this, is left in active time
LETTERS = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}  # Inspect's CORRECT, INCORRECT, PARTIAL, NOANSWER
WORDS = {"true": 1.0, "yes": 1.0, "false": 0.0, "no": 0.0}


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text (and reasoning) parts of a list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text") or part.get("reasoning") or f"[{part.get('type', '?')}]"))
            else:
                parts.append(str(part))
        return "\n".join(parts)
    return json.dumps(content, default=str)


def score_value(value: Any) -> float | None:
    """An Inspect score value as a number (None when it is not one)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        v = value.strip()
        if v in LETTERS:
            return LETTERS[v]
        if v.lower() in WORDS:
            return WORDS[v.lower()]
        try:
            number = float(v)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _resolve(value: Any, attachments: dict[str, str]) -> Any:
    """Replace "attachment://<id>" strings by the sample's attachments."""
    if isinstance(value, str):
        if value.startswith("attachment://"):
            return attachments.get(value[len("attachment://"):], value)
        return value
    if isinstance(value, list):
        return [_resolve(v, attachments) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, attachments) for k, v in value.items()}
    return value


class _Builder:
    """Collects events, submissions and (wall, working) time points of one sample."""

    def __init__(self, parse_time) -> None:
        self.parse_time = parse_time
        self.events: list[tuple[float, float, str, dict]] = []
        self.subs: list[dict] = []
        self.points: list[tuple[float, float]] = []
        self.skipped: Counter[str] = Counter()
        self.step = 0

    def add(self, at: float, active: float, kind: str, data: dict) -> None:
        self.events.append((at, active, kind, data))
        self.points.append((at, active))

    def submission(self, at: float, active: float, score: dict, final: bool, scorer: str = "") -> None:
        number = score_value(score.get("value"))
        meta = score.get("metadata") if isinstance(score.get("metadata"), dict) else {}
        raw = meta.get("raw") if isinstance(meta.get("raw"), (int, float)) and number is not None else number
        sub_id = len(self.subs) + 1
        valid = number is not None
        reason = "" if valid else "not_numeric"
        message = text_of(score.get("explanation") or score.get("answer") or "")
        details = {"source": "inspect", "value": score.get("value"), "answer": score.get("answer"),
                   "metadata": score.get("metadata"), "scorer": scorer}  # fmt: skip
        self.subs.append({"id": sub_id, "at": at, "active_s": active, "valid": valid, "raw": raw,
                          "normalized": number, "message": message, "reason": reason, "details": details,
                          "calibration": {}, "duration_s": 0.0, "snapshot": "", "final": final})  # fmt: skip
        self.add(at, active, "score", {"submission": sub_id, "valid": valid, "raw": raw, "normalized": number,
                                       "message": message, "reason": reason, "final": final, "snapshot": ""})

    def model(self, ev: dict, at: float, work: float) -> None:
        """A model event: a model_request at its start and a model_response at its completion."""
        self.step += 1
        config = {k: v for k, v in (ev.get("config") or {}).items() if v is not None}
        self.add(at, work, "model_request", {
            "step": self.step, "model": ev.get("model", ""), "messages": len(ev.get("input") or []),
            "tools": len(ev.get("tools") or []), "params": config, "source": "inspect",
        })  # fmt: skip
        output = ev.get("output") or {}
        choice = (output.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        calls = [{"id": c.get("id", ""), "name": c.get("function", ""), "arguments": json.dumps(c.get("arguments"))}
                 for c in message.get("tool_calls") or []]  # fmt: skip
        usage = output.get("usage") or {}
        done, spent = self._completion(ev, at)
        error = ev.get("error") or output.get("error")
        content = text_of(message.get("content"))
        if error and not content and not calls:  # a call that failed (Inspect logs each attempt): no reply, no progress
            self.add(done, work + spent, "api_error", {
                "step": self.step, "kind": "inspect", "status": None, "attempt": 1, "gave_up": False,
                "message": str(error)[:4000], "source": "inspect",
            })  # fmt: skip
            return
        self.add(done, work + spent, "model_response", {
            "step": self.step, "content": content, "refusal": None, "tool_calls": calls,
            "finish_reason": choice.get("stop_reason"), "error": error,
            "usage": {"prompt_tokens": usage.get("input_tokens", 0),
                      "completion_tokens": usage.get("output_tokens", 0), "total_tokens": usage.get("total_tokens", 0)},
        })  # fmt: skip

    def _completion(self, ev: dict, at: float) -> tuple[float, float]:
        """(wall time the event completed, its working seconds)."""
        done = self.parse_time(ev.get("completed")) or at
        spent = ev.get("working_time")
        return done, float(spent) if isinstance(spent, (int, float)) else max(0.0, done - at)

    def tool(self, ev: dict, at: float, work: float) -> None:
        """A tool event: a tool_call at its start and a tool_output at its completion."""
        call = {"step": self.step, "id": ev.get("id", ""), "name": ev.get("function", "")}
        self.add(at, work, "tool_call", {**call, "arguments": json.dumps(ev.get("arguments") or {})})
        done, spent = self._completion(ev, at)
        error = ev.get("error")
        self.add(done, work + spent, "tool_output", {
            **call, "output": text_of(ev.get("result")), "duration_s": spent,
            "error": error.get("message") if isinstance(error, dict) else error,
        })  # fmt: skip

    def pauses(self, start: float) -> list[dict]:
        """Pauses where wall time ran ahead of working time by PAUSE_MIN_S or more."""
        out, prev = [], (start, 0.0)
        for wall, work in sorted(self.points):
            gap = (wall - prev[0]) - (work - prev[1])
            if gap >= PAUSE_MIN_S and wall - gap >= prev[0]:
                out.append({"id": len(out) + 1, "reason": "waiting", "started_at": wall - gap, "ended_at": wall,
                            "note": "Inspect counted this as waiting, not working time"})  # fmt: skip
            prev = (wall, max(work, prev[1]))
        return out


def _events(b: _Builder, sample: dict, final_from_events: bool) -> None:
    """Map the sample's events into the builder; unknown kinds are counted as skipped."""
    for ev in sample.get("events") or []:
        kind, at = ev.get("event"), b.parse_time(ev.get("timestamp"))
        work = ev.get("working_start")
        if at is None or not isinstance(work, (int, float)):
            b.skipped[f"{kind} (no time)"] += 1
            continue
        if kind == "model":
            b.model(ev, at, float(work))
        elif kind == "tool":
            b.tool(ev, at, float(work))
        elif kind == "score" and isinstance(ev.get("score"), dict) and (ev.get("intermediate") or final_from_events):
            b.submission(at, float(work), ev["score"], final=not ev.get("intermediate"))
        elif kind == "info":
            data = ev.get("data")
            b.add(at, float(work), "note", {"text": data if isinstance(data, str) else json.dumps(data, default=str),
                                            "source": ev.get("source") or "inspect"})  # fmt: skip
        elif kind in ("error", "sample_limit"):
            err = ev.get("error") or {}
            text = ev.get("message") or (err.get("message") if isinstance(err, dict) else str(err))
            b.add(at, float(work), "agent_note", {"kind": "error" if kind == "error" else f"{ev.get('type')}_limit",
                                                  "text": text or ""})  # fmt: skip
        else:
            b.skipped[str(kind)] += 1


def _settings(header: dict, sample: dict, skipped: dict, working: float, log_name: str) -> dict[str, Any]:
    """The trial's settings: the agent's configuration (its group) and where in Inspect it came from."""
    spec = header["eval"]
    generate = {k: v for k, v in (spec.get("model_generate_config") or {}).items() if v is not None}
    plan = [step.get("solver") for step in (header.get("plan") or {}).get("steps", [])]
    agent = {"solver": spec.get("solver"), "solver_args": spec.get("solver_args"), "plan": plan,
             "generate_config": generate}  # fmt: skip
    epoch = sample.get("epoch", 1)
    key = sample.get("uuid") or f"{spec.get('eval_id') or spec.get('run_id')}:{sample.get('id')}:{epoch}"
    inspect = {"key": key, "log": log_name, "eval_id": spec.get("eval_id"), "run_id": spec.get("run_id"),
               "task": spec.get("task"), "sample_id": sample.get("id"), "epoch": epoch, "status": header.get("status"),
               "total_time": sample.get("total_time"), "working_time": working,
               "model_usage": sample.get("model_usage") or {}, "skipped_events": skipped}  # fmt: skip
    return {"agent": agent, "inspect": inspect}


def time_limit(config: dict, sample: dict) -> float | None:
    """The sample's budget of seconds: the log's working_limit, else its time_limit, else the working or time limit
    the sample itself hit; None when none was set (the sample ran until it stopped on its own)."""
    limit = sample.get("limit") if isinstance(sample.get("limit"), dict) else {}
    hit = limit.get("limit") if limit.get("type") in ("working", "time") else None
    for value in (config.get("working_limit"), config.get("time_limit"), hit):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
            return float(value)
    return None


def _end_reason(sample: dict) -> str:
    """Why the sample ended: its limit ("working_limit", ...), "error", or "completed"."""
    limit = sample.get("limit")
    if isinstance(limit, dict):
        return f"{limit.get('type')}_limit"
    return "error" if sample.get("error") else "completed"


def convert_sample(header: dict, sample: dict, env: str, variant: str, scorer: str | None, log_name: str,
                   parse_time) -> dict[str, Any]:  # fmt: skip
    """The trial content of one sample: trial, participant, events, pauses, submissions."""
    sample = _resolve(sample, sample.get("attachments") or {})
    spec, b = header["eval"], _Builder(parse_time)
    model = str(spec["model"])
    stamps = [t for t in (parse_time(e.get("timestamp")) for e in sample.get("events") or []) if t is not None]
    start = parse_time(sample.get("started_at")) or min(stamps, default=None) or parse_time(spec.get("created"))
    if start is None:
        raise ValueError("the sample has no start time and no timed events")
    scores = sample.get("scores") or {}
    if scorer is not None and scorer not in scores:
        raise ValueError(f"no scorer {scorer!r}; this sample has {sorted(scores) or 'no scores'}")
    _events(b, sample, final_from_events=not scores)
    end = max([parse_time(sample.get("completed_at")) or start] + [p[0] for p in b.points])
    working = sample.get("working_time")
    working = float(working) if isinstance(working, (int, float)) else max([0.0] + [p[1] for p in b.points])
    if scores:
        name = scorer or next(iter(scores))
        b.submission(end, working, scores[name], final=True, scorer=name)
    valid = [s["normalized"] for s in b.subs if s["valid"]]
    config = spec.get("config") or {}
    limit = time_limit(config, sample)
    # Without a limit the budget is stored as the sample's own working time (a budget must be a number);
    # settings.inspect.time_limit_s = None tells the report that the sample had none (console.compare.groups).
    budget = limit or working or (end - start) or 1.0
    sandbox = sample.get("sandbox") or spec.get("sandbox") or {}
    trial = {
        "environment": env, "variant": variant, "status": "ended", "end_reason": _end_reason(sample),
        "sandbox": str(sandbox.get("type") or "inspect") if isinstance(sandbox, dict) else "inspect",
        "budget_s": budget, "wall_backstop_s": float(config.get("time_limit") or max(3 * budget, end - start)),
        "created_at": start, "started_at": start, "ended_at": end, "workdir": "",
        "final_score": max(valid) if valid else None,
        "settings": _settings(header, sample, dict(b.skipped), working, log_name),
    }  # fmt: skip
    trial["settings"]["inspect"]["time_limit_s"] = limit
    events = sorted(b.events, key=lambda e: (e[0], e[1]))
    return {
        "trial": trial,
        "participant": {"name": model, "kind": "agent", "model": model, "settings": {}},
        "events": [{"id": i + 1, "at": at, "active_s": act, "kind": kind, "data": data}
                   for i, (at, act, kind, data) in enumerate(events)],  # fmt: skip
        "pauses": b.pauses(start),
        "submissions": b.subs,
        "snapshots": [],
    }
