"""`rearena --data-dir`: the folder it names is rearena's data folder for the scorer too, so a candidate
scored from that command cannot read other trials' rows, snapshots or workdirs in it."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

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


def test_a_candidate_cannot_read_the_folder_named_by_data_dir(tmp_path):
    """Only --data-dir names the folder: REARENA_DATA_DIR is unset and XDG_DATA_HOME points elsewhere, so
    without the flag reaching the scorer the candidate would read the file and score valid."""
    data = tmp_path / "flag data"
    data.mkdir()
    (data / "secret.txt").write_text("other trials' secrets")
    candidate = tmp_path / "cand"
    candidate.mkdir()
    (candidate / "solution.py").write_text(
        f"def total():\n    with open({str(data / 'secret.txt')!r}) as f:\n        return f.read()\n")
    env = dict(os.environ, REARENA_ENVIRONMENTS=str(_peek_env(tmp_path)), XDG_DATA_HOME=str(tmp_path / "xdg"))
    for name in ("REARENA_DATA_DIR", "REARENA_DB", "REARENA_TRIAL"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-m", "console", "--data-dir", str(data), "score", "peek_env:tiny",
                          str(candidate), "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, (out.stdout, out.stderr)
    result = json.loads(out.stdout)
    assert result["reason"] == "forbidden_access", result
    assert "secrets" not in out.stdout


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
def test_a_candidate_cannot_read_the_folder_of_a_sqlite_file_named_by_db(tmp_path, relative):
    """--db naming a SQLite file outside the data folder: that file's folder (the database, its journal)
    is covered too, the data folder being elsewhere; without it the candidate reads the file, valid."""
    base = tmp_path / "db home"
    base.mkdir()
    (base / "secret.txt").write_text("other trials' rows")
    candidate = tmp_path / "cand"
    candidate.mkdir()
    (candidate / "solution.py").write_text(
        f"def total():\n    with open({str(base / 'secret.txt')!r}) as f:\n        return f.read()\n")
    env = dict(os.environ, REARENA_ENVIRONMENTS=str(_peek_env(tmp_path)), REARENA_DATA_DIR=str(tmp_path / "data"))
    for name in ("REARENA_DB", "REARENA_TRIAL"):
        env.pop(name, None)
    url = "sqlite:///db home/trials.db" if relative else f"sqlite:///{base / 'trials.db'}"
    cwd = tmp_path if relative else REPO
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "console", "--db", url, "score", "peek_env:tiny", str(candidate),
                          "--json"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, (out.stdout, out.stderr)
    result = json.loads(out.stdout)
    assert result["reason"] == "forbidden_access", result
    assert "rows" not in out.stdout


@pytest.mark.parametrize("url, expected", [
    ("sqlite:////srv/r/trials.db", "/srv/r/trials.db"), ("sqlite:///x/t.db?timeout=5", "{cwd}/x/t.db"),
    ("sqlite://", None), ("sqlite:///:memory:", None), ("postgresql://u@h/db", None), (None, None),
])
def test_the_sqlite_file_of_a_url(tmp_path, monkeypatch, url, expected):
    from scoring.candidate import sqlite_file

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
