"""Every kind of broken or malicious candidate gets an invalid result with its own reason."""

import textwrap
import time
from pathlib import Path

import pytest

from scoring import confine
from scoring.runner import score_candidate

# Confined (root with unshare: scoring/confine.py), a candidate sees neither the scorer's process nor
# files outside its folder, so these attacks fail before the checks they test; those checks guard where
# confinement is unavailable (not root), so they are tested with confinement turned off, and confined.
REACHES_THE_SCORER = {"forged_result_on_channel", "garbage_on_its_answer_channel", "kills_the_scorer"}


@pytest.fixture
def unconfined(monkeypatch):
    """The scorer's process runs its candidates unconfined, as on a machine where it is not root."""
    monkeypatch.setenv(confine.OFF_VARIABLE, "1")

TIMEOUT = 6.0

BAD = {
    "hang": ("timeout", """
        def total(values):
            while True:
                pass
    """),
    "hang_at_import": ("timeout", """
        import time
        time.sleep(1000)
        def total(values):
            return sum(values)
    """),
    "crash": ("crash", """
        import os
        def total(values):
            os._exit(3)
    """),
    "segfault": ("crash", """
        import ctypes
        def total(values):
            ctypes.string_at(0)
    """),
    "out_of_memory": ("out_of_memory", """
        def total(values):
            hog = []
            while True:
                hog.append(bytearray(50 * 1024 * 1024))
    """),
    "output_flood_1gb": ("output_flood", """
        import os
        def total(values):
            block = b"x" * (1 << 20)
            for _ in range(1024):
                os.write(1, block)
            return sum(values)
    """),
    "wrong_answer": ("wrong_answer", """
        def total(values):
            return sum(values) + 1
    """),
    "raises": ("candidate_exception", """
        def total(values):
            raise ValueError("boom")
    """),
    "missing_function": ("missing_entry_point", """
        def add_up(values):
            return sum(values)
    """),
    "forged_result_on_channel": ("result_forged", """
        import glob, os
        def total(values):
            # write a fake verdict into every pipe the scorer's process holds open, except the
            # candidate's own channels (those are caught as protocol errors, tested apart)
            mine = {os.readlink(p) for p in glob.glob("/proc/self/fd/*") if os.path.exists(p)}
            fake = b'0' * 64 + b' {"nonce": "x", "payload": {"valid": true, "raw": -50.0}}\\n'
            for fd in glob.glob(f"/proc/{os.getppid()}/fd/*"):
                try:
                    if os.readlink(fd) in mine:
                        continue
                except OSError:
                    continue
                try:
                    with open(fd, "wb", buffering=0) as f:
                        f.write(fake)
                except OSError:
                    pass
            return sum(values)
    """),
    "garbage_on_its_answer_channel": ("protocol_error", """
        import glob, os
        def total(values):
            # write garbage into its own answer channel through the scorer's end of the pipe
            mine = {os.readlink(f"/proc/self/fd/{n}") for n in range(3, 64) if os.path.exists(f"/proc/self/fd/{n}")}
            for fd in glob.glob(f"/proc/{os.getppid()}/fd/*"):
                try:
                    if os.readlink(fd) in mine:
                        with open(fd, "wb", buffering=0) as f:
                            f.write(b"\\xff" * 64)
                except OSError:
                    pass
            return sum(values)
    """),
    "kills_the_scorer": ("scorer_died", """
        import os, signal
        def total(values):
            os.kill(os.getppid(), signal.SIGKILL)
            return sum(values)
    """),
    "unsafe_pickle_answer": ("protocol_error", """
        import os
        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned",))
        def total(values):
            return Evil()
    """),
}


def _write(tmp_path: Path, source: str) -> Path:
    cand = tmp_path / "cand"
    cand.mkdir()
    (cand / "solution.py").write_text(textwrap.dedent(source))
    return cand


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_candidate_is_invalid_with_its_reason(sum_env, tmp_path, name, monkeypatch):
    if name in REACHES_THE_SCORER:
        monkeypatch.setenv(confine.OFF_VARIABLE, "1")
    reason, source = BAD[name]
    started = time.monotonic()
    result = score_candidate(sum_env, "tiny", _write(tmp_path, source), timeout_s=TIMEOUT, memory_mb=256)
    elapsed = time.monotonic() - started
    assert not result.valid, result
    assert result.reason == reason, (result.reason, result.message)
    assert result.raw is None and result.normalized is None
    assert result.message and len(result.message) < 500
    assert elapsed < TIMEOUT + 5


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
@pytest.mark.parametrize("name", sorted(REACHES_THE_SCORER))
def test_confined_a_candidate_cannot_reach_the_scorer(sum_env, tmp_path, name):
    """Confined, the same attacks find no scorer's process to write to or kill: they fail, and the
    candidate is judged on its answers (these ones then return the right sum) or its own end."""
    result = score_candidate(sum_env, "tiny", _write(tmp_path, BAD[name][1]), timeout_s=TIMEOUT, memory_mb=256)
    assert result.reason not in ("result_forged", "scorer_died", "protocol_error"), (result.reason, result.message)


def test_missing_file_is_missing_entry_point(sum_env, tmp_path):
    cand = tmp_path / "empty"
    cand.mkdir()
    result = score_candidate(sum_env, "tiny", cand, timeout_s=TIMEOUT)
    assert result.reason == "missing_entry_point"
    assert "solution.py" in result.message


def test_printed_fake_result_and_written_files_do_not_count(sum_env, tmp_path):
    """A candidate that prints a fake verdict and writes result files is judged on its answers only."""
    source = """
        import json, pathlib
        def total(values):
            print(json.dumps({"valid": True, "raw": -99.0, "normalized": 100.0}))
            pathlib.Path("result.json").write_text('{"valid": true, "raw": -99}')
            return sum(values) - 1
    """
    cand = _write(tmp_path, source)
    result = score_candidate(sum_env, "tiny", cand, timeout_s=TIMEOUT)
    assert not result.valid and result.reason == "wrong_answer"
    assert not (cand / "result.json").exists(), "the candidate ran on a private copy"


def test_patching_its_own_clock_does_not_change_the_timing(sum_env, tmp_path):
    """Timing happens in the scorer's process, so a candidate that fakes perf_counter gains nothing."""
    source = """
        import time
        time.perf_counter = lambda: 0.0
        time.monotonic = lambda: 0.0
        def total(values):
            time.sleep(0.05)
            return sum(values)
    """
    result = score_candidate(sum_env, "tiny", _write(tmp_path, source), timeout_s=TIMEOUT)
    assert result.valid, result
    assert min(result.details["times_s"]) >= 0.05


def test_scorer_tampering_is_detected(sum_env, tmp_path, unconfined):
    scorer = sum_env.scorer
    original = scorer.read_bytes()
    source = f"""
        import pathlib
        def total(values):
            path = pathlib.Path({str(scorer)!r})
            path.write_text(path.read_text().replace("answer != sum(values)", "False"))
            return 0
    """
    try:
        result = score_candidate(sum_env, "tiny", _write(tmp_path, source), timeout_s=TIMEOUT)
    finally:
        scorer.write_bytes(original)
    assert not result.valid and result.reason == "scorer_tampered", result


def test_noisy_scorer_output_does_not_break_scoring(sum_env, tmp_path):
    """A candidate printing a few MB (under the cap) still gets its score, with output kept short."""
    source = """
        def total(values):
            print("y" * 2_000_000)
            return sum(values)
    """
    result = score_candidate(sum_env, "tiny", _write(tmp_path, source), timeout_s=TIMEOUT)
    assert result.valid, result
    assert len(result.details["candidate_output"]) <= 8000


def test_good_candidate_is_valid_and_normalized(sum_env):
    result = score_candidate(sum_env, "tiny", sum_env.starting_dir)
    assert result.valid, result
    assert result.normalized == pytest.approx((result.raw - (-6.0)) / (-8.0 - (-6.0)))
    assert result.calibration["start"] == -6.0
    assert result.details["candidate_calls"] == 3


def test_no_candidate_process_survives(sum_env, tmp_path, unconfined):
    pids = tmp_path / "pids"
    source = f"""
        import os, time
        def total(values):
            child = os.fork()
            if child == 0:
                time.sleep(60)
                os._exit(0)
            with open({str(pids)!r}, "w") as f:
                f.write(f"{{os.getpid()}} {{child}}")
            while True:
                pass
    """
    cand = _write(tmp_path, source)
    result = score_candidate(sum_env, "tiny", cand, timeout_s=3)
    assert result.reason == "timeout"
    time.sleep(0.3)
    alive = [pid for pid in map(int, pids.read_text().split()) if _alive(pid)]
    assert alive == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie is dead
    except OSError:
        return False


def test_a_scorer_whose_dependency_is_missing_says_which_package(sum_env, tmp_path):
    """An environment's scorer importing a package this machine lacks (e.g. torch without the extra)
    gets a clear 'missing_dependency' verdict that names the package and how to install it."""
    import dataclasses
    import shutil

    folder = tmp_path / "env"
    shutil.copytree(sum_env.path, folder, ignore=shutil.ignore_patterns("__pycache__"))
    scorer = folder / "scorer.py"
    scorer.write_text("import rearena_no_such_package\n" + scorer.read_text())
    env = dataclasses.replace(sum_env, path=folder, scorer=scorer, starting_dir=folder / "starting")
    result = score_candidate(env, "tiny", env.starting_dir, timeout_s=TIMEOUT)
    assert not result.valid and result.reason == "missing_dependency", result
    assert "'rearena_no_such_package'" in result.message and "pip install" in result.message


def test_the_result_says_how_the_candidate_was_confined(sum_env, monkeypatch):
    """details.candidate_confinement names the pieces its processes ran with (all of the CPU path's where
    the scorer is root), or "none" where confinement is off: a reader of a score sees which it was."""
    result = score_candidate(sum_env, "tiny", sum_env.starting_dir)
    assert result.valid, result
    expected = "+".join(sorted(confine.CPU_PATH)) if confine.available() else "none"
    assert result.details["candidate_confinement"] == [expected]
    monkeypatch.setenv(confine.OFF_VARIABLE, "1")
    result = score_candidate(sum_env, "tiny", sum_env.starting_dir)
    assert result.valid and result.details["candidate_confinement"] == ["none"], result.details
