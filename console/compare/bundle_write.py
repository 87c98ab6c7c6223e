"""Writing an imported trial in one transaction that no other import runs beside (see bundle.py).

A trial file or an Inspect log may carry any text (a crafted one, or an agent's output): what is written is
cleaned as the store cleans what it records (console.store.clean: a NUL or a lone surrogate, which
PostgreSQL or the UTF-8 encoder refuse, replaced), and a file is compared with the database cleaned too.

Whether the database holds the trial already is decided inside the write transaction (write_once), with other
imports kept out (SQLite: BEGIN IMMEDIATE takes the database's write lock; PostgreSQL: a transaction-scoped
advisory lock), so that two imports of one file at once write it once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, select, text

from console.store.clean import clean_json, clean_text
from console.store.tables import Event, Participant, Pause, Snapshot, Submission, Trial

P, T, E = Participant.__table__, Trial.__table__, Event.__table__
PA, S, SN = Pause.__table__, Submission.__table__, Snapshot.__table__
RECORDS = ("events", "pauses", "submissions", "snapshots")
NEW, SAME, REPLACE = "new", "same", "replace"  # what an import does: write a trial, nothing, or replace one
_PG_IMPORT_LOCK = 7_271_975_002  # advisory lock id serializing imports on PostgreSQL (db.py's init lock: ..._001)


def _clean_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record with its text fields and JSON objects storable (numbers and flags as they are)."""
    return {k: clean_text(v) if isinstance(v, str) else clean_json(v) if isinstance(v, dict) else v
            for k, v in record.items()}


def clean_content(content: dict[str, Any]) -> dict[str, Any]:
    """The trial's content as the store will hold it: every text field and JSON object cleaned."""
    cleaned = {section: _clean_record(content[section]) for section in ("trial", "participant")}
    return cleaned | {section: [_clean_record(r) for r in content[section]] for section in RECORDS}


def _participant(conn, who: dict[str, Any]) -> int:
    """Find or create the participant (name, kind, model) inside the transaction."""
    where = (P.c.name == who["name"]) & (P.c.kind == who["kind"]) & (P.c.model == who["model"])
    found = conn.execute(select(P.c.id).where(where)).scalar()
    if found is not None:
        return found
    values = {k: who[k] for k in ("name", "kind", "model", "settings")}
    return conn.execute(P.insert().values(**values)).inserted_primary_key[0]


@contextmanager
def import_transaction(store) -> Iterator[Connection]:
    """A write transaction that no other import runs beside (SQLite: BEGIN IMMEDIATE, the database's write lock;
    PostgreSQL: a transaction-scoped advisory lock, taken before anything is read)."""
    writer = store.engine.execution_options(rearena_begin="IMMEDIATE")
    with writer.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_IMPORT_LOCK})
        yield conn


def write_once(store, content: dict[str, Any], decide: Callable[[Any], tuple[str, int | None]]
               ) -> tuple[int, dict[int, int] | None, str]:  # fmt: skip
    """Write the content, cleaned, unless decide (called inside the write transaction, no other import beside it)
    says the database holds it: (trial id, old -> new submission ids or None when nothing was written, what
    decide said: NEW, SAME, or REPLACE, the trial it names replaced by the content and keeping its id)."""
    content = clean_content(content)
    with import_transaction(store) as conn:
        verdict, found = decide(store.reading_through(conn))
        if verdict == SAME:
            return found, None, verdict
        trial = {k: v for k, v in content["trial"].items() if k != "id"}
        trial["participant_id"] = _participant(conn, content["participant"])
        if verdict == REPLACE:
            for table in (E, PA, S, SN):
                conn.execute(table.delete().where(table.c.trial_id == found))
            conn.execute(T.update().where(T.c.id == found).values(**trial))
            trial_id = found
        else:
            trial_id = conn.execute(T.insert().values(**trial)).inserted_primary_key[0]
        sub_map = _write_records(conn, trial_id, content)
    return trial_id, sub_map, verdict


def write_content(store, content: dict[str, Any]) -> tuple[int, dict[int, int]]:
    """Insert participant, trial, submissions, events, pauses and snapshot records, cleaned; (trial id,
    old->new sub ids)."""
    trial_id, sub_map, _ = write_once(store, content, lambda reader: (NEW, None))
    return trial_id, sub_map or {}


def _write_records(conn: Connection, trial_id: int, content: dict[str, Any]) -> dict[int, int]:
    """Insert the trial's submissions, events, pauses and snapshot records; old -> new submission ids."""
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
    return sub_map
