"""Stopping docker work that used to run to its end, against a real daemon: an image build (a scoring that has to
build its environment's image first, stopped by the console's quit), a copy of files into a container, and a
command of the docker sandbox given a `stop` event (an agent's run stopping)."""

from __future__ import annotations

import io
import shutil
import tarfile
import threading
import time

import pytest

from scoring import containers
from scoring.container_exec import ContainerError, put_folder
from testpaths import TEST_ENV_ROOT

pytestmark = pytest.mark.slow

SLOW_DOCKERFILE = containers.DEFAULT_DOCKERFILE + "RUN echo building && sleep 30\n"


@pytest.fixture
def slow_env(tmp_path, docker_ready):
    """A copy of sum_env named docker_stop_env whose image takes 30 s to build; its image removed after."""
    from environments.registry import load_registry

    folder = tmp_path / "envs" / "docker_stop_env"
    shutil.copytree(TEST_ENV_ROOT / "sum_env", folder, ignore=shutil.ignore_patterns("__pycache__", "Dockerfile"))
    manifest = folder / "environment.toml"
    manifest.write_text(manifest.read_text().replace('name = "sum_env"', 'name = "docker_stop_env"'))
    (folder / "Dockerfile").write_text(SLOW_DOCKERFILE)
    env = load_registry([folder.parent]).get("docker_stop_env")
    yield env
    try:
        docker_ready.images.remove(containers.image_name(env), force=True)
    except Exception:
        pass


def test_a_scoring_stopped_while_its_image_builds_ends_at_once_and_leaves_nothing(slow_env, docker_ready, tmp_path):
    """A review: the build ran to its end (minutes, for an image with packages) whatever the console's quit said."""
    from environments.registry import materialize_candidate
    from scoring import stopping
    from scoring.docker_runner import score_in_container

    folder = tmp_path / "candidate"
    folder.mkdir()
    materialize_candidate(slow_env, "tiny", folder)
    before = {c.id for c in docker_ready.containers.list(all=True)}
    outcome: dict = {}

    def score() -> None:
        with stopping.stoppable():
            try:
                outcome["result"] = score_in_container(slow_env, "tiny", folder, timeout_s=60)
            except stopping.ScoringStopped as exc:
                outcome["stopped"] = exc

    worker = threading.Thread(target=score)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not {c.id for c in docker_ready.containers.list()} - before:
        time.sleep(0.1)  # until the build's RUN step runs (in a container of its own)
    assert {c.id for c in docker_ready.containers.list()} - before, "the build's step never started"
    asked = time.monotonic()
    assert stopping.stop_all() == 1
    worker.join(40)
    took = time.monotonic() - asked
    assert not worker.is_alive()
    assert "stopped" in outcome, outcome
    assert took < 10, took
    time.sleep(1)  # dockerd removes the step's container as it cancels the build
    assert not {c.id for c in docker_ready.containers.list(all=True)} - before
    with pytest.raises(Exception, match="No such image"):
        docker_ready.images.get(containers.image_name(slow_env))


class _Zeros(io.RawIOBase):
    """A tar archive of one file of `size` zero bytes, made as it is read; `stop` is set after `stop_after` bytes."""

    def __init__(self, size: int, stop: threading.Event, stop_after: int):
        info = tarfile.TarInfo("big.bin")
        info.size = size
        self.head, self.left, self.sent = info.tobuf(format=tarfile.PAX_FORMAT), size + 1024, 0
        self.stop, self.stop_after = stop, stop_after

    def read(self, n: int = -1) -> bytes:
        if self.sent >= self.stop_after:
            self.stop.set()
        if self.head:
            chunk, self.head = self.head, b""
        else:
            chunk = bytes(min(n if n > 0 else 1 << 20, self.left))
            self.left -= len(chunk)
        self.sent += len(chunk)
        return chunk


def test_a_stopped_copy_into_a_container_ends_at_once_and_leaves_no_tar(docker_trial):
    _, sandbox = docker_trial
    stop = threading.Event()
    archive = _Zeros(100 << 20, stop, stop_after=8 << 20)
    started = time.monotonic()
    with pytest.raises(ContainerError, match="copying files into /tmp/in was stopped before it finished"):
        put_folder(sandbox.api, sandbox.container.id, archive, "/tmp/in", user="participant", stop=stop.is_set)
    assert time.monotonic() - started < 10
    assert archive.sent < 100 << 20  # the rest was never read
    ps = sandbox.container.exec_run(["ps", "-eo", "args"], user="root").output.decode()
    assert "tar -x" not in ps, ps
    size = sandbox.exec("stat -c %s /tmp/in/big.bin 2>/dev/null || echo 0", timeout=30).output
    assert int(size) < 100 << 20


def test_a_command_of_the_docker_sandbox_stops_when_its_stop_is_set(docker_trial):
    """Sandbox.exec's `stop` (an agent's run stopping) was ignored by the docker sandbox: the command ran on."""
    _, sandbox = docker_trial
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    result = sandbox.exec("echo begun; sleep 60; echo never", timeout=30, stop=stop)
    assert result.duration_s < 10, result
    assert result.exit_code == -9 and "begun" in result.output and "never" not in result.output
    assert "the command was stopped before it finished" in result.output
    assert sandbox.exec("ps -eo args | grep -c '[s]leep 60'", timeout=30).output == "0\n"
    assert sandbox.exec("echo next", timeout=30).output == "next\n"  # the sandbox goes on
