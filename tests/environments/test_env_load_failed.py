"""Looking up an environment that exists but failed to load says that it failed and why, not "unknown"."""

from __future__ import annotations

import shutil

import pytest

from environments.registry import EnvironmentLoadFailed, UnknownEnvironment, load_registry
from testpaths import TEST_ENV_ROOT


@pytest.fixture
def broken_root(tmp_path):
    """A root holding sum_env (loads) and later_env, a copy whose manifest broke (`title = ` appended)."""
    root = tmp_path / "envs"
    shutil.copytree(TEST_ENV_ROOT / "sum_env", root / "sum_env")
    shutil.copytree(TEST_ENV_ROOT / "sum_env", root / "later_env")
    manifest = root / "later_env" / "environment.toml"
    manifest.write_text(manifest.read_text().replace('name = "sum_env"', 'name = "later_env"') + "title = \n")
    return root


def test_get_names_the_load_problem(broken_root):
    registry = load_registry([broken_root])
    assert registry.names() == ["sum_env"]
    with pytest.raises(UnknownEnvironment) as info:  # callers' except clauses keep working
        registry.get("later_env")
    assert isinstance(info.value, EnvironmentLoadFailed) and isinstance(info.value, KeyError)
    message = str(info.value)
    assert message.startswith("environment 'later_env' failed to load: ")
    assert str(broken_root / "later_env" / "environment.toml") in message
    assert "unknown environment" not in message and "choices" not in message
    assert info.value.problems and all("later_env" in str(p.path) for p in info.value.problems)


def test_resolve_names_the_load_problem(broken_root):
    registry = load_registry([broken_root])
    with pytest.raises(EnvironmentLoadFailed, match="environment 'later_env' failed to load: .*environment.toml"):
        registry.resolve("later_env:tiny")
    assert registry.resolve("sum_env:tiny")[0].name == "sum_env"


def test_a_name_under_no_root_is_still_unknown(broken_root):
    registry = load_registry([broken_root])
    with pytest.raises(UnknownEnvironment) as info:
        registry.get("elsewhere_env")
    assert not isinstance(info.value, EnvironmentLoadFailed)
    assert str(info.value).startswith("unknown environment 'elsewhere_env'; ")
