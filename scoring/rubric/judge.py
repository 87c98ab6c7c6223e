"""The LLM judge: grades each rubric leaf 0/1 through any OpenAI-compatible endpoint.

The prompt holds the task text, the leaf's requirement with its ancestors' requirements, the most
relevant candidate files within a token budget (ranked by keyword overlap with the requirements;
tokens estimated as characters / chars_per_token) and, for code_execution and result_analysis
leaves, the reproduction log. The judge must answer a JSON object {"explanation": "...", "score": 0|1};
answers are parsed defensively (code fences, text around the object, "1", true/false) and a malformed
answer is asked again, at most `max_malformed` more times. API errors that can pass (429, 5xx, 408,
409, timeouts, dropped connections) are retried with backoff, at most `max_retries` times.
Every judge call is recorded (leaf id, attempt, tokens, cost, latency, the parsed grade or the error).
"""

from __future__ import annotations

import json
import os
import random
import re
import stat
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scoring.api_errors import classify, token_count
from scoring.rubric.model import Node
from scoring.tree_walk import FolderReader

EXEC_CATEGORIES = ("code_execution", "result_analysis")
SKIP_NAMES = {"human_grades.json", "rubric_grades.json"}  # never shown to the judge
SKIP_DIRS = {".git", "__pycache__", ".venv", "node_modules", ".mypy_cache", ".pytest_cache"}
TEXT_SUFFIXES = {".py", ".sh", ".md", ".txt", ".json", ".toml", ".yaml", ".yml", ".cfg", ".csv", ".ini", ".rst", ""}
SYSTEM_PROMPT = (
    "You are a strict grader of research replication attempts. You grade ONE requirement of a rubric "
    "against the submission you are shown. Answer with a JSON object only: "
    '{"explanation": "<one or two sentences>", "score": 0 or 1}. Score 1 only if the requirement is clearly met.'
)
EVENT_KIND = "judge_call"


def _content(response: Any) -> str | None:
    """The reply's text; None where the reply has another shape (then it is malformed, and asked again)."""
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    return content if isinstance(content, str) else None


class JudgeError(Exception):
    """The judge could not be used (configuration)."""


@dataclass
class JudgeConfig:
    """Where the judge is and how it behaves."""

    model: str
    base_url: str
    api_key: str = "none"
    concurrency: int = 4
    max_retries: int = 3  # API errors that can pass, per leaf
    max_malformed: int = 2  # extra asks after a malformed answer, per leaf
    token_budget: int = 6000  # for candidate files in one prompt
    chars_per_token: float = 4.0
    log_chars: int = 6000  # the tail of the reproduction log kept in the prompt
    request_timeout_s: float = 60.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    temperature: float | None = 0.0
    price: tuple[float, float] | None = None  # ($ per 1M input tokens, $ per 1M output tokens)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> JudgeConfig | None:
        """From REARENA_JUDGE_BASE_URL, REARENA_JUDGE_MODEL and REARENA_JUDGE_API_KEY_ENV (the name of
        the variable holding the key; default OPENAI_API_KEY); REARENA_JUDGE_PRICE="in,out" optional.
        None when the base URL or the model is missing."""
        env = os.environ if environ is None else environ
        base_url, model = env.get("REARENA_JUDGE_BASE_URL", ""), env.get("REARENA_JUDGE_MODEL", "")
        if not base_url or not model:
            return None
        key_var = env.get("REARENA_JUDGE_API_KEY_ENV") or "OPENAI_API_KEY"
        price = None
        if env.get("REARENA_JUDGE_PRICE"):
            a, b = env["REARENA_JUDGE_PRICE"].split(",")
            price = (float(a), float(b))
        return cls(model=model, base_url=base_url, api_key=env.get(key_var) or "none", price=price, **overrides)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        if not self.price:
            return 0.0
        return (prompt_tokens * self.price[0] + completion_tokens * self.price[1]) / 1e6


@dataclass
class Grade:
    """One leaf's grade. score None = not graded; source: judge | reproduce | not_graded | judge_failed."""

    leaf_id: str
    score: int | None
    explanation: str = ""
    source: str = "judge"
    reason: str = ""
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- parsing -------------------------------------------------------------------------------------

class Malformed(ValueError):
    """The judge's answer has no usable grade."""


def _score_value(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        v = value.strip().strip('"').lower()
        if v in ("1", "1.0", "true", "yes", "pass", "passed"):
            return 1
        if v in ("0", "0.0", "false", "no", "fail", "failed"):
            return 0
    raise Malformed(f"score must be 0 or 1, got {value!r}")


def parse_grade(text: str | None) -> tuple[int, str]:
    """(score, explanation) from the judge's answer; raises Malformed."""
    if not text or not text.strip():
        raise Malformed("empty answer")
    candidates = []
    for m in re.finditer(r"```(?:json)?\s*(.*?)```", text, re.S):
        candidates.append(m.group(1))
    candidates.append(text)
    start = text.find("{")
    while start != -1:
        depth = 0
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    candidates.append(text[start:i + 1])
                    break
        start = text.find("{", start + 1)
    for chunk in candidates:
        try:
            data = json.loads(chunk.strip())
        except ValueError:
            continue
        if isinstance(data, dict) and "score" in data:
            return _score_value(data["score"]), str(data.get("explanation") or "")[:2000]
    m = re.search(r'"?score"?\s*[:=]\s*"?(0|1|true|false)\b', text, re.I)
    if m:
        return _score_value(m.group(1)), ""
    raise Malformed("no JSON object with a 'score' in the answer: " + text[:200])


# -- file selection ------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z][a-z0-9_]{2,}")
_STOP = {"the", "and", "for", "with", "that", "this", "are", "from", "each", "its", "has", "have", "into",
         "use", "uses", "used", "using", "must", "should", "code", "file", "files", "which", "when", "all"}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower().replace("-", "_")) if w not in _STOP} | {
        p for w in _WORD.findall(text.lower()) for p in w.split("_") if len(p) > 2 and p not in _STOP}


def candidate_files(folder: Path, max_file_bytes: int = 200_000) -> dict[str, str]:
    """Readable text files of a candidate folder, by relative path."""
    out: dict[str, str] = {}
    try:
        reader = FolderReader(folder)
    except OSError:
        return out
    # never through a symbolic link (a link could name any file this process may read: /proc/self/environ
    # holds the judge's API key), without recursion, skipping SKIP_DIRS and hidden names
    with reader:
        for found, info in reader.walk(_skipped, unreadable="skip"):
            if not stat.S_ISREG(info.st_mode):
                continue
            rel = Path(found)
            if rel.name in SKIP_NAMES or rel.suffix.lower() not in TEXT_SUFFIXES:
                continue
            try:  # a file swapped for a link or a FIFO since the walk, or a folder on its way, is refused
                with reader.open(found) as f:
                    data = f.read(max_file_bytes + 1)
                if len(data) <= max_file_bytes:
                    out[str(rel)] = data.decode("utf-8")
            except (UnicodeDecodeError, OSError):
                continue
    return dict(sorted(out.items()))


def _skipped(name: str, info: os.stat_result) -> bool:
    return name in SKIP_DIRS or name.startswith(".")


def select_files(files: Mapping[str, str], query: str, token_budget: int,
                 chars_per_token: float = 4.0) -> list[tuple[str, str]]:
    """The most relevant files for the query within the budget: ranked by keyword overlap (a name match
    counts 3x), ties by shorter file; a file that does not fit whole is cut to what is left (if >= 200 chars)."""
    q = _words(query)

    def rank(item: tuple[str, str]) -> tuple[float, int, str]:
        name, body = item
        name_hits = len(q & _words(name.replace("/", " ").replace(".", " ")))
        body_hits = len(q & _words(body[:50_000]))
        return (-(3 * name_hits + body_hits), len(body), name)

    left = int(token_budget * chars_per_token)
    chosen = []
    for name, body in sorted(files.items(), key=rank):
        if left <= 0:
            break
        if len(body) <= left:
            chosen.append((name, body))
            left -= len(body)
        elif left >= 200:
            chosen.append((name, body[:left] + "\n... [cut to fit the token budget]"))
            left = 0
    return chosen


def build_prompt(task: str, leaf: Node, ancestors: tuple[Node, ...], files: Mapping[str, str],
                 log: str | None, config: JudgeConfig) -> str:
    """The user message for one leaf."""
    chain = "\n".join(f"{'  ' * i}- {a.requirements}" for i, a in enumerate(ancestors))
    query = " ".join([leaf.requirements, *(a.requirements for a in ancestors[1:])])
    parts = [f"# Task\n{task.strip()}\n",
             f"# Requirement to grade (id {leaf.id}, category {leaf.category})\n{leaf.requirements}\n",
             f"# Context: the requirements above it, from the top\n{chain or '(none)'}\n",
             "# Submission files (the most relevant ones)"]
    for name, body in select_files(files, query, config.token_budget, config.chars_per_token):
        parts.append(f"## {name}\n```\n{body}\n```")
    if leaf.category in EXEC_CATEGORIES:
        tail = (log or "")[-config.log_chars:]
        parts.append(f"# Reproduction log (output of reproduce.sh, last {config.log_chars} characters)\n```\n{tail}\n```")
    parts.append('Answer with a JSON object only: {"explanation": "<short>", "score": 0 or 1}')
    return "\n\n".join(parts)


# -- calling -------------------------------------------------------------------------------------

Recorder = Callable[[str, dict], None]


def recorder_for(store: Any = None, trial_id: int | None = None, log: list[dict] | None = None) -> Recorder:
    """Where judge calls go: events of a trial (a TrialService with .event, or a Store with .add_event),
    or else appended to `log`."""
    lock = threading.Lock()
    if store is not None and trial_id is not None:
        if hasattr(store, "event"):
            return lambda kind, data: store.event(trial_id, kind, data)
        return lambda kind, data: store.add_event(trial_id, kind, data, time.time(), 0.0)
    sink = log if log is not None else []

    def record(kind: str, data: dict) -> None:
        with lock:
            sink.append({"kind": kind, **data})
    return record


class Judge:
    """Grades leaves with one model; thread-safe (one openai client shared by the workers)."""

    def __init__(self, config: JudgeConfig, client: Any = None, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        if client is None:
            import openai

            client = openai.OpenAI(api_key=config.api_key or "none", base_url=config.base_url,
                                   timeout=config.request_timeout_s, max_retries=0)
        self.client = client
        self.sleep = sleep
        self.rng = random.Random()

    def _request(self, messages: list[dict]) -> Any:
        body: dict[str, Any] = {"model": self.config.model, "messages": messages}
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        return self.client.chat.completions.create(**body)

    def grade(self, task: str, leaf: Node, ancestors: tuple[Node, ...], files: Mapping[str, str],
              log: str | None, record: Recorder) -> Grade:
        """One leaf's grade; never raises for API trouble (the grade then has source judge_failed, score None)."""
        import openai

        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": build_prompt(task, leaf, ancestors, files, log, self.config)}]
        grade = Grade(leaf.id, None, source="judge_failed")
        errors = malformed = 0
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                response = self._request(messages)
            except openai.APIError as exc:
                latency = time.perf_counter() - started
                kind, retryable = classify(exc)
                give_up = not retryable or errors >= self.config.max_retries
                record(EVENT_KIND, {"leaf_id": leaf.id, "attempt": attempt, "ok": False, "error": kind,
                                    "status": getattr(exc, "status_code", None), "message": str(exc)[:500],
                                    "latency_s": latency, "gave_up": give_up, "model": self.config.model})
                grade.calls += 1
                grade.latency_s += latency
                if give_up:
                    grade.reason = f"api_error: {kind}"
                    grade.explanation = str(exc)[:500]
                    return grade
                ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** errors)
                self.sleep(ceiling * (0.5 + 0.5 * self.rng.random()))
                errors += 1
                continue
            latency = time.perf_counter() - started
            usage = getattr(response, "usage", None)
            # 0 where the endpoint gave none, or no whole number
            pt, ct = token_count(usage, "prompt_tokens") or 0, token_count(usage, "completion_tokens") or 0
            cost = self.config.cost(pt, ct)
            grade.calls += 1
            grade.prompt_tokens += pt
            grade.completion_tokens += ct
            grade.cost_usd += cost
            grade.latency_s += latency
            content = _content(response)
            data = {"leaf_id": leaf.id, "attempt": attempt, "prompt_tokens": pt, "completion_tokens": ct,
                    "cost_usd": cost, "latency_s": latency, "model": self.config.model}
            try:
                score, explanation = parse_grade(content)
            except Malformed as exc:
                give_up = malformed >= self.config.max_malformed
                record(EVENT_KIND, {**data, "ok": False, "error": "malformed", "message": str(exc)[:500],
                                    "gave_up": give_up})
                if give_up:
                    grade.reason = "malformed answers"
                    grade.explanation = str(exc)[:500]
                    return grade
                malformed += 1
                messages = messages + [
                    {"role": "assistant", "content": content or ""},
                    {"role": "user", "content": 'That answer could not be read. Reply with only a JSON object: '
                                                '{"explanation": "<short>", "score": 0 or 1}'}]
                continue
            record(EVENT_KIND, {**data, "ok": True, "score": score, "explanation": explanation})
            grade.score, grade.explanation, grade.source = score, explanation, "judge"
            return grade

    def grade_many(self, task: str, items: list[tuple[Node, tuple[Node, ...]]], files: Mapping[str, str],
                   log: str | None, record: Recorder) -> dict[str, Grade]:
        """Grades of many leaves, at most config.concurrency at a time."""
        if not items:
            return {}
        workers = max(1, min(self.config.concurrency, len(items)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge") as pool:
            futures = [pool.submit(self.grade, task, leaf, anc, files, log, record) for leaf, anc in items]
            return {g.leaf_id: g for g in (f.result() for f in futures)}
