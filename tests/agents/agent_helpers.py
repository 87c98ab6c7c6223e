"""Helpers shared by the agent tests (a module of its own: every test folder has a conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from testpaths import REPO, TEST_ENV_ROOT

from console.agents.config import AgentConfig


def rearena(tmp_path, *args, env_extra=None) -> subprocess.CompletedProcess:
    """`rearena ARGS...` in a subprocess, on a data folder in tmp_path, with the test environments."""
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT))
    env.pop("REARENA_TRIAL", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def make_config(server, **kw) -> AgentConfig:
    """A configuration for the scripted server: fast backoff, a key given directly."""
    kw.setdefault("backoff_base_s", 0.001)
    kw.setdefault("request_timeout_s", 10.0)
    kw.setdefault("max_steps", 500)  # a broken service must not let a scripted agent loop forever
    return AgentConfig(model=kw.pop("model", "scripted-model"), base_url=server.base_url, api_key="test-key", **kw)


def kinds(store, trial_id, only=None):
    """The kinds of a trial's events, in order (optionally only some kinds)."""
    return [e.kind for e in store.events(trial_id) if only is None or e.kind in only]


def events_of(store, trial_id, kind):
    """A trial's events of one kind."""
    return store.events(trial_id, kinds=[kind])
