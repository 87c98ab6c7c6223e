"""A candidate's message reaches the terminal as it was written, never as markup or raw controls, and is
recorded: `score --record`, `trial score`, `trial status` and `trial list` as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from testpaths import REPO, TEST_ENV_ROOT

# a lone surrogate and a NUL (not storable), markup that is not even valid ([/red]), a fake VALID line in
# markup, and an escape sequence that would clear the terminal
RAISES = textwrap.dedent('''
    def total(values):
        raise ValueError("bad \\ud800 value\\x00 [/red] \\x1b[2J [bold green]VALID[/bold green] 0.99")
''')


def rearena(tmp_path, *args):
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT))
    env.pop("REARENA_TRIAL", None)
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def assert_shown_as_written(out: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in out.stderr, out.stderr
    text = out.stdout
    assert "[/red]" in text and "[bold green]VALID[/bold green] 0.99" in text  # markup shown, not obeyed
    assert "\x1b" not in text and "\\x1b[2J" in text  # the escape is shown, not sent to the terminal
    assert "\x00" not in text and "\ufffd" in text  # NUL and surrogate replaced


def test_a_hostile_message_is_printed_and_recorded(tmp_path):
    cand = tmp_path / "cand"
    cand.mkdir()
    (cand / "solution.py").write_text(RAISES)
    out = rearena(tmp_path, "trial", "start", "sum_env:tiny", "--participant", "[/red]ada")
    assert out.returncode == 0, out.stderr
    out = rearena(tmp_path, "score", "sum_env:tiny", str(cand), "--record", "1")
    assert out.returncode == 1, (out.stdout, out.stderr)  # invalid, and recorded
    assert "INVALID (candidate_exception)" in out.stdout
    assert_shown_as_written(out)

    workdir = Path(tmp_path / "data" / "trials" / "1" / "workdir")
    (workdir / "solution.py").write_text(RAISES)
    out = rearena(tmp_path, "trial", "score", "1")  # print_verdict_row
    assert out.returncode == 1 and "submission 2" in out.stdout, (out.stdout, out.stderr)
    assert_shown_as_written(out)

    out = rearena(tmp_path, "trial", "submit", "1", "--yes")  # the final scoring is recorded, the trial ends
    assert out.returncode == 0 and "trial 1 submitted" in out.stdout, (out.stdout, out.stderr)

    out = rearena(tmp_path, "trial", "status", "1")  # a later status still works, and shows all three
    assert out.returncode == 0, out.stderr
    assert "ended (submitted)" in out.stdout and "over 3 submissions" in out.stdout and "[/red]ada" in out.stdout
    assert_shown_as_written(out)

    out = rearena(tmp_path, "trial", "list")
    assert out.returncode == 0 and "[/red]ada" in out.stdout, out.stderr
