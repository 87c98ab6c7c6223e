"""Checks of a trial file's content before anything is written (see bundle.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from console.store.service import TRIAL_STATUSES
from console.trials.clock import MAX_BUDGET_S
from scoring.payload import finite_number

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SNAPSHOT_FIELDS = {"snapshot": "hash", "score": "snapshot", "ended": "snapshot"}
UNFINISHED_KEY = "unfinished_export"  # a trial's settings key that bundle_identity.make_inert sets
_SNAPSHOT_INTS = {"files": 2**31 - 1, "bytes": 2**63 - 1}  # the columns' ranges (INTEGER, BIGINT)
NUM, OPT_NUM, STR, DICT, BOOL, INT = "number", "number or null", "text", "object", "true/false", "integer"

_SCHEMA: dict[str, dict[str, str]] = {
    "trial": {"environment": STR, "variant": STR, "sandbox": STR, "status": STR, "budget_s": NUM,
              "wall_backstop_s": NUM, "created_at": NUM, "started_at": OPT_NUM, "ended_at": OPT_NUM,
              "end_reason": STR, "workdir": STR, "final_score": OPT_NUM, "settings": DICT},
    "participant": {"name": STR, "kind": STR, "model": STR, "settings": DICT},
    "events": {"id": INT, "at": NUM, "active_s": NUM, "kind": STR, "data": DICT},
    "pauses": {"id": INT, "reason": STR, "started_at": NUM, "ended_at": OPT_NUM, "note": STR},
    "submissions": {"id": INT, "at": NUM, "active_s": NUM, "valid": BOOL, "raw": OPT_NUM, "normalized": OPT_NUM,
                    "message": STR, "reason": STR, "details": DICT, "calibration": DICT, "duration_s": NUM,
                    "snapshot": STR, "final": BOOL},
    "snapshots": {"hash": STR, "created_at": NUM, "files": INT, "bytes": INT},
}  # fmt: skip


class BundleError(Exception):
    """A trial file that cannot be imported: not one, another format version, or corrupt."""


def _fits(value: Any, kind: str) -> bool:
    """Whether a JSON value is of the expected kind (numbers finite: JSON has no NaN, Python's json reads it)."""
    number = finite_number(value)
    return {
        NUM: number, OPT_NUM: value is None or number, STR: isinstance(value, str), DICT: isinstance(value, dict),
        BOOL: isinstance(value, bool), INT: isinstance(value, int) and not isinstance(value, bool),
    }[kind]  # fmt: skip


def _check_record(record: Any, section: str, where: str, path: Path) -> None:
    if not isinstance(record, dict):
        raise BundleError(f"{path} is corrupt: {where} is not an object")
    for name, kind in _SCHEMA[section].items():
        if name not in record:
            raise BundleError(f"{path} is corrupt: {where} lacks the field {name!r}")
        if not _fits(record[name], kind):
            raise BundleError(f"{path} is corrupt: {where}.{name} should be {kind}, not {record[name]!r:.60}")


def check_content(content: dict[str, Any], path: Path) -> None:
    """BundleError naming the first field that is missing or of the wrong type."""
    for section in ("trial", "participant"):
        _check_record(content.get(section), section, section, path)
    if not 0 < content["trial"]["budget_s"] <= MAX_BUDGET_S:
        raise BundleError(f"{path} is corrupt: trial.budget_s must be more than 0 and at most {MAX_BUDGET_S:g} s")
    if content["trial"]["wall_backstop_s"] <= 0:
        raise BundleError(f"{path} is corrupt: trial.wall_backstop_s must be more than 0")
    if content["participant"]["kind"] not in ("human", "agent"):
        raise BundleError(f"{path} is corrupt: participant.kind must be human or agent")
    if not content["participant"]["name"]:
        raise BundleError(f"{path} is corrupt: participant.name is empty")
    _check_trial_times(content["trial"], path)
    for section in ("events", "pauses", "submissions", "snapshots"):
        records = content.get(section)
        if not isinstance(records, list):
            raise BundleError(f"{path} is corrupt: {section} is not a list")
        for i, record in enumerate(records):
            _check_record(record, section, f"{section}[{i}]", path)
    for i, snap in enumerate(content["snapshots"]):
        if not _HEX64.match(snap["hash"]):
            raise BundleError(f"{path} is corrupt: snapshots[{i}].hash is not a snapshot hash")
        for name, most in _SNAPSHOT_INTS.items():
            if not 0 <= snap[name] <= most:
                raise BundleError(f"{path} is corrupt: snapshots[{i}].{name} must be from 0 to {most}, "
                                  f"not {snap[name]!r:.60}")
    for i, p in enumerate(content["pauses"]):
        if not p["reason"]:
            raise BundleError(f"{path} is corrupt: pauses[{i}] has no reason")
        if p["ended_at"] is not None and p["ended_at"] < p["started_at"]:
            raise BundleError(f"{path} is corrupt: pauses[{i}] ends (ended_at {p['ended_at']!r}) before it "
                              f"starts (started_at {p['started_at']!r})")
    if sum(p["ended_at"] is None for p in content["pauses"]) > 1:
        raise BundleError(f"{path} is corrupt: more than one pause is open")
    ids = [s["id"] for s in content["submissions"]]
    if len(set(ids)) != len(ids):
        raise BundleError(f"{path} is corrupt: submission ids repeat")


def _check_trial_times(trial: dict[str, Any], path: Path) -> None:
    """A known status, an end time exactly when the trial ended, and no end before the start."""
    status, started, ended = trial["status"], trial["started_at"], trial["ended_at"]
    if status not in TRIAL_STATUSES:
        raise BundleError(f"{path} is corrupt: trial.status must be one of {', '.join(TRIAL_STATUSES)}, "
                          f"not {status!r:.60}")
    if (status == "ended") != (ended is not None):
        raise BundleError(f"{path} is corrupt: trial.ended_at must be a time when trial.status is ended, and null "
                          f"otherwise (status {status!r}, ended_at {ended!r})")
    if status != "ended" and UNFINISHED_KEY in trial["settings"]:
        raise BundleError(f"{path} is corrupt: trial.settings.{UNFINISHED_KEY} is set, but the trial has not ended")
    if started is not None and ended is not None and ended < started:
        raise BundleError(f"{path} is corrupt: the trial ends (ended_at {ended!r}) before it starts "
                          f"(started_at {started!r})")


def export_time(manifest: dict[str, Any], path: Path) -> float | None:
    """The manifest's exported_at (None in a file written before exports recorded it); BundleError when it is not
    a number."""
    at = manifest.get("exported_at")
    if at is not None and not finite_number(at):
        raise BundleError(f"{path} is corrupt: manifest.exported_at should be a number, not {at!r:.60}")
    return None if at is None else float(at)


def snapshot_refs(content: dict[str, Any]) -> set[str]:
    """Every snapshot hash the trial refers to: snapshot records, submissions and events."""
    refs = {s["hash"] for s in content["snapshots"]} | {s["snapshot"] for s in content["submissions"]}
    for e in content["events"]:
        name = _SNAPSHOT_FIELDS.get(e["kind"])
        if name is not None:
            refs.add(e["data"].get(name))
    return {r for r in refs if isinstance(r, str) and _HEX64.match(r)}
