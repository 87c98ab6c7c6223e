"""`rearena agent ... --base-url URL` as the README shows it: a server on this machine that asks no key works with
OPENAI_API_KEY unset (the openai client is given the placeholder "none"); a variable named with --api-key-env must
be set, and elsewhere a missing key is a usage error that says how to give one, "none" included. Real processes and a real local HTTP server (the scripted model)."""

import os
import subprocess
import sys

from console.agents.scripted_server import ScriptedServer, call
from testpaths import REPO, TEST_ENV_ROOT


def rearena(tmp_path, *args):
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT))
    for key in ("REARENA_TRIAL", "REARENA_DB", "OPENAI_API_KEY"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_local_server_needs_no_key(tmp_path):
    with ScriptedServer(lambda: [call("score"), call("submit")]) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        out = rearena(tmp_path, "agent", "sum_env:tiny", "--model", "scripted", "--base-url", server.base_url,
                      "--budget", "30m")
    assert out.returncode == 0, out.stderr
    assert "submitted" in out.stdout and "no API key" not in out.stderr


def test_a_variable_named_on_purpose_must_be_set_even_for_a_local_server(tmp_path):
    out = rearena(tmp_path, "agent", "sum_env:tiny", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                  "--api-key-env", "REARENA_TEST_NO_SUCH_KEY")
    assert out.returncode == 2 and "REARENA_TEST_NO_SUCH_KEY" in out.stderr


def test_a_remote_server_without_a_key_says_how_to_give_one(tmp_path):
    out = rearena(tmp_path, "agent", "sum_env:tiny", "--model", "m", "--base-url", "https://models.example.invalid/v1")
    assert out.returncode == 2
    assert "no API key: set the environment variable OPENAI_API_KEY" in out.stderr
    assert "OPENAI_API_KEY=none" in out.stderr
