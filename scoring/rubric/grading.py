"""A grading run: reproduce.sh in a copy of the candidate, then the judge on every leaf; manual overrides.

- reproduce.sh runs with bash (no profiles) in a temporary copy of the candidate folder, in its own
  process group, killed at the timeout, output capped; its log is kept. Where scoring/confine.py can,
  it runs confined like a candidate's process (the off-limits folders covered, no capabilities, its
  own PID and network namespaces, the file system read-only but for the copy and a private /tmp).
- If it is missing, fails (exit != 0) or times out, every code_execution and result_analysis leaf gets
  0 with that reason (source "reproduce"), without asking the judge; code_development leaves are judged.
- Code-only mode skips reproduce.sh and grades only code_development leaves; the others are "not
  graded" (score None) and left out of the total (see scoring.rubric.model for the rule).
- Grades are saved as JSON (GRADES_FILE, next to a trial or a candidate). A leaf's record keeps the
  judge's grade and a person's override (person, time, score, note); the effective score is the
  override's when there is one. load_grades reads a grades file; grades_from_dict reads grades already in
  memory (e.g. a submission's details), and says which field is wrong when they cannot be read.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from scoring import confine
from scoring.candidate import CANDIDATE_ENV_KEEP
from scoring.off_limits import off_limits
from scoring.rubric.judge import EXEC_CATEGORIES, Grade, Judge, Recorder, candidate_files, recorder_for
from scoring.rubric.model import Node, all_scores, node_score
from scoring.run_disk import REPRODUCE_PREFIX, candidate_folder

GRADES_FILE = "rubric_grades.json"
REPRODUCE = "reproduce.sh"
LOG_CAP = 1_000_000
REPRODUCE_DISK_BYTES = 4 << 30  # the file system its copy runs on: the submission, and what it writes


@dataclass
class ReproduceResult:
    """What reproduce.sh did."""

    ran: bool
    exit_code: int | None
    timed_out: bool
    duration_s: float
    log: str
    reason: str = ""  # why it counts as failed ("" when it succeeded)
    outputs: dict[str, str] = field(default_factory=dict)  # text files reproduce.sh created or changed

    @property
    def ok(self) -> bool:
        return not self.reason

    def summary(self) -> dict[str, Any]:
        return {"ran": self.ran, "exit_code": self.exit_code, "timed_out": self.timed_out,
                "duration_s": round(self.duration_s, 3), "reason": self.reason, "log_chars": len(self.log),
                "outputs": sorted(self.outputs)}


def run_reproduce(candidate_dir: str | Path, timeout_s: float, output_cap: int = LOG_CAP,
                  env: dict[str, str] | None = None) -> ReproduceResult:
    """Run `bash reproduce.sh` in a fresh copy of the candidate folder (the original is never touched).

    Its environment is the candidate's (scoring.candidate.CANDIDATE_ENV_KEEP, HOME = the copy): it never
    sees the judge's API key. `python` on the PATH is this interpreter's unless env sets PATH."""
    src = Path(candidate_dir)
    if not (src / REPRODUCE).is_file():
        return ReproduceResult(False, None, False, 0.0, "", reason=f"no {REPRODUCE} in the candidate")
    # its copy on a file system of its own (scoring/run_disk.py): what it writes cannot fill the host's disk
    with tempfile.TemporaryDirectory(prefix=REPRODUCE_PREFIX) as tmp, \
            candidate_folder(Path(tmp), REPRODUCE_DISK_BYTES) as work:
        shutil.copytree(src, work, symlinks=True, ignore=shutil.ignore_patterns(".git", "__pycache__"))
        started = time.monotonic()
        base = {k: os.environ[k] for k in CANDIDATE_ENV_KEEP if k in os.environ}  # no API keys, no judge settings
        base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", os.defpath)])
        # confined, /tmp is its own (and the run's temp folder is not its uid's): TMPDIR is that /tmp
        base.update(HOME=str(work), TMPDIR="/tmp" if confine.available() else str(tmp), PYTHONDONTWRITEBYTECODE="1")
        # confined: run unconfined, it could read the reference solutions and rearena's data folder, or
        # as root with every capability reach the scorer's process
        argv = confine.wrap([confine.tool("bash"), "--noprofile", "--norc", REPRODUCE], off_limits(), folder=work)
        proc = subprocess.Popen(argv, cwd=work, env=confine.clean_search_paths({**base, **(env or {})}),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        chunks, size, truncated = [], 0, False
        deadline = started + max(0.0, timeout_s)
        timed_out = False
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            exited_at = None
            while True:
                now = time.monotonic()
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is None and now >= deadline:
                    timed_out, exited_at = True, now
                    _kill_group(proc)
                if exited_at is not None and now - exited_at > 0.5:
                    break
                if sel.select(max(0.0, min(0.05, deadline - now) if exited_at is None else 0.1)):
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    if size < output_cap:
                        chunks.append(chunk[: output_cap - size])
                    else:
                        truncated = True
                    size += len(chunk)
        _kill_group(proc)  # whatever it left running
        proc.stdout.close()
        code = proc.wait()
        duration = time.monotonic() - started
        outputs = _changed_files(src, work)
    log = b"".join(chunks).decode("utf-8", "replace")
    if truncated or size > output_cap:
        log += f"\n[output cut at {output_cap} bytes of {size}]"
    reason = ""
    if timed_out:
        reason = f"{REPRODUCE} timed out after {timeout_s:g} s"
    elif code != 0:
        reason = f"{REPRODUCE} failed with exit code {code}"
    return ReproduceResult(True, None if timed_out else code, timed_out, duration, log, reason, outputs)


def _changed_files(src: Path, work: Path, limit: int = 20) -> dict[str, str]:
    """Text files of the copy that reproduce.sh created or changed (small ones, at most `limit`)."""
    before = candidate_files(src)
    after = candidate_files(work, max_file_bytes=100_000)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    return dict(sorted(changed.items())[:limit])


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- grade records -------------------------------------------------------------------------------

@dataclass
class Override:
    """A person's grade of a leaf."""

    person: str
    score: int
    at: float
    note: str = ""


@dataclass
class LeafRecord:
    """A leaf's judge grade and an optional manual override."""

    leaf_id: str
    judge: Grade | None = None
    override: Override | None = None

    @property
    def effective(self) -> int | None:
        if self.override is not None:
            return self.override.score
        return None if self.judge is None else self.judge.score

    def to_dict(self) -> dict[str, Any]:
        return {"leaf_id": self.leaf_id, "judge": None if self.judge is None else self.judge.to_dict(),
                "override": None if self.override is None else vars(self.override).copy(),
                "effective": self.effective}


@dataclass
class GradingResult:
    """Every leaf's record, the reproduction and the totals."""

    rubric: Node
    leaves: dict[str, LeafRecord]
    mode: str = "full"  # full | code_only
    reproduce: ReproduceResult | None = None
    calls: list[dict] = field(default_factory=list)  # judge calls when no store was given

    def leaf_scores(self) -> dict[str, int | None]:
        return {k: r.effective for k, r in self.leaves.items()}

    @property
    def score(self) -> float | None:
        return node_score(self.rubric, self.leaf_scores())

    def node_scores(self) -> dict[str, float | None]:
        return all_scores(self.rubric, self.leaf_scores())

    def cost_usd(self) -> float:
        return sum(r.judge.cost_usd for r in self.leaves.values() if r.judge is not None)

    def set_override(self, leaf_id: str, person: str, score: int, note: str = "", at: float | None = None) -> LeafRecord:
        """A person's grade for a leaf (the judge's grade is kept)."""
        if leaf_id not in self.leaves:
            raise KeyError(f"no leaf {leaf_id!r} in the rubric")
        if score not in (0, 1) or isinstance(score, bool):
            raise ValueError(f"a manual score is 0 or 1, got {score!r}")
        self.leaves[leaf_id].override = Override(person, int(score), time.time() if at is None else at, note)
        return self.leaves[leaf_id]

    def clear_override(self, leaf_id: str) -> None:
        self.leaves[leaf_id].override = None

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "mode": self.mode, "score": self.score, "cost_usd": self.cost_usd(),
                "reproduce": None if self.reproduce is None else {**self.reproduce.summary(),
                                                                   "log": self.reproduce.log[-20000:]},
                "leaves": {k: r.to_dict() for k, r in self.leaves.items()},
                "node_scores": self.node_scores(), "rubric": self.rubric.to_dict()}


def save_grades(result: GradingResult, folder: str | Path, name: str = GRADES_FILE) -> Path:
    """Write the grades as JSON into folder (atomically); returns the file."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_dict(), indent=2))
    tmp.replace(path)
    return path


class GradesError(ValueError):
    """Grades that cannot be read; the message names the field and what is wrong with it."""


def load_grades(path: str | Path, rubric: Node | None = None) -> GradingResult:
    """Grades from a file written by save_grades (the stored rubric unless one is given)."""
    path = Path(path)
    if path.is_dir():
        path = path / GRADES_FILE
    return grades_from_dict(json.loads(path.read_text()), rubric, str(path))


def grades_from_dict(data: Any, rubric: Node | None = None, source: str = "grades") -> GradingResult:
    """Grades from a dict as save_grades writes it (the stored rubric unless one is given); GradesError if bad."""
    from scoring.rubric.model import parse_rubric

    def bad(what: str) -> GradesError:
        return GradesError(f"{source}: {what}")

    if not isinstance(data, dict):
        raise bad(f"expected an object, got {_kind(data)}")
    if rubric is None:
        if "rubric" not in data:
            raise bad("no 'rubric' is stored and none was given")
        rubric = parse_rubric(data["rubric"], source)  # a RubricError (a ValueError) lists what is wrong
    mode = data.get("mode", "full")
    if mode not in ("full", "code_only"):
        raise bad(f"'mode' is 'full' or 'code_only', got {mode!r}")
    stored = data.get("leaves", {})
    if not isinstance(stored, dict):
        raise bad(f"'leaves' is an object keyed by leaf id, got {_kind(stored)}")
    leaves: dict[str, LeafRecord] = {}
    for leaf in rubric.leaves():
        where = f"leaves[{leaf.id!r}]"
        raw = stored.get(leaf.id) or {}
        if not isinstance(raw, dict):
            raise bad(f"{where} is an object, got {_kind(raw)}")
        judge = _stored(Grade, raw.get("judge"), f"{where}.judge", bad)
        override = _stored(Override, raw.get("override"), f"{where}.override", bad)
        if judge is not None and (judge.score not in (0, 1, None) or isinstance(judge.score, bool)):
            raise bad(f"{where}.judge: 'score' is 0, 1 or null, got {judge.score!r}")
        if override is not None and (override.score not in (0, 1) or isinstance(override.score, bool)):
            raise bad(f"{where}.override: 'score' is 0 or 1, got {override.score!r}")
        leaves[leaf.id] = LeafRecord(leaf.id, judge, override)
    rep = data.get("reproduce")
    reproduce = None
    if rep:
        if not isinstance(rep, dict):
            raise bad(f"'reproduce' is an object, got {_kind(rep)}")
        missing = [k for k in ("ran", "exit_code", "timed_out", "duration_s") if k not in rep]
        if missing:
            raise bad(f"'reproduce' lacks {', '.join(map(repr, missing))}")
        reproduce = ReproduceResult(rep["ran"], rep["exit_code"], rep["timed_out"], rep["duration_s"],
                                    rep.get("log", ""), rep.get("reason", ""))
        # outputs are not stored (only their names); the log is kept
    return GradingResult(rubric, leaves, mode, reproduce)


def _stored(cls, raw: Any, where: str, bad):
    """A Grade or an Override from its stored fields (None when absent), naming unknown or missing fields."""
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise bad(f"{where} is an object, got {_kind(raw)}")
    known = fields(cls)
    unknown = sorted(set(raw) - {f.name for f in known})
    if unknown:
        raise bad(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}")
    missing = [f.name for f in known if f.name not in raw and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise bad(f"{where} lacks {', '.join(map(repr, missing))}")
    return cls(**raw)


def _kind(value: Any) -> str:
    """A JSON value's kind, as a person who wrote the JSON names it."""
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


# -- the run -------------------------------------------------------------------------------------

def grade_candidate(rubric: Node, task: str, candidate_dir: str | Path, judge: Judge, *,
                    code_only: bool = False, reproduce_timeout_s: float = 600.0,
                    reproduce: ReproduceResult | None = None, store: Any = None, trial_id: int | None = None,
                    record: Recorder | None = None) -> GradingResult:
    """Grade a candidate folder: reproduce (unless code_only or given), then judge the leaves."""
    calls: list[dict] = []
    record = record or recorder_for(store, trial_id, calls)
    folder = Path(candidate_dir)
    items = [(n, anc) for n, anc in rubric.walk() if n.is_leaf]
    leaves = {n.id: LeafRecord(n.id) for n, _ in items}
    to_judge = []
    if code_only:
        reproduce = None
        for leaf, anc in items:
            if leaf.category in EXEC_CATEGORIES:
                leaves[leaf.id].judge = Grade(leaf.id, None, source="not_graded", reason="code-only mode")
            else:
                to_judge.append((leaf, anc))
    else:
        if reproduce is None:
            reproduce = run_reproduce(folder, reproduce_timeout_s)
        record("reproduce", reproduce.summary())
        for leaf, anc in items:
            if leaf.category in EXEC_CATEGORIES and not reproduce.ok:
                leaves[leaf.id].judge = Grade(leaf.id, 0, explanation=reproduce.reason, source="reproduce",
                                              reason=reproduce.reason)
            else:
                to_judge.append((leaf, anc))
    files = candidate_files(folder)
    if reproduce is not None:
        files.update(reproduce.outputs)  # the judge sees the folder as reproduce.sh left it (results too)
    log = reproduce.log if reproduce is not None else None
    for leaf_id, grade in judge.grade_many(task, to_judge, files, log, record).items():
        leaves[leaf_id].judge = grade
    return GradingResult(rubric, leaves, "code_only" if code_only else "full", reproduce, calls)
