"""Official scoring in a container against hostile folders: pipes, sockets, deep trees, planted libraries."""

from __future__ import annotations

import io
import os
import shutil
import socket
from pathlib import Path

import pytest

import scoring.docker_runner as docker_runner
from scoring.docker_runner import CANDIDATE_DIR, score_in_container, scorer_env
from scoring.runner import remove_tree

pytestmark = pytest.mark.slow
TIMEOUT = 6.0


def _starting_copy(env, tmp_path: Path) -> Path:
    folder = tmp_path / "cand"
    shutil.copytree(env.starting_dir, folder)
    return folder


def test_a_socket_and_a_named_pipe_are_left_out(small_registry, images, tmp_path, monkeypatch):
    env = small_registry.get("sum_env")
    folder = _starting_copy(env, tmp_path)
    os.mkfifo(folder / "pipe")
    monkeypatch.chdir(folder)  # a socket's path must be short: bind it by a relative name
    server = socket.socket(socket.AF_UNIX)
    server.bind("sock")
    try:
        result = score_in_container(env, "tiny", folder, timeout_s=TIMEOUT)
    finally:
        server.close()
    assert result.valid, (result.reason, result.message)
    assert sorted(result.details["not_copied"]) == ["pipe (a named pipe)", "sock (a socket)"]


def test_links_to_the_scorers_files_do_not_enter_the_container(small_registry, images, tmp_path):
    """The scorer's process reads the candidate's folder as root at /candidate: a link to its run's
    configuration (the result's key), directly or through another link, is left out."""
    env = small_registry.get("sum_env")
    folder = _starting_copy(env, tmp_path)
    os.symlink("/opt/rearena/run/config.json", folder / "key.json")
    (folder / "x").mkdir()
    os.symlink("..", folder / "x" / "up")
    os.symlink("x/up/../opt/rearena/run/config.json", folder / "key2.json")  # /candidate/../opt/...
    result = score_in_container(env, "tiny", folder, timeout_s=TIMEOUT)
    assert result.valid, (result.reason, result.message)
    assert sorted(result.details["not_copied"]) == ["key.json (a symbolic link to outside the folder)",
                                                    "key2.json (a symbolic link to outside the folder)"]


def test_a_tree_1200_folders_deep_gets_a_verdict(small_registry, images, tmp_path, monkeypatch):
    env = small_registry.get("sum_env")
    folder = _starting_copy(env, tmp_path)
    monkeypatch.chdir(folder)
    for _ in range(1200):
        os.mkdir("d")
        os.chdir("d")
    monkeypatch.chdir(tmp_path)
    try:
        result = score_in_container(env, "tiny", folder, timeout_s=TIMEOUT)
    finally:
        assert remove_tree(folder) == ""  # shutil.rmtree (pytest's clean-up) recurses
    assert result.valid, (result.reason, result.message)


def test_a_folder_past_the_cap_is_folder_too_large(small_registry, images, tmp_path, monkeypatch):
    env = small_registry.get("sum_env")
    folder = _starting_copy(env, tmp_path)
    (folder / "big.bin").write_bytes(b"x" * 4096)
    monkeypatch.setattr(docker_runner, "copy_cap", lambda env: 1024)
    result = score_in_container(env, "tiny", folder, timeout_s=TIMEOUT)
    assert not result.valid and result.reason == "folder_too_large", (result.reason, result.message)
    assert "big.bin" in result.message


def test_the_scorers_search_paths_keep_only_absolute_entries():
    env = scorer_env(["PATH=/usr/bin::bin:.", "LD_LIBRARY_PATH=/x:", "PYTHONPATH=lib", "LANG=C.UTF-8"])
    assert env["PATH"] == "/usr/bin" and env["LD_LIBRARY_PATH"] == "/x"
    assert env["PYTHONPATH"] == ""  # set, or docker exec would keep the image's "lib"
    assert "LANG" not in env and env["HOME"] != CANDIDATE_DIR
    assert scorer_env([])["PATH"].split(":")[0].startswith("/")


@pytest.fixture
def empty_ld_entry_image(images, docker_ready):
    """sum_env's image with `ENV LD_LIBRARY_PATH=/x:`: its empty entry names the working directory."""
    tag = "rearena/test-empty-ld-entry:latest"
    recipe = f"FROM {images['sum_env']}\nENV LD_LIBRARY_PATH=/x:\n".encode()
    docker_ready.images.build(fileobj=io.BytesIO(recipe), tag=tag, rm=True, pull=False)
    yield tag
    try:
        docker_ready.images.remove(tag, force=True)
    except Exception:
        pass


def test_a_library_planted_in_the_candidates_folder_is_not_loaded_by_the_scorer(
        small_registry, empty_ld_entry_image, tmp_path, monkeypatch):
    env = small_registry.get("sum_env")
    folder = _starting_copy(env, tmp_path)
    # python3 links libz.so.1; the loader refuses a file this short outright, so the scorer dies if it looks here
    (folder / "libz.so.1").write_bytes(b"not a library")
    (folder / "libm.so.6").write_bytes(b"not a library")
    execs = []
    real_run_exec = docker_runner.run_exec

    def spy(api, container_id, argv, **kwargs):
        execs.append((argv, kwargs.get("workdir"), kwargs.get("env")))
        return real_run_exec(api, container_id, argv, **kwargs)

    monkeypatch.setattr(docker_runner, "run_exec", spy)
    result = score_in_container(env, "tiny", folder, timeout_s=TIMEOUT, image=empty_ld_entry_image)
    assert result.valid, (result.reason, result.message, result.details.get("scorer_output"))
    assert execs
    for argv, workdir, exec_env in execs:
        assert argv[0].startswith("/") and workdir and workdir != CANDIDATE_DIR
        assert exec_env["LD_LIBRARY_PATH"] == "/x"
        assert all(entry.startswith("/") for entry in exec_env["PATH"].split(":"))


def _hanging_candidate(tmp_path: Path):
    """(a sum_env candidate whose calls hang, the docker client, the ids of the containers there now)."""
    import docker

    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text("import time\n\ndef total(values):\n    time.sleep(600)\n")
    client = docker.from_env()
    return folder, client, {c.id for c in client.containers.list(all=True)}


def _new_container(client, before: set[str], wait_s: float = 60.0):
    """The first running container not in `before` (the scoring's), once there; None after wait_s."""
    import time

    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        new = [c for c in client.containers.list() if c.id not in before]
        if new:
            return new[0]
        time.sleep(0.1)
    return None


def test_a_stopped_scoring_in_a_container_ends_at_once_and_leaves_no_container(small_registry, images, tmp_path):
    """The console's quit (scoring.stopping.stop_all) stops a scoring in its container: ScoringStopped within
    a few seconds, not at the scoring's timeout, and the scoring container is gone."""
    import threading
    import time

    from scoring import stopping

    env = small_registry.get("sum_env")
    folder, client, before = _hanging_candidate(tmp_path)
    outcome: dict = {}

    def score() -> None:
        with stopping.stoppable():
            try:
                outcome["result"] = score_in_container(env, "tiny", folder, timeout_s=60)
            except stopping.ScoringStopped as exc:
                outcome["stopped"] = exc

    worker = threading.Thread(target=score)
    worker.start()
    _new_container(client, before)
    time.sleep(3)  # into the scoring: the candidate is called
    asked = time.monotonic()
    assert stopping.stop_all() == 1
    worker.join(20)
    took = time.monotonic() - asked
    assert not worker.is_alive()
    assert "stopped" in outcome, outcome
    assert took < 10, took
    assert not {c.id for c in client.containers.list(all=True)} - before


@pytest.mark.parametrize("delay_s", [2.0, 3.0, 4.0])
def test_a_scoring_container_killed_from_outside_is_a_sandbox_error_not_a_forged_result(
        small_registry, images, tmp_path, delay_s):
    """`docker kill` of the scoring container mid-run (an operator, the daemon): the runner read what dockerd
    wrote into its last exec's output as the result and called it forged, accusing the participant. It is
    the sandbox's failure, and says so."""
    import threading
    import time

    env = small_registry.get("sum_env")
    folder, client, before = _hanging_candidate(tmp_path)

    def kill_the_new_one() -> None:
        new = _new_container(client, before)
        if new is not None:
            time.sleep(delay_s)  # into the scoring, at a few moments
            new.kill()

    killer = threading.Thread(target=kill_the_new_one)
    killer.start()
    result = score_in_container(env, "tiny", folder, timeout_s=60)
    killer.join()
    assert (result.valid, result.reason) == (False, "sandbox_error"), (result.reason, result.message)
    # (a kill that lands between the runner's last look and its read of the result shows as a failed read)
    assert any(words in result.message for words in ("stopped from outside the scoring", "container is gone",
                                                     "result could not be read")), result.message
    assert not {c.id for c in client.containers.list(all=True)} - before
