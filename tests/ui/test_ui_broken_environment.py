"""A trial whose environment no longer loads (its manifest broke, or its root is not given to this console)
never takes the console down: opening it says why and the console stays on the home screen, records intact."""

from __future__ import annotations

import shutil

import pytest
from conftest import fixed_result
from textual.widgets import DataTable

from console.trials.service import TrialService
from console.ui.app import RearenaApp
from console.ui.screens.home import HomeScreen
from console.ui.screens.trial import TrialScreen
from console.ui.state import remember_trial, trial_to_reopen
from environments.registry import load_registry
from testpaths import REPO, TEST_ENV_ROOT


@pytest.fixture
def env_root(tmp_path):
    """A root of its own holding a copy of sum_env, so that a test can break its manifest."""
    root = tmp_path / "envs"
    shutil.copytree(TEST_ENV_ROOT / "sum_env", root / "sum_env")
    return root


@pytest.fixture
def trial_id(sqlite_store, env_root, clock):
    """A started trial of sum_env with one recorded score, made while sum_env still loaded."""
    service = TrialService(sqlite_store, load_registry([env_root]), clock=clock)
    trial = service.create("sum_env:tiny", "ada", start=True)
    service.record(trial.id, fixed_result(-7.0))
    return trial.id


def break_manifest(env_root) -> None:
    with open(env_root / "sum_env" / "environment.toml", "a") as manifest:
        manifest.write("title = \n")


def make_app(store, roots, clock, **kwargs) -> RearenaApp:
    return RearenaApp(store, load_registry([REPO / "environments", *roots]), clock=clock, tick_seconds=3600, **kwargs)


def errors(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


def assert_home_with_records_kept(app, store, trial_id) -> None:
    assert app.is_running and app.return_code is None
    assert isinstance(app.screen, HomeScreen)
    trials = app.screen.query_one("#trials", DataTable)
    assert trials.row_count == 1 and trials.get_row_at(0)[0] == str(trial_id)
    # the recorded best score is still shown where the environment loads; where it does not, nothing says that
    # its scores may be shown while the trial runs (console.trials.hidden.scores_visible): "hidden"
    loads = store.trial(trial_id).environment in app.registry.environments
    assert trials.get_row_at(0)[4] == ("0.500" if loads else "hidden")
    assert [s.raw for s in store.submissions(trial_id)] == [-7.0]


async def open_with_enter(app, pilot) -> None:
    app.screen.query_one("#trials", DataTable).focus()
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    await pilot.pause()


async def test_enter_on_a_trial_whose_manifest_broke_says_why_and_stays_home(sqlite_store, env_root, trial_id, clock):
    break_manifest(env_root)
    app = make_app(sqlite_store, [env_root], clock)
    async with app.run_test(size=(140, 45)) as pilot:
        await open_with_enter(app, pilot)
        assert_home_with_records_kept(app, sqlite_store, trial_id)
        [message] = errors(app)
        assert message.startswith("environment 'sum_env' failed to load: ")
        assert str(env_root / "sum_env" / "environment.toml") in message and "invalid TOML" in message
        # the home screen keeps working: the leaderboard of a loaded environment, another key
        envs = app.screen.query_one("#environments", DataTable)
        names = [envs.get_row_at(i)[0] for i in range(envs.row_count)]
        envs.move_cursor(row=names.index("rolling_median"))
        await pilot.pause()
        assert "rolling_median" in str(app.screen.query_one("#leaderboard-title").render())
        await pilot.press("r")
        await pilot.pause()
        assert_home_with_records_kept(app, sqlite_store, trial_id)


async def test_enter_on_a_trial_whose_root_is_not_given_says_so(sqlite_store, trial_id, clock):
    app = make_app(sqlite_store, [], clock)  # sum_env's root is not in this console's registry
    async with app.run_test(size=(140, 45)) as pilot:
        await open_with_enter(app, pilot)
        assert_home_with_records_kept(app, sqlite_store, trial_id)
        [message] = errors(app)
        assert message.startswith("unknown environment 'sum_env'")
        assert "$REARENA_ENVIRONMENTS" in message


async def test_console_started_on_such_a_trial_opens_home_with_a_notice(sqlite_store, env_root, trial_id, clock):
    break_manifest(env_root)
    remember_trial(sqlite_store.data_dir, trial_id)  # the console reopens the terminal's last trial at start-up
    assert trial_to_reopen(sqlite_store) == trial_id
    app = make_app(sqlite_store, [env_root], clock, open_trial=trial_to_reopen(sqlite_store))
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert_home_with_records_kept(app, sqlite_store, trial_id)
        [message] = errors(app)
        assert message.startswith("environment 'sum_env' failed to load: ")


async def test_console_started_on_a_missing_trial_opens_home_with_a_notice(sqlite_store, env_root, trial_id, clock):
    app = make_app(sqlite_store, [env_root], clock, open_trial=trial_id + 41)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        assert_home_with_records_kept(app, sqlite_store, trial_id)
        assert errors(app) == [f"no trial {trial_id + 41}."]


async def test_trial_screen_pushed_directly_goes_back_with_a_notice(sqlite_store, env_root, trial_id, clock):
    break_manifest(env_root)
    app = make_app(sqlite_store, [env_root], clock)
    async with app.run_test(size=(140, 45)) as pilot:
        await app.push_screen(TrialScreen(trial_id))
        await pilot.pause()
        await pilot.pause()
        assert_home_with_records_kept(app, sqlite_store, trial_id)
        assert errors(app)[0].startswith("environment 'sum_env' failed to load: ")


async def test_a_trial_whose_environment_loads_still_opens(sqlite_store, env_root, trial_id, clock):
    app = make_app(sqlite_store, [env_root], clock)
    async with app.run_test(size=(140, 45)) as pilot:
        await open_with_enter(app, pilot)
        assert isinstance(app.screen, TrialScreen) and app.screen.trial_id == trial_id
        assert errors(app) == []
