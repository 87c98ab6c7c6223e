"""`rearena ... | head`: a reader that goes away before rearena is done ends it quietly with status 141 (what a shell
reports for a Unix tool stopped by SIGPIPE), no traceback, whichever command and whatever prints (print or rich).
Real processes; their stdout a pipe whose reading end is already closed, so every write to it fails."""

import os
import subprocess
import sys

import pytest

from testpaths import REPO, TEST_ENV_ROOT


def rearena_into_a_closed_pipe(tmp_path, *args, trial=None):
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT))
    for key in ("REARENA_TRIAL", "REARENA_DB"):
        env.pop(key, None)
    if trial is not None:
        env["REARENA_TRIAL"] = str(trial)
    read, write = os.pipe()
    os.close(read)  # the reader is gone, as `head` is once it has its lines
    try:
        return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)


@pytest.fixture
def trial(tmp_path) -> int:
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT))
    env.pop("REARENA_TRIAL", None)
    env.pop("REARENA_DB", None)
    out = subprocess.run([sys.executable, "-m", "console", "trial", "start", "sum_env:tiny", "--participant", "ada"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[1].rstrip(":"))


@pytest.mark.parametrize("args", [["trial", "status"], ["task", "status"], ["trial", "status", "--json"],
                                  ["trial", "list"], ["env", "show", "rolling_median"], ["env", "list"]])
def test_a_closed_output_ends_the_command_quietly(tmp_path, trial, args):
    out = rearena_into_a_closed_pipe(tmp_path, *args, trial=trial)
    assert (out.returncode, out.stderr) == (141, "")


def test_a_broken_pipe_that_is_not_stdout_is_not_hidden(monkeypatch, capfd):
    import console.cli
    import console.cli_env

    def broken(args):
        raise BrokenPipeError("a scorer's pipe")

    monkeypatch.setattr(console.cli_env, "cmd_env", broken)  # another pipe breaks while stdout (a file here) is fine
    with pytest.raises(BrokenPipeError, match="scorer"):
        console.cli.main(["env", "list"])
