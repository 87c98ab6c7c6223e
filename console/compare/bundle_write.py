"""Writing an imported trial in one transaction, and finding one imported before (see bundle.py).

A trial file or an Inspect log may carry any text (a crafted one, or an agent's output): what is written is
cleaned as the store cleans what it records (console.store.clean: a NUL or a lone surrogate, which
PostgreSQL or the UTF-8 encoder refuse, replaced), and a file is compared with the database cleaned too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from console.compare.bundle_check import BundleError
from console.store.clean import clean_json, clean_text
from console.store.tables import Event, Participant, Pause, Snapshot, Submission, Trial

P, T, E = Participant.__table__, Trial.__table__, Event.__table__
PA, S, SN = Pause.__table__, Submission.__table__, Snapshot.__table__
RECORDS = ("events", "pauses", "submissions", "snapshots")


def _clean_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record with its text fields and JSON objects storable (numbers and flags as they are)."""
    return {k: clean_text(v) if isinstance(v, str) else clean_json(v) if isinstance(v, dict) else v
            for k, v in record.items()}


def clean_content(content: dict[str, Any]) -> dict[str, Any]:
    """The trial's content as the store will hold it: every text field and JSON object cleaned."""
    cleaned = {section: _clean_record(content[section]) for section in ("trial", "participant")}
    return cleaned | {section: [_clean_record(r) for r in content[section]] for section in RECORDS}


def find_existing(store, content: dict[str, Any], digest: str, digest_of, content_of) -> int | None:
    """The id of this trial if the store already holds it; BundleError if it holds a different one like it.

    `digest` is that of the file's content; the database holds it cleaned, so where cleaning changed
    something the cleaned content's digest is the one compared."""
    cleaned = clean_content(content)
    t, who = cleaned["trial"], cleaned["participant"]
    for trial in store.trials(environment=t["environment"]):
        if (trial.variant, trial.created_at, trial.participant, trial.participant_kind) != (
            t["variant"], t["created_at"], who["name"], who["kind"]
        ):
            continue
        if store.participant_by_id(trial.participant_id).model != who["model"]:
            continue
        stored = digest_of(content_of(store, trial.id))
        if stored == digest or stored == digest_of(cleaned):
            return trial.id
        raise BundleError(
            f"trial {trial.id} in this database has the same participant, environment and creation time as "
            f"the trial in this file, but different content (one of them changed after the export); "
            f"nothing was imported"
        )
    return None


def _participant(conn, who: dict[str, Any]) -> int:
    """Find or create the participant (name, kind, model) inside the transaction."""
    where = (P.c.name == who["name"]) & (P.c.kind == who["kind"]) & (P.c.model == who["model"])
    found = conn.execute(select(P.c.id).where(where)).scalar()
    if found is not None:
        return found
    values = {k: who[k] for k in ("name", "kind", "model", "settings")}
    return conn.execute(P.insert().values(**values)).inserted_primary_key[0]


def write_content(store, content: dict[str, Any]) -> tuple[int, dict[int, int]]:
    """Insert participant, trial, submissions, events, pauses and snapshot records, cleaned; (trial id,
    old->new sub ids)."""
    content = clean_content(content)
    writer = store.engine.execution_options(rearena_begin="IMMEDIATE")
    with writer.begin() as conn:
        trial = {k: v for k, v in content["trial"].items() if k != "id"}
        trial["participant_id"] = _participant(conn, content["participant"])
        trial_id = conn.execute(T.insert().values(**trial)).inserted_primary_key[0]
        sub_map: dict[int, int] = {}
        for s in content["submissions"]:
            values = {k: v for k, v in s.items() if k != "id"}
            sub_map[s["id"]] = conn.execute(S.insert().values(trial_id=trial_id, **values)).inserted_primary_key[0]
        events = []
        for e in content["events"]:
            data = e["data"]
            if e["kind"] == "score" and isinstance(data.get("submission"), int) and data["submission"] in sub_map:
                data = {**data, "submission": sub_map[data["submission"]]}
            events.append({"trial_id": trial_id, "at": e["at"], "active_s": e["active_s"], "kind": e["kind"],
                           "data": data})  # fmt: skip
        if events:
            conn.execute(E.insert(), events)
        pauses = [{k: v for k, v in p.items() if k != "id"} | {"trial_id": trial_id} for p in content["pauses"]]
        if pauses:
            conn.execute(PA.insert(), pauses)
        snaps = [dict(s, trial_id=trial_id) for s in content["snapshots"]]
        if snaps:
            conn.execute(SN.insert(), snaps)
    return trial_id, sub_map
