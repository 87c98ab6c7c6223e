"""`rearena trial note [ID] TEXT`: the trial's id comes first as in every other trial command (a leading number),
else --trial, else $REARENA_TRIAL; a note that says nothing is a usage error and is not recorded.

The real command line (console.cli.main, in this process) on a real SQLite file."""

import pytest


@pytest.fixture
def two_trials(cli) -> tuple[int, int]:
    ids = []
    for who in ("ada", "bob"):
        code, out, err = cli("trial", "start", "sum_env:tiny", "--participant", who)
        assert code == 0, err
        ids.append(int(out.split()[1].rstrip(":")))
    return ids[0], ids[1]


def notes(tmp_path, trial: int) -> list[str]:
    from console.store.db import open_store

    with open_store(None, tmp_path / "data") as store:
        return [e.data["text"] for e in store.events(trial, kinds=["note"])]


def test_a_leading_id_names_the_trial_outside_a_trials_shell(cli, two_trials, tmp_path):
    first, second = two_trials
    code, out, err = cli("trial", "note", str(first), "about trial one")
    assert code == 0, err
    assert notes(tmp_path, first) == ["about trial one"] and notes(tmp_path, second) == []
    assert cli("trial", "note", str(first), "4", "runs failed")[0] == 0  # the id first: the rest is the note
    assert notes(tmp_path, first) == ["about trial one", "4 runs failed"]


def test_inside_a_trials_shell_a_leading_number_of_another_trial_is_refused(cli, two_trials, tmp_path, monkeypatch):
    first, second = two_trials
    monkeypatch.setenv("REARENA_TRIAL", str(second))
    # the review's case: in trial 2's shell, "1 of 3 tests still fail" is a note, not one for trial 1
    code, out, err = cli("trial", "note", str(first), "of", "3", "tests", "still", "fail")
    assert code == 2 and "--trial ID" in err and f"trial {second}'s shell" in err, err
    assert notes(tmp_path, first) == [] and notes(tmp_path, second) == []

    assert cli("trial", "note", str(second), "this shell's trial")[0] == 0  # its own id: used
    assert cli("trial", "note", "no id:", "this shell's trial")[0] == 0  # $REARENA_TRIAL, when no id is given
    assert notes(tmp_path, second) == ["this shell's trial", "no id: this shell's trial"]
    assert cli("trial", "note", "--trial", str(first), "3", "runs failed")[0] == 0  # --trial: every word is the note
    assert cli("trial", "note", "--trial", str(second), str(first), "of 3 tests still fail")[0] == 0
    assert notes(tmp_path, first) == ["3 runs failed"]
    assert notes(tmp_path, second)[-1] == f"{first} of 3 tests still fail"


def test_without_an_id_the_error_names_both_ways(cli, two_trials):
    code, _, err = cli("trial", "note", "about which trial?")
    assert code == 2
    assert "rearena trial note ID TEXT" in err and "REARENA_TRIAL" in err


@pytest.mark.parametrize("words", [[""], ["  "], []])
def test_an_empty_note_is_a_usage_error_and_not_recorded(cli, two_trials, tmp_path, words):
    first, _ = two_trials
    code, _, err = cli("trial", "note", str(first), *words)
    assert code == 2 and "empty" in err, err
    assert notes(tmp_path, first) == []


def test_an_empty_task_note_is_a_usage_error_too(cli, two_trials, tmp_path, monkeypatch):
    first, _ = two_trials
    monkeypatch.setenv("REARENA_TRIAL", str(first))
    code, _, err = cli("task", "note", "")
    assert code == 2 and "empty" in err, err
    assert notes(tmp_path, first) == []


def test_help_says_that_a_leading_number_is_the_id(cli):
    code, out, _ = cli("trial", "note", "--help")
    assert code == 0
    assert "[ID] TEXT" in out and "first word that is a number is the trial's id" in " ".join(out.split())
