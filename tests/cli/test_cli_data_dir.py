"""`rearena --data-dir`: the folder it names is rearena's data folder for the scorer too, so a candidate
scored from that command cannot read other trials' rows, snapshots or workdirs in it."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.cli import use_data_dir
from testpaths import REPO, TEST_ENV_ROOT

PEEK_SCORER = """
    def score(ctx):
        with ctx.candidate("solution.py", "total", tripwire=True) as cand:
            return {"raw": 1.0, "details": {"read": cand.call(timeout=ctx.remaining())}}
"""


def _peek_env(tmp_path):
    """A copy of sum_env, renamed peek_env, whose scorer starts the candidate with the tripwire."""
    root = tmp_path / "envs"
    folder = root / "peek_env"
    shutil.copytree(TEST_ENV_ROOT / "sum_env", folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = folder / "environment.toml"
    manifest.write_text(manifest.read_text().replace('name = "sum_env"', 'name = "peek_env"'))
    (folder / "scorer.py").write_text(textwrap.dedent(PEEK_SCORER))
    return root


def _peek_at(tmp_path, secret: Path, flags: list[str], env_changes: dict, cwd=REPO, text: str = "") -> None:
    """Score a candidate that reads `secret` through the CLI with `flags`: refused, the text not shown."""
    candidate = tmp_path / "cand"
    candidate.mkdir()
    (candidate / "solution.py").write_text(
        f"def total():\n    with open({str(secret)!r}) as f:\n        return f.read()\n")
    env = dict(os.environ, REARENA_ENVIRONMENTS=str(_peek_env(tmp_path)),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])))
    for name in ("REARENA_DATA_DIR", "REARENA_DB", "REARENA_TRIAL"):
        env.pop(name, None)
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-m", "console", *flags, "score", "peek_env:tiny", str(candidate), "--json"],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, (out.stdout, out.stderr)
    result = json.loads(out.stdout)
    assert result["reason"] == "forbidden_access", result
    assert (text or secret.read_text()) not in out.stdout


def test_a_candidate_cannot_read_the_folder_named_by_data_dir(tmp_path):
    """Only --data-dir names the folder: REARENA_DATA_DIR is unset and XDG_DATA_HOME points elsewhere, so
    without the flag reaching the scorer the candidate would read the file and score valid."""
    data = tmp_path / "flag data"
    data.mkdir()
    (data / "secret.txt").write_text("other trials' secrets")
    _peek_at(tmp_path, data / "secret.txt", ["--data-dir", str(data)], {"XDG_DATA_HOME": str(tmp_path / "xdg")})


@pytest.mark.parametrize("given", ["relative/data", "~/data"])
def test_data_dir_sets_an_absolute_rearena_data_dir(tmp_path, monkeypatch, given):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "before"))  # restored after the test
    use_data_dir(given)
    expected = tmp_path / "relative" / "data" if given.startswith("r") else tmp_path / "home" / "data"
    assert os.environ["REARENA_DATA_DIR"] == str(expected)


def test_without_data_dir_the_environment_is_left_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "chosen"))
    use_data_dir(None)
    assert os.environ["REARENA_DATA_DIR"] == str(tmp_path / "chosen")


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_a_candidate_cannot_read_a_sqlite_file_named_by_db(tmp_path, relative):
    """--db naming a SQLite file outside the data folder: that file (and its journals) is off limits too,
    the data folder being elsewhere; without it the candidate reads the database, valid. Its folder is
    not covered: it may hold the run's own temp folder (a database in /tmp hid every candidate's copy)."""
    import sqlite3

    base = tmp_path / "db home"
    base.mkdir()
    with sqlite3.connect(base / "trials.db") as db:
        db.execute("create table notes (text)")
        db.execute("insert into notes values ('other trials rows')")
    db.close()
    (base / "beside.txt").write_text("not the database")
    url = "sqlite:///db home/trials.db" if relative else f"sqlite:///{base / 'trials.db'}"
    _peek_at(tmp_path, base / "trials.db", ["--db", url], {"REARENA_DATA_DIR": str(tmp_path / "data")},
             cwd=tmp_path if relative else REPO, text="other trials rows")


@pytest.mark.parametrize("url, expected", [
    ("sqlite:////srv/r/trials.db", "/srv/r/trials.db"), ("sqlite:///x/t.db?timeout=5", "{cwd}/x/t.db"),
    ("sqlite://", None), ("sqlite:///:memory:", None), ("postgresql://u@h/db", None), (None, None),
])
def test_the_sqlite_file_of_a_url(tmp_path, monkeypatch, url, expected):
    from scoring.off_limits import sqlite_file

    monkeypatch.chdir(tmp_path)
    found = sqlite_file(url)
    assert (str(found) if found else None) == (expected.format(cwd=tmp_path) if expected else None)


def test_db_sets_an_absolute_rearena_db(tmp_path, monkeypatch):
    from console.cli import use_db

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REARENA_DB", "sqlite:///before.db")  # restored after the test
    use_db("sqlite:///sub/trials.db")
    assert os.environ["REARENA_DB"] == f"sqlite:///{tmp_path}/sub/trials.db"
    use_db("postgresql://user@host/rearena")
    assert os.environ["REARENA_DB"] == "postgresql://user@host/rearena"
