"""`rearena trial list` and `rearena trial status` only read: they do not ask the docker daemon for containers
left behind (a ping each time, slow, and a daemon needed), while the commands that make, score or end trials do.
The daemon here is a real unix socket that counts who connects (DOCKER_HOST points at it) and hangs up."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from testpaths import REPO, TEST_ENV_ROOT


@pytest.fixture
def docker_socket():
    """A listening unix socket (short path: sun_path holds 108 bytes) and the count of connections made to it."""
    folder = Path(tempfile.mkdtemp(prefix="rd", dir="/tmp"))
    path = folder / "docker.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(16)
    connections = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            connections.append(1)
            conn.close()  # no answer: the client's ping fails at once

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    yield f"unix://{path}", connections
    server.close()
    worker.join(timeout=5)
    shutil.rmtree(folder, ignore_errors=True)


def rearena(tmp_path, docker_host, *args):
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT),
               DOCKER_HOST=docker_host)
    env.pop("REARENA_TRIAL", None)
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_list_and_status_do_not_ask_docker_and_start_score_end_do(tmp_path, docker_socket):
    host, connections = docker_socket
    out = rearena(tmp_path, host, "trial", "start", "sum_env:tiny", "--participant", "ada")
    assert out.returncode == 0, out.stderr
    assert connections, "creating a trial cleans up the containers left behind"
    trial = out.stdout.split()[1].rstrip(":")
    connections.clear()
    for args in (["list"], ["list", "--json"], ["status", trial], ["status", trial, "--json"]):
        out = rearena(tmp_path, host, "trial", *args)
        assert out.returncode == 0, (args, out.stderr)
        assert out.stderr == "" and "docker" not in out.stdout.lower(), args
    assert json.loads(out.stdout)["id"] == int(trial)
    assert connections == [], "list and status asked the docker daemon"
    for args in (["score", trial], ["end", trial]):
        connections.clear()
        assert rearena(tmp_path, host, "trial", *args).returncode == 0
        assert connections, args
