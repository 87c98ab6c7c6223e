"""The runner (scoring/runner.py) against hostile folders and environments, each a way a red-team review
broke it: search paths that name the working directory, rearena's data folder, a result too large for
its channel, named pipes, sparse files and folders too deep for shutil.rmtree."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import sysconfig
import tempfile
import textwrap
from pathlib import Path

import pytest

from scoring import confine, runner
from scoring.candidate import _candidate_env
from scoring.confine import clean_search_paths
from scoring.off_limits import off_limits
from scoring.runner import _host_env, remove_tree, score_candidate

TIMEOUT = 20.0


def _env_with_scorer(sum_env, tmp_path: Path, source: str):
    """sum_env with its scorer replaced by `source`."""
    folder = tmp_path / "env"
    shutil.copytree(sum_env.path, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "scorer.py").write_text(textwrap.dedent(source))
    return dataclasses.replace(sum_env, path=folder, scorer=folder / "scorer.py", starting_dir=folder / "starting")


def _candidate(tmp_path: Path, source: str | None = None) -> Path:
    folder = tmp_path / "cand"
    folder.mkdir()
    solution = (Path(__file__).parent / "sum_env" / "starting" / "solution.py").read_text()
    (folder / "solution.py").write_text(solution if source is None else textwrap.dedent(source))
    return folder


# -- the confinement probe -----------------------------------------------------------------------


def test_the_runner_hands_its_probe_to_the_scorers_process(sum_env, tmp_path, monkeypatch):
    """The runner's probe reaches the scorer's process through its configuration (scoring.host sets
    PIECES_VARIABLE from it), never through the runner's own environment."""
    monkeypatch.delenv(confine.PIECES_VARIABLE, raising=False)
    env = _env_with_scorer(sum_env, tmp_path, f"""
        import os
        def score(ctx):
            return {{"raw": 0.5, "message": "ok", "details": {{"word": os.environ.get("{confine.PIECES_VARIABLE}", "")}}}}
        """)
    result = score_candidate(env, None, _candidate(tmp_path), timeout_s=TIMEOUT)
    assert result.valid, result.message
    assert result.details["word"] == runner._probed_pieces() != ""
    assert confine.PIECES_VARIABLE not in os.environ and confine.PIECES_VARIABLE not in _host_env(tmp_path)


# -- search paths and the working directory ------------------------------------------------------


def test_search_paths_keep_only_absolute_entries(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", ":/usr/bin:.:bin::/bin")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/cuda/lib64:")
    monkeypatch.setenv("CUDA_HOME", "cuda")
    for env in (_host_env(tmp_path), _candidate_env(tmp_path)):
        assert env["PATH"] == "/usr/bin:/bin" and env["LD_LIBRARY_PATH"] == "/usr/local/cuda/lib64", env
        assert "CUDA_HOME" not in env
    assert clean_search_paths({"PYTHONPATH": ".", "PATH": ""}) == {"PATH": "/usr/local/bin:/usr/bin:/bin"}


@pytest.mark.skipif(not sysconfig.get_config_var("Py_ENABLE_SHARED"), reason="this python has no shared libpython")
def test_an_empty_library_path_entry_does_not_load_the_candidates_libpython(sum_env, tmp_path, monkeypatch):
    """With LD_LIBRARY_PATH="/usr/local/cuda/lib64:" the scorer's process, started in the candidate's
    copy, loaded a libpython left there: a forged library signed a valid verdict. Here the library is
    garbage, which stops any python that loads it (the scorer's and the candidate's)."""
    folder = _candidate(tmp_path)
    (folder / sysconfig.get_config_var("INSTSONAME")).write_bytes(b"not a library\n" * 100)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/nonexistent-rearena-lib:")
    result = score_candidate(sum_env, "tiny", folder, timeout_s=TIMEOUT)
    assert result.valid, (result.reason, result.message, result.details.get("scorer_output"))


def test_the_scorers_process_does_not_run_in_the_candidates_folder(sum_env, tmp_path):
    env = _env_with_scorer(sum_env, tmp_path, """
        import os
        def score(ctx):
            return {"raw": 1.0, "details": {"cwd": os.getcwd(), "candidate": str(ctx.candidate_dir)}}
    """)
    result = score_candidate(env, "tiny", _candidate(tmp_path), timeout_s=TIMEOUT)
    assert result.valid, result
    assert not Path(result.details["cwd"]).is_relative_to(result.details["candidate"]), result.details


# -- rearena's data folder --------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["REARENA_DATA_DIR", "XDG_DATA_HOME"])
def test_a_candidate_cannot_read_rearenas_data_folder(sum_env, tmp_path, monkeypatch, variable):
    """The scorer's process runs with HOME in its temp folder, so the runner names the data folder to it."""
    data = tmp_path / "data" if variable == "REARENA_DATA_DIR" else tmp_path / "xdg" / "rearena"
    data.mkdir(parents=True)
    (data / "rearena.db").write_text("other trials' secrets")
    monkeypatch.delenv("REARENA_DATA_DIR", raising=False)
    monkeypatch.setenv(variable, str(data if variable == "REARENA_DATA_DIR" else data.parent))
    env = _env_with_scorer(sum_env, tmp_path, """
        def score(ctx):
            with ctx.candidate("solution.py", "peek", tripwire=True) as cand:
                return {"raw": 1.0, "details": {"read": cand.call(timeout=ctx.remaining())}}
    """)
    folder = _candidate(tmp_path, f"""
        def peek():
            with open({str(data / "rearena.db")!r}) as f:
                return f.read()
    """)
    result = score_candidate(env, "tiny", folder, timeout_s=TIMEOUT)
    assert not result.valid and result.reason == "forbidden_access", (result.reason, result.message)
    assert "secrets" not in str(result.details)


@pytest.mark.parametrize("tripwire", [True, False])
def test_a_trials_workdir_in_the_data_folder_reads_itself_by_its_absolute_path(sum_env, tmp_path, monkeypatch,
                                                                                request, tripwire):
    """Scored from a copy, the candidate may still name its own workdir by its absolute path (as an agent
    in it sees $PWD); the database and the other trials' folders stay covered. The data folder is not
    in /tmp, which the confined candidate gets a private one of (the default is ~/.local/share/rearena)."""
    data = Path(tempfile.mkdtemp(prefix="rearena-data-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    request.addfinalizer(lambda: shutil.rmtree(data, ignore_errors=True))
    mine, other = data / "trials" / "7" / "workdir", data / "trials" / "8" / "workdir"
    other.mkdir(parents=True)
    mine.parent.mkdir()
    (other / "solution.py").write_text("other trial's secret")
    (data / "rearena.db").write_text("database secret")
    (data / "trials" / "7" / "events.log").write_text("sibling secret")
    monkeypatch.setenv("REARENA_DATA_DIR", str(data))
    env = _env_with_scorer(sum_env, tmp_path, f"""
        def score(ctx):
            with ctx.candidate("solution.py", "peek", tripwire={tripwire}) as cand:
                return {{"raw": 1.0, "details": {{"read": cand.call(timeout=ctx.remaining())}}}}
    """)
    folder = _candidate(tmp_path, f"""
        def peek():
            out = {{"own": open({str(mine / "notes.txt")!r}).read()}}
            for name, path in (("db", {str(data / "rearena.db")!r}), ("other", {str(other / "solution.py")!r}),
                               ("sibling", {str(data / "trials" / "7" / "events.log")!r})):
                try:
                    out[name] = open(path).read()
                except Exception as exc:
                    out[name] = type(exc).__name__
            return out
    """)
    shutil.move(folder, mine)
    (mine / "notes.txt").write_text("mine")
    result = score_candidate(env, "tiny", mine, timeout_s=TIMEOUT)
    if tripwire:  # the first refused read ends the scoring
        assert not result.valid and result.reason == "forbidden_access", (result.reason, result.message)
        assert "rearena.db" in result.message and "secret" not in str(result.details)
        return
    assert result.valid, (result.reason, result.message)
    read = result.details["read"]
    assert read["own"] == "mine", read
    if confine.available():  # a covered folder refuses, a covered file reads as empty (/dev/null) or, as
        # another uid (confine.USER), is not there at all: the data folder (700) lies under a tmpfs then
        assert read["other"] == "PermissionError" and read["db"] in ("", "FileNotFoundError"), read
        assert read["sibling"] in ("", "FileNotFoundError") and "secret" not in str(read), read


def test_the_data_folder_is_off_limits_only_where_it_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "data"))
    assert str(tmp_path / "data") not in off_limits()
    (tmp_path / "data").mkdir()
    assert str(tmp_path / "data") in off_limits()


def test_a_candidate_inside_the_data_folder_still_reads_its_own_files(tmp_path, monkeypatch):
    """A candidate scored in place inside the data folder (a trial's workdir) is not hidden from itself."""
    from scoring.candidate import CandidateProcess

    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path))
    folder = _candidate(tmp_path, """
        def own():
            return open("notes.txt").read()
    """)
    (folder / "notes.txt").write_text("mine")
    proc = CandidateProcess(folder, "solution.py", "own", memory_mb=1024, output_cap_bytes=1 << 20,
                            startup_timeout_s=30, boot_args=tuple(off_limits()))
    try:
        assert proc.call(timeout=30) == "mine"
    finally:
        proc.close()


# -- the result channel ----------------------------------------------------------------------------


def test_a_result_past_the_channels_cap_is_too_large_not_forged(sum_env, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "RESULT_CAP", 1_000)  # a signed result of a few kB passes it
    env = _env_with_scorer(sum_env, tmp_path, """
        def score(ctx):
            return {"raw": 1.0, "details": {"blob": "x" * 50_000}}
    """)
    result = score_candidate(env, "tiny", _candidate(tmp_path), timeout_s=TIMEOUT)
    assert not result.valid and result.reason == "result_too_large", (result.reason, result.message)


def test_an_exception_with_a_huge_name_gives_a_short_verdict(sum_env, tmp_path):
    folder = _candidate(tmp_path, """
        Huge = type("E" * 2_000_000, (Exception,), {})
        def total(values):
            raise Huge("x")
    """)
    result = score_candidate(sum_env, "tiny", folder, timeout_s=TIMEOUT)
    assert result.reason == "candidate_exception", (result.reason, result.message[:300])
    assert len(result.message) < 2500 and len(str(result.details)) < 20_000


# -- copying the candidate's folder ----------------------------------------------------------------


def test_a_named_pipe_in_the_folder_is_left_out(sum_env, tmp_path):
    folder = _candidate(tmp_path)
    os.mkfifo(folder / "pipe")
    (folder / "sub").mkdir()
    (folder / "sub" / "data.txt").write_text("kept")
    os.symlink("sub/data.txt", folder / "link")
    work = tmp_path / "copy"
    assert runner._copy_candidate(folder, work) == ["pipe (a named pipe)"]
    assert (work / "sub" / "data.txt").read_text() == "kept" and os.readlink(work / "link") == "sub/data.txt"
    result = score_candidate(sum_env, "tiny", folder, timeout_s=TIMEOUT)
    assert result.valid, result
    assert result.details["not_copied"] == ["pipe (a named pipe)"]


def test_a_folder_past_the_copy_cap_is_refused_and_names_what_is_large(sum_env, tmp_path, monkeypatch):
    """A sparse file takes no room where it is, but its full size in the copy."""
    monkeypatch.setattr(runner, "COPY_CAP_BYTES", 1 << 20)
    env = dataclasses.replace(sum_env, hardware=dataclasses.replace(sum_env.hardware, disk_gb=0.0))
    folder = _candidate(tmp_path)
    with open(folder / "big.bin", "wb") as f:
        f.truncate(2 << 20)
    result = score_candidate(env, "tiny", folder, timeout_s=TIMEOUT)
    assert not result.valid and result.reason == "folder_too_large", (result.reason, result.message)
    assert "big.bin" in result.message and "GiB" in result.message


def test_the_copy_cap_is_the_environments_participant_disk_at_least_1_gib(sum_env):
    """A participant may fill the disk its environment gives (hardware.disk_gb): the copy takes it all."""
    def with_disk(gb):
        return dataclasses.replace(sum_env, hardware=dataclasses.replace(sum_env.hardware, disk_gb=gb))

    assert runner.copy_cap(with_disk(3.0)) == 3 << 30 and runner.copy_cap(with_disk(2.0)) == 2 << 30
    assert runner.copy_cap(with_disk(0.25)) == runner.COPY_CAP_BYTES == 1 << 30


def test_a_file_that_cannot_be_copied_gives_a_verdict(sum_env, tmp_path, monkeypatch):
    def unreadable(reader, rel, dest, room):
        raise PermissionError(13, "Permission denied", str(rel))

    monkeypatch.setattr(runner, "_copy_file", unreadable)
    result = score_candidate(sum_env, "tiny", _candidate(tmp_path), timeout_s=TIMEOUT)
    assert not result.valid and result.reason == "copy_failed", (result.reason, result.message)
    assert "solution.py" in result.message and "Permission denied" in result.message


# -- cleaning up -------------------------------------------------------------------------------------


def _deep(root: Path, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY)
    here = os.getcwd()
    try:
        os.chdir(root)
        for _ in range(depth):
            os.mkdir("d")
            os.chdir("d")
    finally:
        os.chdir(here)
        os.close(fd)


def test_a_tree_too_deep_for_rmtree_is_removed(tmp_path):
    root = tmp_path / "deep"
    root.mkdir()
    _deep(root, 3000)
    assert remove_tree(root) == "" and not root.exists()


def test_a_candidate_that_leaves_a_deep_tree_still_gets_its_verdict(sum_env, tmp_path, monkeypatch):
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    folder = _candidate(tmp_path, """
        import os
        def total(values):
            here = os.getcwd()
            if not os.path.exists("d"):
                for _ in range(3000):
                    os.mkdir("d")
                    os.chdir("d")
                os.chdir(here)
            return sum(values)
    """)
    result = score_candidate(sum_env, "tiny", folder, timeout_s=TIMEOUT)
    assert result.valid, result
    assert os.listdir(temp) == [], "the run's temp folder was left behind"


def test_what_cannot_be_removed_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    def fails(path):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(runner, "tool", lambda name: "/bin/false")
    monkeypatch.setattr(runner.shutil, "rmtree", fails)
    (tmp_path / "stays").mkdir()
    with caplog.at_level(logging.WARNING, logger="scoring.runner"):
        left = remove_tree(tmp_path / "stays")
    assert left.startswith("could not remove") and str(tmp_path / "stays") in left and "RecursionError" in left
    assert left in caplog.text


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
def test_a_write_by_the_workdirs_absolute_path_reaches_the_copy_not_the_live_workdir(sum_env, tmp_path, monkeypatch):
    """The trial's workdir, named by its absolute path while a copy of it is scored, is that copy: the
    candidate reads its files there and what it writes never reaches the participant's live folder."""
    data = Path(tempfile.mkdtemp(prefix="rearena-data-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    try:
        mine = data / "trials" / "3" / "workdir"
        mine.parent.mkdir(parents=True)
        monkeypatch.setenv("REARENA_DATA_DIR", str(data))
        env = _env_with_scorer(sum_env, tmp_path, """
            def score(ctx):
                with ctx.candidate("solution.py", "touch") as cand:
                    return {"raw": 1.0, "details": {"read": cand.call(timeout=ctx.remaining())}}
        """)
        folder = _candidate(tmp_path, f"""
            import os
            def touch():
                with open({str(mine / "written.txt")!r}, "w") as out:
                    out.write("from the scoring")
                return [open({str(mine / "notes.txt")!r}).read(), sorted(os.listdir("."))]
        """)
        shutil.move(folder, mine)
        (mine / "notes.txt").write_text("mine")
        result = score_candidate(env, "tiny", mine, timeout_s=TIMEOUT)
        assert result.valid, (result.reason, result.message)
        assert result.details["read"] == ["mine", ["notes.txt", "solution.py", "written.txt"]], result.details
        assert not (mine / "written.txt").exists(), "the scoring wrote into the participant's live workdir"
    finally:
        shutil.rmtree(data, ignore_errors=True)
