"""Fixtures shared by the test-suite: a movable clock, a store in a temp folder, the registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testpaths import REPO, TEST_ENV_ROOT


@pytest.fixture(autouse=True)
def _rearena_environment_restored():
    """An in-process CLI test makes its --db and --data-dir the process's own (console.cli sets REARENA_DB and
    REARENA_DATA_DIR for the scorer it starts): put rearena's variables back after each test, so that no
    later test, nor the subprocesses it starts, works on another test's database."""
    before = {key: value for key, value in os.environ.items() if key.startswith("REARENA_")}
    yield
    for key in [key for key in os.environ if key.startswith("REARENA_")]:
        if key not in before:
            del os.environ[key]
    os.environ.update(before)


class FakeClock:
    """A clock that tests move by hand: 8 hours pass in a millisecond."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_store(tmp_path):
    from console.store.db import open_store

    store = open_store(None, tmp_path / "data")
    yield store
    store.close()


@pytest.fixture
def registry():
    from environments.registry import load_registry

    return load_registry([REPO / "environments", TEST_ENV_ROOT])


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """Run `rearena ARGS...` in this process on a data folder of its own; (exit status, stdout, stderr)."""
    from console.cli import main

    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REARENA_ENVIRONMENTS", str(TEST_ENV_ROOT))
    monkeypatch.delenv("REARENA_DB", raising=False)
    monkeypatch.delenv("REARENA_TRIAL", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
