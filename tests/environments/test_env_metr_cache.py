"""A METR family's answer is kept on disk in the data folder while its files are unchanged: every command
loads the registry, and a review's family that hung at import made each of them wait the 30 s timeout
(`rearena trial list` took 30.7 s); one that imports torch would cost every command that import."""

from __future__ import annotations

import time

from test_env_metr import minimal, write_family

from environments import metr
from environments.metr import load_family

COUNTING = """
import os
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "imports.log"), "a") as log:
    log.write("x")  # beside the family's folder: a file written in it would be a change of the family
""" + minimal()

HANGING = """
import time
time.sleep(30)
""" + minimal()


def _fresh_process(monkeypatch) -> None:
    """As a new command: nothing kept in this process."""
    monkeypatch.setattr(metr, "_INFO_CACHE", {})


def test_a_family_is_imported_once_while_its_files_are_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "data"))
    folder = write_family(tmp_path / "envs", "counted", COUNTING)
    for _ in range(3):
        _fresh_process(monkeypatch)
        env, problems = load_family(folder)
        assert env is not None and not problems, problems
    assert (folder.parent / "imports.log").read_text() == "x"
    family = folder / "counted.py"
    family.write_text(family.read_text() + "\n# changed\n")
    _fresh_process(monkeypatch)
    assert load_family(folder)[0] is not None
    assert (folder.parent / "imports.log").read_text() == "xx"  # a change is imported again


def test_a_family_that_hangs_costs_its_timeout_once(tmp_path, monkeypatch):
    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "data"))
    folder = write_family(tmp_path / "envs", "hangs", HANGING)
    started = time.monotonic()
    env, problems = load_family(folder, timeout=2.0)
    assert env is None and "did not finish within 2 s" in problems[-1].message, problems
    assert time.monotonic() - started >= 2.0
    _fresh_process(monkeypatch)
    started = time.monotonic()
    env, again = load_family(folder, timeout=2.0)
    assert env is None and again[-1].message == problems[-1].message
    assert time.monotonic() - started < 1.0, "the failure was not kept"
    monkeypatch.setattr(metr, "FAILURE_KEPT_S", 0.0)  # later: tried again (a package installed meanwhile)
    _fresh_process(monkeypatch)
    started = time.monotonic()
    load_family(folder, timeout=2.0)
    assert time.monotonic() - started >= 2.0


def test_a_data_file_of_the_family_is_part_of_what_is_kept(tmp_path, monkeypatch):
    """get_tasks may read a data file: a task added there is seen (a review found the old list served)."""
    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "data"))
    body = minimal("json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tasks.json')))")
    body = "import json, os\n" + body
    folder = write_family(tmp_path / "envs", "datafed", body)
    (folder / "tasks.json").write_text('{"tiny": {"word": "a"}, "main": {"word": "b"}}')
    env, problems = load_family(folder)
    assert env is not None and set(env.variants) == {"tiny", "main"}, problems
    (folder / "tasks.json").write_text('{"tiny": {"word": "a"}, "main": {"word": "b"}, "extra": {"word": "c"}}')
    _fresh_process(monkeypatch)
    env, problems = load_family(folder)
    assert env is not None and "extra" in env.variants, problems
