"""The store's writes of a trial's state, pauses and submissions commit with SQLite's synchronous=FULL (on disk
when they return: DESIGN.md's "nothing may be lost if the machine dies"), while the events' hot path keeps
NORMAL (a review found every commit at NORMAL; FULL for all halved the events' rate, below its target)."""

from __future__ import annotations

from sqlalchemy import text


def _mode(conn) -> int:
    return conn.execute(text("PRAGMA synchronous")).scalar()


def test_state_writes_are_durable_and_events_keep_the_engines_mode(sqlite_store, clock):
    store = sqlite_store
    with store._write() as conn:
        assert _mode(conn) == 2  # FULL
    with store._read() as conn:
        assert _mode(conn) == 1  # NORMAL again: the connection went back to the pool reset
    trial = store.create_trial("sum_env", "tiny", store.participant("ada").id, "local", 60.0, 180.0, "", clock())
    store.add_event(trial.id, "note", {"text": "x"}, clock(), 0.0)
    raw = store.engine.raw_connection()  # the events' path: a pooled driver connection
    try:
        assert raw.cursor().execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        raw.close()
