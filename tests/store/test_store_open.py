"""open_store: where the database lives, SQLite tuning, schema version, bad URLs, light imports."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console.store import SCHEMA_VERSION, StoreError, StoreVersionError, open_store
from console.store.db import default_data_dir, mask_url


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "explicit"
    monkeypatch.delenv("REARENA_DATA_DIR")
    assert default_data_dir() == tmp_path / "xdg" / "rearena"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "rearena"


def test_open_default_creates_file_in_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "d"))
    with open_store() as store:
        assert store.url == str(tmp_path / "d" / "rearena.db")
        assert store.data_dir == tmp_path / "d"
        store.participant("ann")
    assert (tmp_path / "d" / "rearena.db").is_file()
    with open_store(data_dir=tmp_path / "d") as again:
        assert [p.name for p in again.participants()] == ["ann"]


def test_sqlite_url_keeps_blobs_beside_database(tmp_path):
    with open_store(f"sqlite:///{tmp_path}/sub/x.db") as store:
        assert store.data_dir == tmp_path / "sub"
        assert store.blobs.root == tmp_path / "sub" / "blobs"
    with open_store(str(tmp_path / "plain.db")) as store:  # a bare path is a SQLite file
        assert store.data_dir == tmp_path
    with open_store("sqlite://", data_dir=tmp_path / "mem") as store:  # in memory, one database
        store.participant("x")
        assert store.participants()[0].name == "x"
        assert store.data_dir == tmp_path / "mem"


def test_sqlite_pragmas(tmp_path):
    with open_store(data_dir=tmp_path) as store:
        raw = store.engine.raw_connection()
        try:
            cur = raw.cursor()
            got = {p: cur.execute(f"PRAGMA {p}").fetchone()[0] for p in
                   ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")}  # fmt: skip
        finally:
            raw.close()
    assert got == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 30000, "foreign_keys": 1}


def test_engine_is_per_store_and_not_created_at_import():
    code = (
        "import console.store.db as db, sqlalchemy.engine.base as b, gc;"
        "print(sum(isinstance(o, b.Engine) for o in gc.get_objects()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_records_import_is_light():
    code = (
        "import sys, console.store, console.store.records, console.store.errors;"
        "print(any(m.split('.')[0] in ('sqlalchemy', 'sqlmodel') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_schema_version_recorded(tmp_path):
    open_store(data_dir=tmp_path).close()
    with sqlite3.connect(tmp_path / "rearena.db") as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall() == [
            (str(SCHEMA_VERSION),)
        ]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_other_schema_version_is_refused_and_left_unchanged(tmp_path):
    db = tmp_path / "rearena.db"
    with open_store(data_dir=tmp_path) as store:
        store.participant("ann")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = _digest(db)
    with pytest.raises(StoreVersionError) as info:
        open_store(data_dir=tmp_path)
    msg = str(info.value)
    assert str(db) in msg and "99" in msg and f"expects schema version {SCHEMA_VERSION}" in msg
    assert isinstance(info.value, StoreError)
    assert (info.value.found, info.value.expected) == ("99", SCHEMA_VERSION)
    assert _digest(db) == before


def test_rollback_journal_database_of_other_version_stays_unconverted(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '0')")
    conn.execute("CREATE TABLE trials (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = _digest(db)
    with pytest.raises(StoreVersionError, match="schema version 0"):
        open_store(str(db))
    assert _digest(db) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        assert [r[0] for r in tables] == ["meta", "trials"]


def test_our_tables_without_version_are_refused(tmp_path):
    db = tmp_path / "x.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreVersionError, match="without a recorded schema version"):
        open_store(str(db))


def test_foreign_tables_are_left_alone(tmp_path):
    db = tmp_path / "shared.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)")
    with open_store(str(db)) as store:
        store.participant("ann")
    with sqlite3.connect(db) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"someone_elses", "meta", "events", "trials"} <= names


def test_not_a_database_file(tmp_path):
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        open_store(str(bad))


def test_unreachable_url_names_it_with_password_masked(tmp_path):
    url = f"postgresql+psycopg://someone:s3cret@127.0.0.1:{free_port()}/nowhere"
    with pytest.raises(StoreError) as info:
        open_store(url, tmp_path)
    msg = str(info.value)
    assert "someone:***@127.0.0.1" in msg and "nowhere" in msg and "s3cret" not in msg


def test_bad_urls(tmp_path):
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("no such://thing", tmp_path)
    with pytest.raises(StoreError, match="nosuchdriver"):
        open_store("nosuchdriver://u:pw@host/db", tmp_path)
    with pytest.raises(StoreError, match="synchronous"):
        open_store(data_dir=tmp_path, sqlite_synchronous="SOMETIMES")


def test_mask_url():
    assert mask_url("postgresql+psycopg://u:pw@h:5/db") == "postgresql+psycopg://u:***@h:5/db"
    assert "pw" not in mask_url("weird://u:pw@h/db ?")


def _postgres_with_a_participant(pg_database, tmp_path) -> str:
    """A current PostgreSQL store holding participant ann; its psycopg DSN."""
    with open_store(pg_database, tmp_path) as store:
        store.participant("ann")
    return pg_database.replace("postgresql+psycopg://", "postgresql://")


@pytest.mark.postgres
def test_postgres_other_schema_version_is_refused(pg_database, tmp_path):
    import psycopg

    dsn = _postgres_with_a_participant(pg_database, tmp_path)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value='7' WHERE key='schema_version'")
    with pytest.raises(StoreVersionError) as info:
        open_store(pg_database, tmp_path)
    assert "7" in str(info.value) and pg_database.rsplit("/", 1)[1] in str(info.value)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT value FROM meta").fetchall() == [("7",)]
        assert conn.execute("SELECT name FROM participants").fetchall() == [("ann",)]


# the calibrations table as schema version 1 created it (before calibrations recorded their digest)
V1_CALIBRATIONS = """CREATE TABLE calibrations (
    environment VARCHAR NOT NULL, variant VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL,
    start FLOAT NOT NULL, reference FLOAT NOT NULL, source VARCHAR NOT NULL, hardware VARCHAR NOT NULL,
    measured_at VARCHAR NOT NULL, saved_at FLOAT NOT NULL,
    PRIMARY KEY (environment, variant, fingerprint))"""
V1_ROW = "INSERT INTO calibrations VALUES ('env', 'main', 'fp1', 3.0, 1.0, 'measured', 'box', '2026-01-01', 5.0)"


def _make_version_1(execute) -> None:
    """Turn a fresh database into one as schema version 1 left it, with a calibration kept."""
    execute("DROP TABLE calibrations")
    execute(V1_CALIBRATIONS)
    execute(V1_ROW)
    execute("UPDATE meta SET value='1' WHERE key='schema_version'")


def _check_upgraded(url: str, data_dir: Path) -> None:
    from console.trials.calibrations import is_current
    from environments.model import Calibration

    with open_store(url, data_dir) as store:
        [kept] = store.calibrations("env")
        assert (kept.variant, kept.calibration.start, kept.calibration.fingerprint) == ("main", 3.0, "fp1")
        assert kept.calibration.digest == "" and not is_current(kept.calibration, "0123456789abcdef")
        assert store.find_calibration("env", "main", "fp1", "0123456789abcdef") is None  # stale: not used
        assert [p.name for p in store.participants()] == ["ann"]
        fresh = Calibration(2.0, 0.5, "measured", "box", "fp1", "2025-01-01", "0123456789abcdef")
        store.save_calibration("env", "main", fresh)  # replaces the stale row, though measured earlier
        assert store.find_calibration("env", "main", "fp1", "0123456789abcdef") == fresh
    with open_store(url, data_dir) as again:  # upgraded once: opens as the current version
        assert len(again.calibrations()) == 1


def test_version_1_sqlite_database_is_upgraded_and_keeps_its_calibration(tmp_path):
    db = tmp_path / "rearena.db"
    with open_store(data_dir=tmp_path) as store:
        store.participant("ann")
    with sqlite3.connect(db) as conn:
        _make_version_1(conn.execute)
    _check_upgraded(str(db), tmp_path)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta").fetchall() == [(str(SCHEMA_VERSION),)]


@pytest.mark.postgres
def test_version_1_postgres_database_is_upgraded_and_keeps_its_calibration(pg_database, tmp_path):
    import psycopg

    dsn = _postgres_with_a_participant(pg_database, tmp_path)
    with psycopg.connect(dsn, autocommit=True) as conn:
        _make_version_1(conn.execute)
    _check_upgraded(pg_database, tmp_path)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT value FROM meta").fetchall() == [(str(SCHEMA_VERSION),)]
