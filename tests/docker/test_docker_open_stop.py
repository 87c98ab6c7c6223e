"""Opening a trial's docker sandbox can be stopped, against a real daemon: get_sandbox had no `stop`, so an
agent's stop or the console's quit waited for the whole image build (minutes, for an image with packages)
and the copy of the workdir in; and a container whose filling failed was left running, to be used later as
it stood (half filled)."""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from console.sandbox import SandboxError, SandboxStopped, get_sandbox
from console.sandbox.docker_trials import find_container
from environments.model import Hardware
from scoring import containers, stopping
from testpaths import TEST_ENV_ROOT

pytestmark = pytest.mark.slow

ENV_NAME = "docker_open_stop_env"  # an image name of its own (test_docker_stop builds docker_stop_env)
STEP = "building-docker-open-stop"  # what the build's slow step echoes: its container is found by it


@pytest.fixture
def slow_env(tmp_path, docker_ready):
    """A copy of sum_env whose image takes 30 s to build (a RUN step that sleeps, never in the build cache); its
    image removed after, with the containers made from it and its untagged layers (the next build's cache)."""
    from environments.registry import load_registry

    folder = tmp_path / "envs" / ENV_NAME
    shutil.copytree(TEST_ENV_ROOT / "sum_env", folder, ignore=shutil.ignore_patterns("__pycache__", "Dockerfile"))
    manifest = folder / "environment.toml"
    manifest.write_text(manifest.read_text().replace('name = "sum_env"', f'name = "{ENV_NAME}"'))
    step = f"RUN echo {STEP}-{secrets.token_hex(4)} && sleep 30\n"  # a new step each time: never cached
    (folder / "Dockerfile").write_text(containers.DEFAULT_DOCKERFILE + step)
    env = load_registry([folder.parent]).get(ENV_NAME)
    yield env
    name = containers.image_name(env)
    for container in docker_ready.containers.list(all=True, filters={"ancestor": name}):
        containers.remove_container(container)  # else the image would only be untagged, its layers kept
    try:
        docker_ready.images.remove(name, force=True)
    except Exception:
        pass


@pytest.fixture
def docker_trial_record(docker_service):
    """A sum_env:tiny trial (made local, so nothing was provisioned) as the docker sandbox would see it."""
    trial = docker_service.create("sum_env:tiny", "ada", sandbox="local", start=True)
    return replace(trial, sandbox="docker"), docker_service.store.data_dir


def _ours(docker_ready, data_dir=None) -> list[str]:
    """This test's containers (other tests may run beside it): its build's step, and those of its data folder."""
    scope = containers.scope_of(data_dir) if data_dir is not None else None
    return [c.name for c in docker_ready.containers.list(all=True)
            if STEP in str(c.attrs.get("Args")) or (scope and c.labels.get("rearena.db") == scope)]


def _open_in_thread(trial, data_dir, env, **options) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def open_it() -> None:
        try:
            with stopping.stoppable():
                outcome["sandbox"] = get_sandbox(trial, data_dir, env=env, **options)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            outcome["error"] = exc

    worker = threading.Thread(target=open_it, daemon=True)
    worker.start()
    return worker, outcome


def _wait_for_the_build_step(docker_ready) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _ours(docker_ready):
        time.sleep(0.1)  # until the build's RUN step runs (in a container of its own)
    assert _ours(docker_ready), "the build's step never started"


@pytest.mark.parametrize("how", ["agent_stop", "console_quit"])
def test_a_stop_while_a_trial_containers_image_builds_ends_the_open_and_leaves_no_container(
        docker_trial_record, slow_env, docker_ready, how):
    """agent_stop: get_sandbox's `stop` (an agent's threading.Event); console_quit: scoring.stopping.stop_all()
    with no `stop` given. The old code built on for 30 s, then made and filled the container."""
    trial, data_dir = docker_trial_record
    stop = threading.Event()
    worker, outcome = _open_in_thread(trial, data_dir, slow_env, **({"stop": stop} if how == "agent_stop" else {}))
    _wait_for_the_build_step(docker_ready)
    asked = time.monotonic()
    if how == "agent_stop":
        stop.set()
    else:
        assert stopping.stop_all() >= 1
    worker.join(60)
    took = time.monotonic() - asked
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), SandboxStopped), outcome
    assert "was stopped before it finished" in str(outcome["error"])
    assert took < 10, took
    time.sleep(1)  # dockerd removes the step's container as it cancels the build
    assert find_container(trial, data_dir) is None
    assert not _ours(docker_ready, data_dir)
    with pytest.raises(Exception, match="No such image"):
        docker_ready.images.get(containers.image_name(slow_env))


def test_a_stop_while_the_workdir_is_copied_in_removes_the_half_filled_container(docker_trial_record, registry,
                                                                                 images):
    """The stop comes once the container exists (so during its filling); the container goes, and the next open
    makes a whole one from the host workdir."""
    trial, data_dir = docker_trial_record
    env = registry.get("sum_env")
    seen: list[bool] = []

    def stop() -> bool:  # stays set once the container has been made
        seen.append(bool(seen and seen[-1]) or find_container(trial, data_dir) is not None)
        return seen[-1]

    started = time.monotonic()
    with pytest.raises(SandboxStopped, match="copying files into /home/participant was stopped"):
        get_sandbox(trial, data_dir, env=env, stop=stop)
    assert time.monotonic() - started < 30
    assert True in seen and find_container(trial, data_dir) is None
    sandbox = get_sandbox(trial, data_dir, env=env)
    assert sandbox.exec("ls; test -e ~/.rearena/created && echo filled", timeout=30).output.split() == [
        "solution.py", "filled"]


def test_a_container_whose_filling_failed_is_not_left_to_be_used_half_filled(docker_trial_record, registry,
                                                                             images):
    """The workdir does not fit the container's disk: the copy in fails. The old code left the container
    running without its marker, and the next open used it as it stood (a part of the workdir: a snapshot
    would then have replaced the host workdir with it)."""
    trial, data_dir = docker_trial_record
    env = registry.get("sum_env")
    tiny = replace(env, hardware=Hardware(cpus=1, memory_gb=0.25, disk_gb=0.01, pids=96))  # a 10 MiB workdir disk
    workdir = Path(trial.workdir)
    (workdir / "big.bin").write_bytes(bytes(20 << 20))
    for _ in range(2):  # the second open must not find a half-filled container to use
        with pytest.raises(SandboxError, match="copying files into /home/participant failed"):
            get_sandbox(trial, data_dir, env=tiny)
        assert find_container(trial, data_dir) is None
    (workdir / "big.bin").unlink()
    sandbox = get_sandbox(trial, data_dir, env=tiny)
    assert sandbox.exec("ls", timeout=30).output.split() == ["solution.py"]


def test_a_docker_calibration_stopped_while_its_image_builds_ends_at_once(slow_env, docker_ready, tmp_path):
    """scoring.calibrate built the image without `stop`: the console's quit waited for the whole build."""
    from scoring.calibrate import calibrate

    reference = tmp_path / "reference_solutions" / ENV_NAME  # calibrate asks for one before anything else
    shutil.copytree(slow_env.path / "starting", reference)
    outcome: dict = {}

    def measure() -> None:
        with stopping.stoppable():
            try:
                outcome["result"] = calibrate(slow_env, "tiny", runs=1, sandbox="docker")
            except Exception as exc:  # noqa: BLE001 - the test looks at it
                outcome["error"] = exc

    worker = threading.Thread(target=measure, daemon=True)
    worker.start()
    _wait_for_the_build_step(docker_ready)
    asked = time.monotonic()
    assert stopping.stop_all() >= 1
    worker.join(60)
    took = time.monotonic() - asked
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), stopping.ScoringStopped), outcome  # as a stopped scoring: not stored
    assert took < 10, took
    with pytest.raises(Exception, match="No such image"):
        docker_ready.images.get(containers.image_name(slow_env))
