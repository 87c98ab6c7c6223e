"""`rearena report --figure/--csv` and `rearena export` into a folder that does not exist (or a folder given as the
file) are usage errors (exit 2) said before anything is computed, printed or written; no folder is made."""

from __future__ import annotations

import pytest
from compare_helpers import record_trial

from console.cli import main


@pytest.fixture
def one_trial(cli_store, clock):
    return record_trial(cli_store, clock, "ada", scores=[(60, 0.8)])


@pytest.mark.parametrize("flag, name", [("--figure", "x.svg"), ("--csv", "c.csv")])
def test_a_report_file_in_a_missing_folder_is_a_usage_error_before_the_report(one_trial, tmp_path, capsys, flag,
                                                                              name):  # fmt: skip
    missing = tmp_path / "nonexistent" / "dir"
    assert main(["report", "sum_env", flag, str(missing / name)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # the report was not printed first
    assert f"rearena: error: cannot write {flag} {missing / name}: the folder {missing} does not exist" in err
    assert "Traceback" not in err and not missing.parent.exists()


@pytest.mark.parametrize("flag", ["--figure", "--csv"])
def test_a_report_file_that_is_a_folder_is_a_usage_error(one_trial, tmp_path, capsys, flag):
    folder = tmp_path / ("figures.svg" if flag == "--figure" else "out.csv")
    folder.mkdir()
    assert main(["report", "sum_env", flag, str(folder)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"cannot write {flag} {folder}: it is a folder" in err


def test_a_csv_file_beside_a_file_named_like_the_folder_is_refused(one_trial, tmp_path, capsys):
    (tmp_path / "plain").write_text("a file, not a folder")
    assert main(["report", "sum_env", "--csv", str(tmp_path / "plain" / "c.csv")]) == 2
    assert f"the folder {tmp_path / 'plain'} is not a folder" in capsys.readouterr().err


def test_report_files_in_an_existing_folder_are_written(one_trial, tmp_path, capsys):
    assert main(["report", "sum_env", "--csv", str(tmp_path / "c.csv"), "--figure", str(tmp_path / "x.svg")]) == 0
    assert (tmp_path / "c.csv").is_file() and (tmp_path / "c-score_at_k.csv").is_file()
    assert (tmp_path / "x.svg").read_text().startswith("<svg")


def test_an_export_into_a_missing_folder_is_refused_and_makes_no_folder(one_trial, tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert main(["export", str(one_trial.id), str(missing / "x.zip")]) == 2
    err = capsys.readouterr().err
    assert f"rearena: error: cannot write {missing / 'x.zip'}: the folder {missing} does not exist" in err
    assert not missing.exists()
    assert main(["export", str(one_trial.id), str(tmp_path / "x.zip")]) == 0 and (tmp_path / "x.zip").is_file()
