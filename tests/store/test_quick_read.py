"""console/store/quick_read.py: `rearena score`'s calibrations read from the SQLite file without SQLAlchemy,
giving the store's answers where it answers, and giving way to the store everywhere else."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console.store import open_store
from console.store.quick_read import database_file, quick_calibrations
from environments.model import Calibration
from testpaths import REPO, TEST_ENV_ROOT


def _cal(start, fingerprint="fp-a", digest="d1", measured_at="2026-02-01T00:00:00+00:00"):
    return Calibration(start, start - 2.0, "measured", "box", fingerprint, measured_at, digest)


def _filled(tmp_path):
    data = tmp_path / "data"
    with open_store(data_dir=data) as store:
        store.save_calibration("env_a", "main", _cal(1.0))
        store.save_calibration("env_a", "main", _cal(2.0, fingerprint="fp-b"))
        store.save_calibration("env_a", "tiny", _cal(3.0, digest="d2"))
        store.save_calibration("env_b", "main", _cal(4.0))
        store.save_calibration("env_a", "big", _cal(5.0, fingerprint="fp-b", digest="d3"))
    return data


def test_it_answers_as_the_store_does(tmp_path):
    data = _filled(tmp_path)
    quick = quick_calibrations(None, data, "env_a")
    assert quick is not None
    with open_store(data_dir=data) as store:
        for key in [("env_a", "main", "fp-a", "d1"), ("env_a", "main", "fp-b", "d1"), ("env_a", "tiny", "fp-a", "d2"),
                    ("env_a", "tiny", "fp-a", "d1"), ("env_a", "big", "fp-b", "d3"), ("env_a", "main", "fp-c", "d1")]:
            assert quick.find_calibration(*key) == store.find_calibration(*key), key
        assert quick.calibrations("env_a") == store.calibrations("env_a")
    assert [r.environment for r in quick.calibrations()] == ["env_a"] * 4  # only the environment asked for
    assert quick.find_calibration("env_a", "main", "fp-a", "d1").start == 1.0


def test_a_database_not_yet_made_holds_none_and_is_not_made(tmp_path):
    quick = quick_calibrations(None, tmp_path / "data", "env_a")
    assert quick is not None and quick.calibrations() == [] and quick.find_calibration("env_a", "main", "f", "d") is None
    assert not (tmp_path / "data").exists()


def test_it_gives_way_to_the_store_where_it_could_answer_differently(tmp_path):
    data = _filled(tmp_path)
    db = data / "rearena.db"
    assert quick_calibrations(f"sqlite:///{db}", tmp_path / "elsewhere", "env_a") is not None
    assert quick_calibrations(str(db), tmp_path / "elsewhere", "env_a") is not None  # --db PATH
    spaced = tmp_path / "my db.db"
    db.rename(spaced)  # %XX is decoded, as SQLAlchemy does
    assert quick_calibrations(f"sqlite:///{tmp_path}/my%20db.db", data, "env_a").calibrations("env_a")
    spaced.rename(db)
    for url in ("postgresql+psycopg://u@h/db", "sqlite://", "sqlite:///:memory:", f"sqlite:///{db}?mode=ro",
                f"sqlite+pysqlite:///{db}"):
        assert quick_calibrations(url, data, "env_a") is None, url
    with sqlite3.connect(db) as con:  # a schema the store would upgrade, or refuse
        con.execute("update meta set value = '1' where key = 'schema_version'")
    assert quick_calibrations(None, data, "env_a") is None
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database, " * 100)
    assert quick_calibrations(str(broken), data, "env_a") is None


def test_the_file_named_is_the_one_the_store_opens(tmp_path, monkeypatch):
    from console.store.db import resolve

    monkeypatch.chdir(tmp_path)
    for url in (None, "plain.db", "~/x.db", "sqlite:///rel/a.db", "sqlite:///~/b.db", f"sqlite:///{tmp_path}/abs.db",
                "sqlite:///my%20db.db", "sqlite:///a%23b.db"):
        parsed, _, _ = resolve(url, tmp_path / "data")
        assert database_file(url, tmp_path / "data") == Path(parsed.database).absolute(), url


def test_a_data_folder_named_with_a_tilde_is_the_stores(tmp_path, monkeypatch):
    """XDG_DATA_HOME="~/xdg": the store expands it; so do the settings, the reader and the off-limits list."""
    from console.config import Settings
    from scoring.off_limits import data_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("REARENA_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "~/xdg")
    settings = Settings.load()
    assert settings.data_dir == tmp_path / "xdg" / "rearena" and data_dir() == tmp_path / "xdg" / "rearena"
    with open_store(data_dir=settings.data_dir) as store:
        store.save_calibration("env_a", "main", _cal(1.0))
    quick = quick_calibrations(None, settings.data_dir, "env_a")
    assert quick.find_calibration("env_a", "main", "fp-a", "d1").start == 1.0


def test_scoring_without_record_never_imports_sqlalchemy(tmp_path):
    """The point of the reader: `rearena score` (no --record) normalizes with the stored calibration and
    pays no SQLAlchemy import (about 0.8 s of a ~1 s scoring on a small machine)."""
    from environments.registry import load_registry
    from scoring.calibrate import calibration_digest
    from scoring.hardware import fingerprint

    env, _ = load_registry([TEST_ENV_ROOT]).resolve("sum_env:tiny")
    cal = Calibration(-1.0, -2.0, "measured", "box", fingerprint(), "2026-02-01T00:00:00+00:00",
                      calibration_digest(env, "tiny"))
    with open_store(data_dir=tmp_path / "data") as store:
        store.save_calibration("sum_env", "tiny", cal)
    script = ("import sys, json, io, contextlib\n"
              "from console.cli import main\n"
              "out = io.StringIO()\n"
              "with contextlib.redirect_stdout(out):\n"
              f"    code = main(['score', 'sum_env:tiny', {str(TEST_ENV_ROOT / 'sum_env' / 'starting')!r}, '--json'])\n"
              "print(json.dumps({'code': code, 'result': json.loads(out.getvalue()),\n"
              "                  'sqlalchemy': 'sqlalchemy' in sys.modules}))\n")
    env_vars = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT))
    env_vars.pop("REARENA_DB", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env_vars, capture_output=True, text=True,
                          timeout=120)
    import json

    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert report["result"]["calibration"]["source"] == "measured"
    assert report["result"]["normalized"] == pytest.approx((report["result"]["raw"] + 1.0) / -1.0)
    assert report["sqlalchemy"] is False
