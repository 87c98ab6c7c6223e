"""An untrusted candidate is confined whether or not its scorer asks for the tripwire, and so is a
rubric's reproduce.sh; a data folder that holds the running python or the repository stays uncovered.

A red-team review scored rolling_median (no tripwire) with a candidate that ran as root with every
capability, read the scorer's memory through /proc and wrote a signed score to its result pipe."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scoring import confine
from scoring.api import ScoringContext
from scoring.candidate import CandidateProcess
from scoring.off_limits import REPO_ROOT, off_limits
from scoring.rubric.grading import run_reproduce

needs_confinement = pytest.mark.skipif(not confine.available(),
                                       reason="confinement needs root and unshare (it runs as root in CI)")

PEEK = '''
import os

def peek(secret, scorer_file):
    def read(path):
        try:
            with open(path) as f:
                return "read: " + f.read()
        except OSError as exc:
            return type(exc).__name__
    status = open("/proc/self/status").read()
    cap_eff = [line.split()[1] for line in status.splitlines() if line.startswith("CapEff")][0]
    return {"secret": read(secret), "scorer": read(scorer_file), "cap_eff": cap_eff,
            "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
'''


def _data_folder(tmp_path: Path, monkeypatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "rearena.db").write_text("other trials' secrets")
    monkeypatch.setenv("REARENA_DATA_DIR", str(data))
    return data


@needs_confinement
def test_a_candidate_without_the_tripwire_is_confined(tmp_path, monkeypatch):
    data = _data_folder(tmp_path, monkeypatch)
    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text(PEEK)
    ctx = ScoringContext(environment="t", variant="tiny", params={}, candidate_dir=folder,
                         deadline=time.monotonic() + 30, rng=random.Random(1))
    with ctx.candidate("solution.py", "peek") as cand:  # no tripwire, as rolling_median's scorer
        seen = cand.call(str(data / "rearena.db"), str(REPO_ROOT / "scoring" / "api.py"), timeout=20)
    assert seen["secret"] == "PermissionError", seen
    assert seen["scorer"] == "PermissionError", seen
    assert int(seen["cap_eff"], 16) == 0, seen
    assert seen["processes"] == [1], seen  # the scorer's process is not in its PID namespace


@needs_confinement
def test_reproduce_sh_cannot_read_the_data_folder_or_the_reference_solution(tmp_path, monkeypatch):
    data = _data_folder(tmp_path, monkeypatch)
    reference = REPO_ROOT / "reference_solutions" / "rolling_median" / "solution.py"
    assert reference.is_file()
    for target in (data / "rearena.db", reference):
        folder = tmp_path / f"cand-{target.stem}"
        folder.mkdir()
        (folder / "reproduce.sh").write_text(f"cat {target} > stolen.txt\n")
        result = run_reproduce(folder, 30)
        assert result.ran and not result.ok and result.exit_code != 0, (target, result.summary(), result.log)
        assert "Permission denied" in result.log, result.log
        assert "secrets" not in result.log and "def rolling_median" not in str(result.outputs)


def test_an_honest_reproduce_sh_still_writes_its_folder_and_tmp(tmp_path):
    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "reproduce.sh").write_text(textwrap.dedent("""\
        set -e
        echo scratch > "$TMPDIR/scratch.txt"
        python -c "print('result', 6 * 7)" > result.txt
        cat "$TMPDIR/scratch.txt"
    """))
    result = run_reproduce(folder, 60)
    assert result.ok, (result.summary(), result.log)
    assert "scratch" in result.log and result.outputs.get("result.txt", "").strip() == "result 42", result.outputs


def test_a_data_folder_holding_the_repository_is_not_covered(monkeypatch, caplog):
    monkeypatch.setenv("REARENA_DATA_DIR", str(REPO_ROOT.parent))
    with caplog.at_level(logging.WARNING, logger="scoring.off_limits"):
        assert str(REPO_ROOT.parent.resolve()) not in off_limits()
    assert "the repository" in caplog.text


def test_a_data_folder_holding_the_python_is_not_covered(tmp_path, monkeypatch, caplog):
    """The scorer's python lives in the data folder (a venv there): covered, no candidate could start."""
    data = _data_folder(tmp_path, monkeypatch)
    venv = data / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    monkeypatch.setattr(sys, "prefix", str(venv))
    with caplog.at_level(logging.WARNING, logger="scoring.off_limits"):
        assert str(data.resolve()) not in off_limits()
    assert "prefix" in caplog.text
    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text("import sys\n\ndef f():\n    return sys.prefix\n")
    proc = CandidateProcess(folder, "solution.py", "f", memory_mb=1024, output_cap_bytes=1 << 20,
                            startup_timeout_s=30, python=python, boot_args=tuple(off_limits()))
    try:
        assert proc.call(timeout=30) == str(venv)
    finally:
        proc.close()
