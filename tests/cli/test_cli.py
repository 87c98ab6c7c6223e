"""The `rearena` command as a user runs it: real processes, real SQLite file, exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testpaths import REPO, TEST_ENV_ROOT

STARTING = TEST_ENV_ROOT / "sum_env" / "starting"


def rearena(tmp_path, *args, env_extra=None, input=None):
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT))
    env.pop("REARENA_TRIAL", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, input=input)


def test_score_valid_prints_a_verdict_table(tmp_path):
    out = rearena(tmp_path, "score", "sum_env:tiny", str(STARTING))
    assert out.returncode == 0, out.stderr
    assert "VALID" in out.stdout and "normalized" in out.stdout and "sum_env:tiny" in out.stdout


def test_score_json_for_scripts(tmp_path):
    out = rearena(tmp_path, "score", "sum_env", str(STARTING), "--json")
    data = json.loads(out.stdout)
    assert data["valid"] is True and data["variant"] == "tiny"
    assert data["normalized"] == pytest.approx((data["raw"] + 6.0) / -2.0)
    assert data["calibration"]["source"] == "manifest"


def test_invalid_candidate_exits_1_with_reason(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "solution.py").write_text("def total(values):\n    return -1\n")
    out = rearena(tmp_path, "score", "sum_env:tiny", str(bad), "--json")
    assert out.returncode == 1
    assert json.loads(out.stdout)["reason"] == "wrong_answer"


@pytest.mark.parametrize("args, needle", [
    (["score", "no_such_env", "."], "choices:"),
    (["score", "sum_env:huge", "."], "tiny"),
    (["score", "sum_env:tiny", "/no/such/folder"], "not found: /no/such/folder"),
    (["env", "show", "nope"], "sum_env"),
    (["trial", "status"], "REARENA_TRIAL"),
    (["trial", "start", "sum_env", "--participant", "a", "--budget", "eight hours"], "cannot read duration"),
    (["score"], "usage"),
])
def test_usage_errors_exit_2_and_say_what_was_wrong(tmp_path, args, needle):
    out = rearena(tmp_path, *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert needle in out.stderr


def test_env_list_and_show(tmp_path):
    out = rearena(tmp_path, "env", "list")
    assert out.returncode == 0 and "sum_env" in out.stdout and "rolling_median" in out.stdout
    out = rearena(tmp_path, "env", "show", "sum_env")
    assert "Write `total(values)`" in out.stdout or "total(values)" in out.stdout
    assert "tiny" in out.stdout


def test_env_list_reports_a_broken_environment_and_lists_the_rest(tmp_path):
    broken = tmp_path / "envs" / "broken_env"
    broken.mkdir(parents=True)
    (broken / "environment.toml").write_text('name = "broken_env"\ntitle = 3\n')
    roots = os.pathsep.join([str(TEST_ENV_ROOT), str(tmp_path / "envs")])
    out = rearena(tmp_path, "env", "list", env_extra={"REARENA_ENVIRONMENTS": roots})
    assert out.returncode == 0
    assert "sum_env" in out.stdout
    assert "broken_env" in out.stdout and "environment.toml" in out.stdout


def test_a_whole_trial_from_the_shell(tmp_path):
    out = rearena(tmp_path, "trial", "start", "sum_env:tiny", "--participant", "grace", "--budget", "2h")
    assert out.returncode == 0, out.stderr
    trial = out.stdout.split()[1].rstrip(":")
    env = {"REARENA_TRIAL": trial}
    workdir = Path(next(line.split(": ", 1)[1] for line in out.stdout.splitlines() if line.startswith("workdir")))
    assert (workdir / "solution.py").exists()
    assert rearena(tmp_path, "trial", "score", env_extra=env).returncode == 0
    assert rearena(tmp_path, "trial", "pause", "--reason", "break", env_extra=env).returncode == 0
    status = json.loads(rearena(tmp_path, "trial", "status", "--json", env_extra=env).stdout)
    assert status["paused"] == "break" and status["submissions"] == 1
    assert rearena(tmp_path, "trial", "resume", env_extra=env).returncode == 0
    assert rearena(tmp_path, "trial", "note", "switching to a prefix sum", env_extra=env).returncode == 0
    rec = rearena(tmp_path, "score", "sum_env:tiny", str(STARTING), "--record", trial)
    assert rec.returncode == 0, rec.stderr
    out = rearena(tmp_path, "trial", "submit", "--yes", env_extra=env)
    assert out.returncode == 0, out.stderr
    status = json.loads(rearena(tmp_path, "trial", "status", "--json", env_extra=env).stdout)
    assert status["status"] == "ended" and status["end_reason"] == "submitted"
    assert status["submissions"] == 3 and status["final_score"] is not None
    again = rearena(tmp_path, "trial", "score", env_extra=env)
    assert again.returncode == 1 and "ended" in again.stderr
    listing = rearena(tmp_path, "trial", "list")
    assert "grace" in listing.stdout


def test_submit_without_a_terminal_needs_yes(tmp_path):
    out = rearena(tmp_path, "trial", "start", "sum_env:tiny", "--participant", "x")
    trial = out.stdout.split()[1].rstrip(":")
    out = rearena(tmp_path, "trial", "submit", trial)
    assert out.returncode == 2 and "--yes" in out.stderr


def test_another_schema_version_gives_a_clear_message(tmp_path):
    import sqlite3

    rearena(tmp_path, "trial", "list")
    db = tmp_path / "data" / "rearena.db"
    con = sqlite3.connect(db)
    tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
    assert "meta" in tables
    con.execute("update meta set value = '999' where key = 'schema_version'")
    con.commit()
    con.close()
    out = rearena(tmp_path, "trial", "list")
    assert out.returncode == 2 and "999" in out.stderr


def _save_calibration(tmp_path, digest: str, start: float, reference: float) -> None:
    """Keep a calibration of sum_env:tiny for this machine in the CLI's database, under digest."""
    from console.store import open_store
    from environments.model import Calibration
    from scoring.hardware import fingerprint

    cal = Calibration(start, reference, "measured", "this box", fingerprint(), "2026-02-01T00:00:00+00:00", digest)
    with open_store(data_dir=tmp_path / "data") as store:
        store.save_calibration("sum_env", "tiny", cal)


def test_score_sets_a_stale_calibration_aside_and_says_so(tmp_path):
    from environments.registry import load_registry
    from scoring.calibrate import calibration_digest

    _save_calibration(tmp_path, "0123456789abcdef", -1.0, -2.0)  # timed other files than these
    out = rearena(tmp_path, "score", "sum_env:tiny", str(STARTING), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # the notice leaves stdout clean
    assert data["calibration"]["source"] == "manifest"
    assert data["normalized"] == pytest.approx((data["raw"] + 6.0) / -2.0)
    notice = [line for line in out.stderr.splitlines() if "calibration" in line]
    assert len(notice) == 1 and "0123456789abcdef" in notice[0]
    assert "re-measure with `rearena env calibrate sum_env:tiny`" in notice[0]
    shown = rearena(tmp_path, "env", "show", "sum_env").stdout
    assert "digest 0123456789abcdef: stale" in shown and "rearena env calibrate sum_env:tiny" in shown

    env, _ = load_registry([TEST_ENV_ROOT]).resolve("sum_env:tiny")
    current = calibration_digest(env, "tiny")
    _save_calibration(tmp_path, current, -1.0, -2.0)
    out = rearena(tmp_path, "score", "sum_env:tiny", str(STARTING), "--json")
    data = json.loads(out.stdout)
    assert (data["calibration"]["source"], data["calibration"]["digest"]) == ("measured", current)
    assert data["normalized"] == pytest.approx((data["raw"] + 1.0) / -1.0)
    assert "calibration" not in out.stderr
    shown = rearena(tmp_path, "env", "show", "sum_env").stdout
    assert f"digest {current}: current" in shown and "stale" not in shown
