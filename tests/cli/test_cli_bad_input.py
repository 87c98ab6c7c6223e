"""Bad input to the `rearena` trial, score, export and import commands: a clear message naming what was wrong,
the right exit status (1 failed, 2 usage), no traceback, and nothing recorded by a command that failed.

Each test runs the real command line (console.cli.main, in this process) on a real SQLite file."""

import json
import shutil
import zipfile

import pytest

from testpaths import TEST_ENV_ROOT

STARTING = TEST_ENV_ROOT / "sum_env" / "starting"


def start(cli, *args: str) -> int:
    code, out, err = cli("trial", "start", *(args or ("sum_env:tiny",)), "--participant", "ada", "--no-start")
    assert code == 0, err
    return int(out.split()[1].rstrip(":"))


def trials(cli) -> list[dict]:
    code, out, err = cli("trial", "list", "--json")
    assert code == 0, err
    return json.loads(out)


def status(cli, trial: int) -> dict:
    code, out, err = cli("trial", "status", str(trial), "--json")
    assert code == 0, err
    return json.loads(out)


def store_of(tmp_path):
    from console.store.db import open_store

    return open_store(None, tmp_path / "data")


# -- 1. `trial end` ---------------------------------------------------------------------------------------------


def test_trial_end_ends_the_trial_with_its_best_score_and_says_so(cli):
    trial = start(cli)
    code, _, err = cli("trial", "score", str(trial))
    assert code == 0, err
    best = status(cli, trial)["best"]
    code, out, err = cli("trial", "end", str(trial), "--reason", "gave_up")
    assert code == 0, err
    assert f"trial {trial} ended (gave_up); final score {best:.3f}" in out
    after = status(cli, trial)
    assert (after["status"], after["end_reason"], after["final_score"]) == ("ended", "gave_up", best)
    code, _, err = cli("trial", "end", str(trial))
    assert code == 1 and "has ended" in err
    assert status(cli, trial)["end_reason"] == "gave_up"


def test_trial_end_needs_a_reason_that_says_something(cli):
    trial = start(cli)
    code, _, err = cli("trial", "end", str(trial), "--reason", "  ")
    assert code == 2 and "--reason" in err
    assert status(cli, trial)["status"] == "created"


# -- 2. a trial whose environment no longer loads ------------------------------------------------------------------


def test_a_trial_whose_environment_broke_can_still_be_read_ended_and_exported(cli, tmp_path, monkeypatch):
    envs = tmp_path / "envs"
    shutil.copytree(TEST_ENV_ROOT / "sum_env", envs / "sum_env")
    monkeypatch.setenv("REARENA_ENVIRONMENTS", str(envs))
    scored, waiting = start(cli), start(cli)
    assert cli("trial", "score", str(scored))[0] == 0
    manifest = envs / "sum_env" / "environment.toml"
    manifest.write_text(manifest.read_text() + "\nno_such_key = 1\n")

    code, out, err = cli("trial", "status", str(scored))
    assert code == 0 and "did not load" in err and f"trial {scored}" in out
    code, _, err = cli("trial", "score", str(waiting))
    assert code == 1 and "did not load" in err and "sum_env" in err
    assert status(cli, waiting)["status"] == "created"  # the failed scoring did not start its clock
    assert status(cli, waiting)["submissions"] == 0
    code, out, err = cli("trial", "end", str(waiting), "--reason", "environment_broke")
    assert code == 0 and f"trial {waiting} ended (environment_broke)" in out, err
    code, out, err = cli("export", str(scored), str(tmp_path / "scored.zip"))
    assert code == 0 and "1 submissions" in out, err
    assert len(trials(cli)) == 2

    shutil.rmtree(envs / "sum_env")  # gone altogether
    code, _, err = cli("trial", "status", str(scored))
    assert code == 0 and "did not load" in err
    code, _, err = cli("trial", "submit", str(scored), "--yes")
    assert code == 1 and "did not load" in err
    assert status(cli, scored)["status"] == "running"


# -- 3. budgets that are not finite, or too long --------------------------------------------------------------------


@pytest.mark.parametrize("budget, needle", [
    ("inf", "finite"), ("1e400", "finite"), ("nan", "finite"), ("-5", "at least 0"),
    ("700h", "at most 672h"), ("0", "more than 0"), ("1..5h", "cannot read duration '1..5h'"),
])  # fmt: skip
def test_a_budget_must_be_a_sane_duration(cli, budget, needle):
    code, _, err = cli("trial", "start", "sum_env", "--participant", "ada", f"--budget={budget}", "--no-start")
    assert code == 2, err
    assert "--budget" in err and needle in err
    assert trials(cli) == []


def test_a_stored_infinite_budget_does_not_break_the_listing(cli, tmp_path):
    good = start(cli)
    with store_of(tmp_path) as store:
        who = store.participant("bob")
        bad = store.create_trial("sum_env", "tiny", who.id, "local", float("inf"), float("inf"), "", 1.0).id
    code, out, err = cli("trial", "list")
    assert code == 0, err
    assert "bob" in out and "ada" in out
    code, out, err = cli("trial", "status", str(bad))
    assert code == 0 and f"trial {bad}" in out, err
    assert status(cli, good)["budget_s"] == 3600


def _rewrite_bundle(src, dst, section: str, key: str, value) -> None:
    """A copy of a trial file with one field of trial.json changed, its digest made right again."""
    from console.compare.bundle import content_digest

    with zipfile.ZipFile(src) as z:
        data = {name: z.read(name) for name in z.namelist()}
    head = json.loads(data["trial.json"])
    events = [json.loads(line) for line in data["events.jsonl"].decode().splitlines() if line.strip()]
    head[section][key] = value
    manifest = json.loads(data["manifest.json"])
    manifest["digest"] = content_digest(dict(head, events=events))
    data["trial.json"], data["manifest.json"] = json.dumps(head).encode(), json.dumps(manifest).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for name, content in data.items():
            z.writestr(name, content)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e12, -1.0])
def test_an_imported_trial_file_with_a_bad_budget_is_refused(cli, tmp_path, value):
    trial = start(cli)
    good = tmp_path / "good.zip"
    assert cli("export", str(trial), str(good))[0] == 0
    bad = tmp_path / "bad.zip"
    _rewrite_bundle(good, bad, "trial", "budget_s", value)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    code, _, err = cli("import", str(bad), "--db", other)
    assert code == 1 and "budget_s" in err, err
    code, out, _ = cli("--db", other, "trial", "list", "--json")
    assert code == 0 and json.loads(out) == []
    assert cli("import", str(good), "--db", other)[0] == 0  # the file itself was fine


# -- 4. a failed `trial start` leaves no trial behind ----------------------------------------------------------------


def test_a_workdir_that_cannot_be_used_leaves_no_trial(cli, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    afile = tmp_path / "afile"
    afile.write_text("a file")
    for workdir, needle in [(full, "is not empty"), (afile, "is not a folder"),
                            ("/proc/rearena-no-such/workdir", "cannot make the workdir")]:
        code, _, err = cli("trial", "start", "sum_env", "--participant", "ada", "--workdir", str(workdir))
        assert code == 1 and needle in err and str(workdir) in err, err
    assert trials(cli) == []
    assert (full / "keep.txt").read_text() == "mine" and sorted(p.name for p in full.iterdir()) == ["keep.txt"]


def test_a_relative_workdir_is_stored_absolute(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trial = start(cli, "sum_env", "--workdir", "mine")
    assert status(cli, trial)["workdir"] == str(tmp_path / "mine")
    assert (tmp_path / "mine" / "solution.py").exists()


def test_a_trial_without_a_workdir_is_not_scored(cli, tmp_path, monkeypatch):
    with store_of(tmp_path) as store:
        who = store.participant("ada")
        trial = store.create_trial("sum_env", "tiny", who.id, "local", 3600.0, 10800.0, "", 1.0).id
    monkeypatch.chdir(STARTING)  # what used to be scored in its place
    code, _, err = cli("trial", "score", str(trial))
    assert code == 1 and "no workdir" in err
    assert status(cli, trial)["submissions"] == 0


# -- 5. `score --record` into the right trial, checked before scoring ------------------------------------------------


def _no_scoring(monkeypatch) -> list:
    import scoring.runner

    calls: list = []
    monkeypatch.setattr(scoring.runner, "score_candidate", lambda *a, **k: calls.append(a) or 1 / 0)
    return calls


def test_record_refuses_another_variant_before_scoring(cli, monkeypatch):
    trial = start(cli, "sum_env:tiny")
    calls = _no_scoring(monkeypatch)
    code, _, err = cli("score", "sum_env:main", str(STARTING), "--record", str(trial))
    assert code == 2 and "sum_env:tiny, not sum_env:main" in err, err
    code, _, err = cli("score", "sum_env:tiny", str(STARTING), "--record", "99")
    assert code == 2 and "no trial 99" in err
    assert cli("trial", "end", str(trial))[0] == 0
    code, _, err = cli("score", "sum_env:tiny", str(STARTING), "--record", str(trial))
    assert code == 2 and "has ended" in err
    assert calls == [] and status(cli, trial)["submissions"] == 0


def test_record_into_the_right_variant_still_works(cli):
    trial = start(cli, "sum_env:main")
    code, _, err = cli("score", "sum_env:main", str(STARTING), "--record", str(trial))
    assert code == 0, err
    assert status(cli, trial)["submissions"] == 1


# -- 6. --timeout -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", ["-5", "0", "nan", "inf", "1e300", "ten"])
def test_a_timeout_must_be_a_sane_number_of_seconds(cli, monkeypatch, timeout):
    trial = start(cli)
    calls = _no_scoring(monkeypatch)
    code, _, err = cli("score", "sum_env:tiny", str(STARTING), f"--timeout={timeout}", "--record", str(trial))
    assert code == 2 and "--timeout" in err and repr(timeout) in err, err
    assert calls == [] and status(cli, trial)["submissions"] == 0


# -- 7. trial ids ------------------------------------------------------------------------------------------------------

HUGE = "99999999999999999999999"


@pytest.mark.parametrize("args", [
    ["trial", "status", HUGE], ["trial", "end", HUGE], ["trial", "note", "x", "--trial", HUGE],
    ["export", HUGE, "x.zip"], ["score", "sum_env", str(STARTING), "--record", HUGE], ["--trial", HUGE],
    ["trial", "status", "-1"],
])  # fmt: skip
def test_a_trial_id_out_of_range_is_a_usage_error(cli, args):
    code, _, err = cli(*args)
    assert code == 2 and "is not a trial id" in err, err


@pytest.mark.parametrize("value", ["\u00b2", "abc", HUGE, "1.5"])
@pytest.mark.parametrize("command", ["trial", "task"])
def test_a_bad_rearena_trial_says_so(cli, monkeypatch, value, command):
    start(cli)
    monkeypatch.setenv("REARENA_TRIAL", value)
    code, _, err = cli(command, "status")
    assert code == 2, err
    assert "REARENA_TRIAL must be a trial id" in err and "is not a trial id" in err and "or set" not in err


# -- 8. the smaller ones -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   "])
def test_a_participant_needs_a_name(cli, name):
    code, _, err = cli("trial", "start", "sum_env", "--participant", name)
    assert code == 2 and "--participant" in err
    assert trials(cli) == []


@pytest.mark.parametrize("args", [["trial", "status", "99"], ["trial", "end", "99"], ["trial", "score", "99"],
                                  ["trial", "note", "x", "--trial", "99"], ["export", "99", "x.zip"]])
def test_no_such_trial_is_a_usage_error_everywhere(cli, args):
    code, _, err = cli(*args)
    assert code == 2 and "no trial 99" in err


def test_import_of_a_folder_says_it_is_a_folder(cli, tmp_path):
    code, _, err = cli("import", str(tmp_path))
    assert code == 2 and "is a folder" in err


def test_pause_advises_the_command_of_the_shell_it_was_typed_in(cli, monkeypatch):
    trial = start(cli)
    code, out, _ = cli("trial", "pause", str(trial))
    assert code == 0 and f"`rearena trial resume {trial}`" in out
    assert cli("trial", "resume", str(trial))[0] == 0
    monkeypatch.setenv("REARENA_TRIAL", str(trial))
    code, out, _ = cli("task", "pause")
    assert code == 0 and "`rearena task resume`" in out


def test_record_into_a_trial_being_scored_elsewhere_is_refused_before_scoring(cli, monkeypatch, tmp_path):
    from console.trials.owner import owner_note

    trial = start(cli, "sum_env:tiny")
    store = store_of(tmp_path)
    try:
        store.open_pause(trial, "scoring", 1e9, note=owner_note())  # a live scoring: this very process
        calls = _no_scoring(monkeypatch)
        code, _, err = cli("score", "sum_env:tiny", str(STARTING), "--record", str(trial))
        assert code == 2 and f"trial {trial} is being scored" in err and "Traceback" not in err, err
        assert calls == [] and status(cli, trial)["submissions"] == 0
    finally:
        store.close()
