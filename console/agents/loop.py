"""The agent loop: ask the model, run its tool calls in the sandbox, record everything, stop at a limit.

Each step: check the stop flag, pauses and the active-time budget; tell the model its remaining
time; request a completion (retried, see api.py); record the response; run each tool call and
record it and its output. Every event is written before the next step starts. The trial always
ends cleanly, with the best valid score so far, and a reason: submitted, budget, wall_backstop,
step_limit, token_limit, cost_limit, refusal, idle, context_overflow, api_error, stopped or
agent_error (or, ended by a console that found its process dead, agent_gone).

Limits are checked again before each tool call: once the trial has ended or its time is spent, the
turn's remaining calls are not run (an agent_note says which). A turn that crosses the token or cost
limit still has its score and submit calls run, as a scoring asked for in time is. Under a token
limit each reply is capped at the tokens left; an endpoint that sends no token counts has them
estimated from the text's length (4 characters a token), marked estimated, and counted all the same.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.agents import history
from console.agents.api import API_WAIT, AgentStop, ContextOverflow, ModelCaller, make_client
from console.agents.replies import token_counts
from console.agents.tools import TOOL_SCHEMAS, ToolBox

PAUSE_POLL_S = 0.25  # how often a paused trial is checked for resumption
CHARS_PER_TOKEN = 4  # the estimate of tokens where the endpoint sends no counts
SCHEMA_CHARS = len(json.dumps(TOOL_SCHEMAS))
LATE_TOOLS = ("score", "submit")  # run even in the turn that crossed the token or cost limit
ERROR_REASONS = ("api_error", "agent_error", "sandbox_failed")  # end reasons that mean the run failed rather than stopped at a limit


@dataclass
class StepTiming:
    """Where one step's time went: in total, in HTTP calls (with retries), in tools; the rest is overhead."""

    total_s: float
    http_s: float
    tools_s: float

    @property
    def overhead_s(self) -> float:
        """The loop's own time: bookkeeping, events, messages."""
        return self.total_s - self.http_s - self.tools_s


class AgentRun:
    """Runs one agent trial (already created) to its end; `stop` (a threading.Event) ends it between steps."""

    def __init__(self, service, trial_id: int, config, *, client: Any = None, stop: threading.Event | None = None,
                 sleep: Callable[[float], Any] | None = None, sandbox: Any = None,
                 progress: Callable[[str], None] | None = None):
        self.service = service
        self.store = service.store
        self.trial_id = trial_id
        self.config = config
        self.client = client
        self.stop = stop or threading.Event()
        self._sleep_fn = sleep
        self.sandbox = sandbox
        self.progress = progress  # progress(text): failed API attempts and retries, as they happen
        self.last_error: str | None = None  # the text of the latest api_error or agent_error event
        self.steps = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0
        self.estimated = False  # some token counts were estimated (the endpoint sent none)
        self.idle = 0  # consecutive turns without a tool call
        self.idle_kinds: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.timings: list[StepTiming] = []

    @property
    def tokens(self) -> int:
        """Prompt and completion tokens used so far."""
        return self.prompt_tokens + self.completion_tokens

    def record(self, kind: str, data: dict[str, Any]) -> None:
        """Write one event of this trial."""
        if kind in ERROR_REASONS:
            self.last_error = str(data.get("message") or data.get("error") or "")
        self.service.event(self.trial_id, kind, data)

    def _sleep(self, seconds: float) -> bool:
        """Wait (interruptibly); True when a stop was asked for."""
        if self._sleep_fn is None:
            return self.stop.wait(seconds)
        self._sleep_fn(seconds)
        return self.stop.is_set()

    # -- the run -------------------------------------------------------------------------------

    def run(self):
        """Run the trial to its end; returns the ended TrialRecord (never raises for agent failures)."""
        reason = "agent_error"
        try:
            self._setup()
            reason = None
            while reason is None:
                reason = self.step()
        except AgentStop as stop:
            reason = stop.reason
        except Exception as exc:  # a bug or a broken store: record it, end the trial
            self._safe_record("agent_error", {"error": f"{type(exc).__name__}: {exc}",
                                              "traceback": traceback.format_exc()[-4000:]})
        trial = self.store.trial(self.trial_id)
        if trial.status != "ended":
            trial = self.service.end(self.trial_id, reason or "agent_error")
        return trial

    def _safe_record(self, kind: str, data: dict[str, Any]) -> None:
        try:
            self.record(kind, data)
        except Exception:  # the store itself failed: nothing more to keep
            pass

    def _setup(self) -> None:
        trial = self.store.trial(self.trial_id)
        env = self.service.registry.get(trial.environment)
        self.sandbox = self.sandbox or self._open_sandbox(trial)
        self.tools = ToolBox(self.service, trial, self.sandbox, self.config, env.scores_visible, stop=self.stop)
        self.caller = ModelCaller(self.service, self.trial_id, self.config, self.client or make_client(self.config),
                                  self.record, self._sleep, notify=self.progress, stop=self.stop)
        text = history.intro(env, trial, self.service.instructions(self.trial_id))
        self.service.start(self.trial_id)  # the clock starts once the client is ready
        self.messages = [{"role": "system", "content": self.config.system_prompt}, {"role": "user", "content": text}]
        self.record("agent_note", {"kind": "intro", "system": self.config.system_prompt, "text": text,
                                   "model": self.config.model, "tools": [t["function"]["name"] for t in TOOL_SCHEMAS]})

    def _open_sandbox(self, trial):
        """The trial's sandbox; AgentStop "stopped" when the run is stopped meanwhile, "sandbox_failed" (an
        infrastructure failure, not the agent's: a report leaves such a trial out) when it cannot be opened."""
        from console.sandbox import SandboxError, SandboxStopped, get_sandbox

        try:
            return get_sandbox(trial, self.store.data_dir, stop=self.stop)
        except SandboxStopped:
            raise AgentStop("stopped") from None
        except SandboxError as exc:
            self._safe_record("sandbox_failed", {"error": str(exc)[:4000]})
            raise AgentStop("sandbox_failed") from None

    def step(self) -> str | None:
        """One model turn and its tool calls; returns an end reason, or None to go on."""
        if self.stop.is_set():
            return "stopped"
        waited = self._wait_while_paused()
        if waited:
            return waited
        started = time.perf_counter()
        trial = self.service.check_limits(self.trial_id)
        if trial.status == "ended":
            return trial.end_reason
        remaining = max(0.0, trial.budget_s - self.service.active_time(self.trial_id))
        note = history.time_note(remaining, trial.budget_s, self.steps + 1, self.config, self.tokens, self.cost_usd,
                                 self.estimated)
        self.messages.append({"role": "user", "content": note})
        params = self.config.request_params(self._tokens_left())
        self.record("model_request", {"step": self.steps + 1, "model": self.config.model,
                                      "messages": len(self.messages), "params": params,
                                      "tools": len(TOOL_SCHEMAS), "remaining_s": remaining, "note": note})
        done = self._complete(params)
        self.steps += 1
        message = done.response.choices[0].message
        calls = history.tool_calls_of(message)
        self._account(done, message, calls)
        self.messages.append(history.assistant_message(message))
        reason = self._over_limit()
        tools_s = 0.0
        if reason is not None:  # its score and submit calls still run; the trial ends at the limit all the same
            late = [c for c in calls if c["name"] in LATE_TOOLS]
            self._not_run([c for c in calls if c["name"] not in LATE_TOOLS], reason)
            if late:
                ran, tools_s = self._run_tools(late, trial.budget_s)
                reason = "submitted" if ran == "submitted" else reason
        else:
            reason, tools_s = (self._run_tools(calls, trial.budget_s) if calls else (self._idle_turn(message), 0.0))
        if reason is None and self.config.max_steps and self.steps >= self.config.max_steps:
            reason = "step_limit"
        self.timings.append(StepTiming(time.perf_counter() - started, done.http_s, tools_s))
        return reason

    # -- pieces of a step ----------------------------------------------------------------------

    def _wait_while_paused(self) -> str | None:
        """Hold while someone else's pause (e.g. a human's) stops the clock; 'stopped' if asked to stop."""
        while True:
            pause = self.store.open_pause_of(self.trial_id)
            if pause is None or pause.reason == API_WAIT:
                return None
            trial = self.service.check_limits(self.trial_id)
            if trial.status == "ended":
                return trial.end_reason
            if self.stop.wait(PAUSE_POLL_S):
                return "stopped"

    def _tokens_left(self) -> int | None:
        """Under a token limit, the tokens left for the reply: the limit less what was used and (estimated) what
        this request's prompt will use; None without a token limit."""
        if not self.config.max_tokens:
            return None
        return max(1, self.config.max_tokens - self.tokens - self._prompt_estimate())

    def _prompt_estimate(self) -> int:
        """The tokens of the messages as they stand (with the tools' schemas), estimated from their length."""
        return (history.text_chars(self.messages) + SCHEMA_CHARS) // CHARS_PER_TOKEN

    def _complete(self, params: dict[str, Any] | None = None):
        """A completion, truncating the oldest tool outputs when the context overflows."""
        for tries in range(self.config.max_context_truncations + 1):
            try:
                return self.caller.complete(self.messages, TOOL_SCHEMAS, self.steps + 1, params)
            except ContextOverflow:
                count = history.truncate_oldest(self.messages) if tries < self.config.max_context_truncations else 0
                if not count:
                    self.record("agent_note", {"kind": "context_overflow", "text": "nothing left to truncate"})
                    raise AgentStop("context_overflow") from None
                note = history.truncation_note(count)
                self.messages.append({"role": "user", "content": note})
                self.record("agent_note", {"kind": "context_truncated", "removed": count, "text": note})
        raise AgentStop("context_overflow")

    def _account(self, done, message, calls: list[dict[str, str]]) -> None:
        """Count tokens and cost (a missing or malformed count is estimated from the text's length, recorded as
        unknown and estimated); record the response."""
        usage = getattr(done.response, "usage", None)
        counts, unknown = token_counts(usage)
        reasoning = _reasoning_of(message)
        estimates = {}
        if "prompt_tokens" in unknown:  # the messages sent (this reply is not in them yet)
            estimates["prompt_tokens"] = self._prompt_estimate()
        if "completion_tokens" in unknown:
            text = len(message.content or "") + len(reasoning or "") + sum(len(c["name"]) + len(c["arguments"] or "")
                                                                             for c in calls)
            estimates["completion_tokens"] = text // CHARS_PER_TOKEN + 1
        self.estimated = self.estimated or bool(estimates)
        prompt = counts.get("prompt_tokens", estimates.get("prompt_tokens", 0))
        completion = counts.get("completion_tokens", estimates.get("completion_tokens", 0))
        cost = self.config.cost(prompt, completion)
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cost_usd += cost
        extra = {"usage_unknown": unknown, "usage_estimated": estimates} if unknown else {}
        self.record("model_response", {
            "step": self.steps, "content": message.content, "refusal": getattr(message, "refusal", None),
            **({"reasoning": reasoning} if reasoning else {}),
            "tool_calls": calls, "finish_reason": getattr(done.response.choices[0], "finish_reason", None),
            "usage": {**counts, **estimates, "total_tokens": prompt + completion}, **extra,
            **_response_facts(done.response, usage),
            "latency_s": round(done.latency_s, 6), "attempts": done.attempts, "cost_usd": cost,
            "totals": {"tokens": self.tokens, "cost_usd": self.cost_usd, "steps": self.steps,
                       **({"estimated": True} if self.estimated else {})}})

    def _over_limit(self) -> str | None:
        cfg = self.config
        if cfg.max_tokens and self.tokens >= cfg.max_tokens:
            return "token_limit"
        if cfg.max_cost_usd and self.cost_usd >= cfg.max_cost_usd:
            return "cost_limit"
        return None

    def _run_tools(self, calls: list[dict[str, str]], budget_s: float) -> tuple[str | None, float]:
        """Run the turn's tool calls in order, each only while the trial runs and has time left; (end reason or
        None, seconds spent in tools)."""
        self.idle, self.idle_kinds = 0, []
        spent = 0.0
        for index, call in enumerate(calls):
            remaining = max(0.0, budget_s - self.service.active_time(self.trial_id))
            reason = self._cannot_run(remaining)
            if reason is not None:
                self._not_run(calls[index:], reason)
                trial = self.service.check_limits(self.trial_id)  # ended at the moment its time ran out
                return (trial.end_reason if trial.status == "ended" else reason), spent
            self.record("tool_call", {"step": self.steps, "id": call["id"], "name": call["name"],
                                      "arguments": call["arguments"]})
            result = self.tools.run(call["name"], call["arguments"], remaining)
            spent += result.duration_s
            self.record("tool_output", {"step": self.steps, "id": call["id"], "name": call["name"],
                                        "output": result.output, "error": result.error, "details": result.details,
                                        "duration_s": round(result.duration_s, 6)})
            self.messages.append(history.tool_message(call["id"], result.output))
            if result.submitted:
                self.service.end(self.trial_id, "submitted")
                return "submitted", spent
        return None, spent

    def _cannot_run(self, remaining_s: float) -> str | None:
        """Why no more tool calls can run (a stop asked for, the trial ended, no active time left), or None."""
        if self.stop.is_set():
            return "stopped"
        trial = self.store.trial(self.trial_id)
        if trial.status == "ended":
            return trial.end_reason
        if remaining_s <= 0 and self.store.open_pause_of(self.trial_id) is None:
            return "budget"
        if trial.started_at is not None and self.service.clock() - trial.started_at >= trial.wall_backstop_s:
            return "wall_backstop"
        return None

    def _not_run(self, calls: list[dict[str, str]], reason: str) -> None:
        """Record the tool calls of this turn that are not run, and why (the trial ends: no answer is owed)."""
        if calls:
            self.record("agent_note", {"kind": "tools_not_run", "reason": reason, "step": self.steps,
                                       "calls": [{"id": c["id"], "name": c["name"]} for c in calls],
                                       "text": f"{len(calls)} tool call(s) of step {self.steps} not run ({reason})"})

    def _idle_turn(self, message) -> str | None:
        """A turn without a tool call (a refusal, an empty or a text-only answer): nudge, or end after N."""
        kind = ("refusal" if getattr(message, "refusal", None) else "no_tool_call" if message.content else "empty")
        self.idle += 1
        self.idle_kinds.append(kind)
        ending = self.idle >= self.config.max_refusals
        self.record("agent_note", {"kind": kind, "consecutive": self.idle, "text": "" if ending else history.NUDGE,
                                   "refusal": getattr(message, "refusal", None), "ending": ending})
        if ending:
            return "idle" if set(self.idle_kinds) == {"no_tool_call"} else "refusal"
        self.messages.append({"role": "user", "content": history.NUDGE})
        return None


def _reasoning_of(message) -> str | None:
    """The reasoning text some servers send beside the content (reasoning_content: DeepSeek, vLLM; reasoning:
    OpenRouter, Ollama), or None."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(message, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _response_facts(response, usage) -> dict[str, Any]:
    """The response's id, the model that served it, and every usage detail (reasoning and cached tokens...)."""
    facts: dict[str, Any] = {}
    for key, name in (("response_id", "id"), ("served_model", "model"), ("system_fingerprint", "system_fingerprint")):
        value = getattr(response, name, None)
        if isinstance(value, str) and value:
            facts[key] = value
    dump = getattr(usage, "model_dump", None)
    if dump is not None:
        try:
            details = dump(exclude_none=True, warnings=False)
        except Exception:  # a usage object the client built without validation: its details are not needed
            details = None
        if isinstance(details, dict) and details:
            facts["usage_details"] = details
    return facts
