"""environments/agent_home.py runs its helpers by absolute path with clean search paths: as root, the
working directory is the agent's folder, and an empty or relative PATH entry names it, so an `unshare`,
`sh` or `mount` left there (or the command itself) would otherwise run in their place."""

from __future__ import annotations

import os
import sys

import pytest

from environments import agent_home
from environments.agent_home import agent_home_argv, isolation_available, run_with_agent_home
from scoring.confine import tool

HELPERS = ("unshare", "sh", "mount")
needs_isolation = pytest.mark.skipif(not isolation_available(),
                                     reason="needs root and unshare to bind-mount /home/agent")


def _plant(folder, names, markers):
    """Fake programs in `folder` that leave a marker in `markers` and then run the real one."""
    for name in names:
        fake = folder / name
        real = tool(name) if name in HELPERS else "/bin/true"
        fake.write_text(f"#!/bin/sh\ntouch {markers / name}\nexec {real} \"$@\"\n")
        fake.chmod(0o755)


@pytest.fixture
def hostile_path(monkeypatch):
    """PATH with an empty and a "." entry first, as a careless shell profile leaves it."""
    monkeypatch.setenv("PATH", ":.:" + os.environ.get("PATH", "/usr/bin:/bin"))


@pytest.fixture
def markers(tmp_path):
    folder = tmp_path / "markers"
    folder.mkdir()
    return folder


def test_the_wrapped_argv_names_its_helpers_by_absolute_path(tmp_path, hostile_path):
    argv, home = agent_home_argv(tmp_path / "home", [sys.executable, "-c", "pass"], isolated=True)
    assert os.path.isabs(argv[0]) and argv[0].endswith("/unshare")
    assert os.path.isabs(argv[4]) and argv[4].endswith("/sh")
    assert argv[6].startswith("/") and "/mount --bind" in argv[6], argv[6]
    assert home == "/home/agent"


@needs_isolation
def test_helpers_in_the_agents_folder_are_not_run(tmp_path, hostile_path, markers):
    dest = tmp_path / "home"
    dest.mkdir()
    _plant(dest, HELPERS, markers)
    argv = [sys.executable, "-c", "import os; print(os.getcwd())"]
    result = run_with_agent_home(dest, argv, timeout=30, isolate=True)
    assert result.returncode == 0 and result.isolated, result.stderr
    assert result.stdout.strip() == "/home/agent"
    assert sorted(p.name for p in markers.iterdir()) == [], "a helper in the agent's folder ran"


@pytest.mark.parametrize("isolate", [False, pytest.param(True, marks=needs_isolation)])
def test_a_command_named_by_a_relative_path_entry_is_not_found_in_the_agents_folder(tmp_path, hostile_path,
                                                                                   markers, isolate):
    dest = tmp_path / "home"
    dest.mkdir()
    _plant(dest, ["rearena-probe-command"], markers)
    result = run_with_agent_home(dest, ["rearena-probe-command"], timeout=30, isolate=isolate)
    assert result.returncode != 0
    assert not (markers / "rearena-probe-command").exists()


@needs_isolation
def test_the_isolation_probe_does_not_run_helpers_from_the_working_directory(tmp_path, monkeypatch, hostile_path,
                                                                            markers):
    _plant(tmp_path, HELPERS, markers)
    monkeypatch.chdir(tmp_path)
    agent_home.isolation_available.cache_clear()
    try:
        assert isolation_available()
    finally:
        agent_home.isolation_available.cache_clear()
    assert sorted(p.name for p in markers.iterdir()) == [], "a helper in the working directory ran"
