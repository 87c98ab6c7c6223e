"""A trial and everything recorded with it as JSON-ready data, and its canonical form and digest (see bundle.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

FORMAT = "rearena-trial"
FORMAT_VERSION = 1
TRIAL_KEYS = ("environment", "variant", "sandbox", "status", "budget_s", "wall_backstop_s", "created_at",
              "started_at", "ended_at", "end_reason", "workdir", "final_score", "settings")  # fmt: skip
SUB_KEYS = ("at", "active_s", "valid", "raw", "normalized", "message", "reason", "details", "calibration",
            "duration_s", "snapshot", "final")  # fmt: skip


def trial_content(store, trial_id: int) -> dict[str, Any]:
    """A trial and everything recorded with it, as JSON-ready data (with this database's ids).

    `store` is a Store (or one reading inside a transaction: Store.reading_through)."""
    trial = store.trial(trial_id)
    who = store.participant_by_id(trial.participant_id)
    return {
        "trial": {"id": trial.id, **{k: getattr(trial, k) for k in TRIAL_KEYS}},
        "participant": {"name": who.name, "kind": who.kind, "model": who.model, "settings": who.settings},
        "events": [{"id": e.id, "at": e.at, "active_s": e.active_s, "kind": e.kind, "data": e.data}
                   for e in store.events_bulk(trial_id)],  # fmt: skip
        "pauses": [{"id": p.id, "reason": p.reason, "started_at": p.started_at, "ended_at": p.ended_at,
                    "note": p.note} for p in store.pauses(trial_id)],  # fmt: skip
        "submissions": [{"id": s.id, **{k: getattr(s, k) for k in SUB_KEYS}} for s in store.submissions(trial_id)],
        "snapshots": [{"hash": s.hash, "created_at": s.created_at, "files": s.files, "bytes": s.bytes}
                      for s in store.snapshots(trial_id)],  # fmt: skip
    }


def canonical_content(content: dict[str, Any]) -> dict[str, Any]:
    """The content without database ids (a score event's submission becomes the submission's position)."""
    position = {s["id"]: i for i, s in enumerate(content["submissions"])}

    def event(e: dict) -> dict:
        data = e["data"]
        if e["kind"] == "score" and isinstance(data.get("submission"), int):
            data = {**data, "submission": position.get(data["submission"], -1)}
        return {"at": e["at"], "active_s": e["active_s"], "kind": e["kind"], "data": data}

    return {
        "trial": {k: v for k, v in content["trial"].items() if k != "id"},
        "participant": content["participant"],
        "events": [event(e) for e in content["events"]],
        "pauses": [{k: v for k, v in p.items() if k != "id"} for p in content["pauses"]],
        "submissions": [{k: v for k, v in s.items() if k != "id"} for s in content["submissions"]],
        "snapshots": content["snapshots"],
    }


def content_digest(content: dict[str, Any]) -> str:
    """The sha256 of the content without database ids (submission references become positions)."""
    text = json.dumps(canonical_content(content), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
