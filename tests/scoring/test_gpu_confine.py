"""The GPU path's confinement, found at run time (scoring/kernel/gpu_confine.py): the search over piece
sets, the probe program, its cache, and the way its answer reaches a GPU candidate."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scoring import confine, runner
from scoring.kernel import gpu_confine
from scoring.runner import score_candidate

ALL = "dev+files+net+pid+shm+user"
needs_confinement = pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare "
                                                                      "(it runs as root in CI)")


@pytest.fixture(autouse=True)
def _no_remembered_failures():
    gpu_confine._failed.clear()
    yield
    gpu_confine._failed.clear()


@pytest.mark.parametrize("breaks, expected", [
    (lambda pieces: False, ALL),  # everything works: one round
    (lambda pieces: confine.NET in pieces, "dev+files+pid+shm+user"),  # one piece breaks CUDA on its own
    (lambda pieces: len(pieces) == len(confine.CPU_PATH), "dev+files+net+pid+shm"),  # each alone works, all do not
    (lambda pieces: {confine.PID, confine.SHM} <= pieces, "dev+files+net+pid+user"),  # a pair that does not mix
    (lambda pieces: len(pieces) >= 1, "covers"),  # only the covers
    (lambda pieces: True, None),  # not even the covers
])
def test_the_search_names_only_a_set_of_pieces_that_it_saw_work(breaks, expected):
    """With the CUDA child replaced by a rule (no GPU here), the answer is always a set that was itself
    probed and worked, and the largest the rule allows on the way the search goes."""
    worked = set()

    def check(pieces):
        if breaks(pieces):
            return "FAILED in the child: error 304"
        worked.add(pieces)
        return "works"

    found, levels = gpu_confine.search(check, confine.CPU_PATH)
    assert (None if found is None else gpu_confine.name(found)) == expected
    assert found is None or found in worked
    assert {pieces for pieces, verdict in levels if verdict == "works"} == worked
    assert levels[0][0] == confine.CPU_PATH  # the whole set is tried first (one round where it works)


def test_a_level_that_raises_counts_as_failed_and_the_others_still_count():
    def check(pieces):
        if confine.DEV in pieces:
            raise RuntimeError("the driver went away")
        return "works"

    found, levels = gpu_confine.search(check, confine.CPU_PATH)
    assert found == confine.CPU_PATH - {confine.DEV}
    assert dict(levels)[frozenset({confine.DEV})] == "FAILED: RuntimeError: the driver went away"


def test_the_search_tries_its_first_round_at_once():
    """The covers, each piece alone and the whole set start together: the first round takes one child's
    time, not eight (a CUDA child takes seconds)."""
    def check(pieces):
        time.sleep(0.5)
        return "FAILED" if len(pieces) > 1 else "works"

    started = time.monotonic()
    found, levels = gpu_confine.search(check, confine.CPU_PATH)
    took = time.monotonic() - started
    assert found == {confine.DEV}  # no pair works: the first piece that worked alone is kept
    assert len(levels) == 8 + 1 + 5  # first round, the kept ones together, then one at a time
    assert took < 0.5 * (1 + 1 + 5) + 1.5, took


def test_gpu_path_reads_the_runners_answer(monkeypatch):
    monkeypatch.delenv(confine.GPU_PIECES_VARIABLE, raising=False)
    assert confine.gpu_path() == confine.GPU_PATH
    monkeypatch.setenv(confine.GPU_PIECES_VARIABLE, "covers")
    assert confine.gpu_path() == frozenset()
    monkeypatch.setenv(confine.GPU_PIECES_VARIABLE, "net+pid+gpu")  # a word no probe writes: unknown parts dropped
    assert confine.gpu_path() == {confine.NET, confine.PID}


@needs_confinement
def test_the_probe_program_answers_and_its_answer_is_cached(tmp_path):
    """The probe run for real as the runner runs it (a python of its own, children started through
    confine.wrap as a GPU candidate), with the check that needs no GPU: a confined python starts. Its
    answer is cached for this machine and read back from the cache."""
    data = tmp_path / "data"
    word = gpu_confine.pieces_word(sys.executable, data, check="start")
    assert word == gpu_confine.name(confine.usable(confine.CPU_PATH))
    key = gpu_confine.machine_key(sys.executable, "start")
    assert json.loads((data / gpu_confine.CACHE_FILE).read_text()) == {key: word}
    # read back from the cache, not probed again: a cached word that no probe would give here is returned
    (data / gpu_confine.CACHE_FILE).write_text(json.dumps({key: "net"}))
    assert gpu_confine.pieces_word(sys.executable, data, check="start") == "net"
    # a damaged cache is probed again and rewritten
    (data / gpu_confine.CACHE_FILE).write_text("{not json")
    assert gpu_confine.pieces_word(sys.executable, data, check="start") == word
    assert json.loads((data / gpu_confine.CACHE_FILE).read_text()) == {key: word}


def test_the_cache_key_names_the_python_and_the_check(tmp_path):
    assert gpu_confine.machine_key(sys.executable) != gpu_confine.machine_key("/usr/bin/python3")
    assert gpu_confine.machine_key(sys.executable, "start") != gpu_confine.machine_key(sys.executable, "cuda")
    assert gpu_confine.machine_key(sys.executable) == gpu_confine.machine_key(sys.executable)


def test_a_probe_without_an_answer_is_not_cached_and_not_run_again_by_this_process(tmp_path):
    """Here there is no CUDA GPU: the probe answers none, nothing is cached (the next process tries again),
    and this process does not probe again."""
    pytest.importorskip("torch")
    data = tmp_path / "data"
    assert gpu_confine.pieces_word(sys.executable, data) is None
    assert not (data / gpu_confine.CACHE_FILE).exists()
    assert "no CUDA GPU" in gpu_confine._failed[gpu_confine.machine_key(sys.executable)]
    started = time.monotonic()
    assert gpu_confine.pieces_word(sys.executable, data) is None
    assert time.monotonic() - started < 0.1


def test_a_probe_that_hangs_is_stopped_at_its_limit(tmp_path):
    hanging = tmp_path / "python"
    hanging.write_text("#!/bin/sh\nsleep 30\n")
    hanging.chmod(0o755)
    started = time.monotonic()
    assert gpu_confine.pieces_word(str(hanging), tmp_path, timeout_s=1.0) is None
    assert time.monotonic() - started < 5
    assert "no answer within 1 s" in gpu_confine._failed[gpu_confine.machine_key(str(hanging))]


def test_a_probe_answer_naming_an_unknown_piece_is_refused(tmp_path):
    lying = tmp_path / "python"
    lying.write_text('#!/bin/sh\necho \'{"pieces": ["pid", "gpu"]}\'\n')
    lying.chmod(0o755)
    assert gpu_confine.pieces_word(str(lying), tmp_path) is None
    assert "unknown answer" in gpu_confine._failed[gpu_confine.machine_key(str(lying))]
    assert not (tmp_path / gpu_confine.CACHE_FILE).exists()


def test_the_runner_hands_the_gpu_answer_to_the_scorers_process(sum_env, tmp_path, monkeypatch):
    """For an environment on a GPU, the runner's answer (here from the cache, as a GPU machine's second
    scoring finds it) reaches the scorer's process through its configuration, where confine.gpu_path()
    reads it. This machine has no GPU: the runner is told it has one."""
    data = tmp_path / "data"
    monkeypatch.setenv("REARENA_DATA_DIR", str(data))
    monkeypatch.delenv(confine.GPU_PIECES_VARIABLE, raising=False)
    monkeypatch.setattr(runner, "_has_gpu", lambda: True)
    if runner._probed_pieces() == "none" or os.environ.get(confine.OFF_VARIABLE) == "1":
        pytest.skip("confinement is unavailable here: the runner asks for no GPU answer")
    data.mkdir()
    (data / gpu_confine.CACHE_FILE).write_text(json.dumps({gpu_confine.machine_key(sys.executable): "net+pid"}))
    folder = tmp_path / "env"
    shutil.copytree(sum_env.path, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "scorer.py").write_text(textwrap.dedent("""
        from scoring import confine
        def score(ctx):
            return {"raw": 0.5, "message": "ok", "details": {"gpu": sorted(confine.gpu_path())}}
        """))
    candidate = tmp_path / "cand"
    shutil.copytree(Path(__file__).parent / "sum_env" / "starting", candidate)
    gpu_env = dataclasses.replace(sum_env, path=folder, scorer=folder / "scorer.py", starting_dir=folder / "starting",
                                  hardware=dataclasses.replace(sum_env.hardware, gpu=True))
    result = score_candidate(gpu_env, None, candidate, timeout_s=20.0)
    assert result.valid, result.message
    assert result.details["gpu"] == ["net", "pid"]
    # an environment without a GPU is not given one
    result = score_candidate(dataclasses.replace(gpu_env, hardware=sum_env.hardware), None, candidate, timeout_s=20.0)
    assert result.details["gpu"] == sorted(confine.GPU_PATH)


def test_a_cache_others_may_write_is_not_read(tmp_path):
    """Anyone who can write the cache could weaken the GPU path (or break it for the boot): only a file of
    this user's, writable by no one else, is read."""
    lying = tmp_path / "python"
    lying.write_text('#!/bin/sh\necho \'{"pieces": ["pid", "gpu"]}\'\n')
    lying.chmod(0o755)
    cache = tmp_path / gpu_confine.CACHE_FILE
    cache.write_text(json.dumps({gpu_confine.machine_key(str(lying)): "net"}))
    cache.chmod(0o600)
    assert gpu_confine.pieces_word(str(lying), tmp_path) == "net"
    cache.chmod(0o666)
    assert gpu_confine.pieces_word(str(lying), tmp_path) is None  # probed again (and refused: a lying probe)


def _run_probe_child(folder: Path, program: str, mode: str) -> list[str]:
    """`program` run as the probe's child runs: the child's file copied into a candidate's folder, confined
    with every CPU piece, in a candidate's environment (`mode` "cpu": Triton's interpreter)."""
    from scoring.kernel.peer import peer_env

    folder.mkdir()
    folder.chmod(0o755)
    child = folder / gpu_confine.CHILD_FILE.name
    shutil.copyfile(gpu_confine.CHILD_FILE, child)
    child.chmod(0o644)
    argv = confine.wrap([sys.executable, "-I", "-B", "-c", "import sys; sys.path.insert(0, '.')\n" + program],
                        [str(Path(__file__).resolve().parents[2] / "scoring")], folder=str(folder))
    env = peer_env(folder, "cpu")
    if mode != "cpu":
        env.pop("TRITON_INTERPRET")
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().split("|")


@needs_confinement
def test_the_probe_child_runs_a_triton_kernel_where_a_candidate_runs(tmp_path):
    """The probe's child doubles the tensor with a Triton kernel of its own file, copied into a candidate's
    folder and run there confined with a candidate's environment (here with Triton's interpreter and CPU
    tensors: compiling for a GPU is checked by the probe on a GPU). Where Triton fails (here: a CPU tensor,
    no interpreter, no GPU driver), torch doubles it and the failure is said, so that CUDA IPC is still
    checked and the probe can tell a Triton that never runs from a piece that breaks it."""
    pytest.importorskip("triton")
    program = ("import torch; from gpu_probe_child import double\n"
               "x = torch.arange(3000, dtype=torch.int64); y, how = double(x)\n"
               "print(how, bool(torch.equal(y, x * 2)), sep='|')")
    assert _run_probe_child(tmp_path / "interpreted", program, "cpu") == ["triton", "True"]
    how, right = _run_probe_child(tmp_path / "compiled", program, "gpu")
    assert how.startswith("triton failed: ") and right == "True", how


def test_where_triton_fails_even_with_the_covers_the_search_runs_on_cuda_ipc_alone():
    """A Triton that cannot run here with any pieces (no C compiler) must not leave GPU candidates with no
    piece at all: the pieces are then those CUDA IPC works with. Where Triton runs with some pieces, it
    is required."""
    def check(breaks_triton, breaks_ipc):
        def verdict(pieces, triton):
            if breaks_ipc(pieces) or (triton and breaks_triton(pieces)):
                return "FAILED"
            return "works"
        return verdict

    never = check(lambda pieces: True, lambda pieces: confine.NET in pieces)
    found, levels = gpu_confine.search_with_triton(never, confine.CPU_PATH)
    assert gpu_confine.name(found) == "dev+files+pid+shm+user"
    assert any("CUDA IPC alone" in verdict for _, verdict in levels)
    with_pid = check(lambda pieces: confine.PID in pieces, lambda pieces: confine.NET in pieces)
    found, levels = gpu_confine.search_with_triton(with_pid, confine.CPU_PATH)
    assert gpu_confine.name(found) == "dev+files+shm+user"
    assert not any("CUDA IPC alone" in verdict for _, verdict in levels)
