"""`e` and `x` on the trial screen with an editor or shell that is not there: told what to set, the console not
suspended (Textual's suspend() never resumed the console after an exception: it froze for good while the
trial's clock ran), and the clock left as it was."""

from __future__ import annotations

import os

from console.ui.screens.trial import TrialScreen


def told(app) -> list[str]:
    return [n.message for n in app._notifications]


async def press_on_new_trial(app, pilot, key: str):
    trial = app.service.create("sum_env:tiny", "ada")  # not started: opening the editor or shell would start it
    app.show_trial(trial.id)
    await pilot.pause()
    await pilot.press(key)
    await pilot.pause()
    return trial


async def test_editor_that_does_not_exist_is_named_and_the_clock_does_not_start(make_app, sqlite_store,
                                                                                monkeypatch):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "/nonexistent/ed")
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = await press_on_new_trial(app, pilot, "e")
        assert isinstance(app.screen, TrialScreen)
        assert any("Editor not found: /nonexistent/ed; set $EDITOR" in m for m in told(app)), told(app)
        assert not any("SuspendNotSupported" in m for m in told(app)), told(app)  # it never tried to suspend
        assert sqlite_store.trial(trial.id).started_at is None


async def test_editor_named_with_arguments_and_not_installed_names_the_program(make_app, sqlite_store, monkeypatch):
    """EDITOR=nano where nano is absent; $VISUAL, when set, is the variable named."""
    monkeypatch.setenv("VISUAL", "rearena-no-such-editor --wait")
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = await press_on_new_trial(app, pilot, "e")
        assert any("Editor not found: rearena-no-such-editor; set $VISUAL" in m for m in told(app)), told(app)
        assert any(f"export REARENA_TRIAL={trial.id}" in m for m in told(app))  # and how to work without it
        assert sqlite_store.trial(trial.id).started_at is None


async def test_shell_without_bash_is_named_and_the_clock_does_not_start(make_app, sqlite_store, monkeypatch,
                                                                        tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # the sandbox puts only the venv's bin before it: no bash anywhere
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = await press_on_new_trial(app, pilot, "x")
        assert any("Shell not found: bash; install bash" in m for m in told(app)), told(app)
        assert sqlite_store.trial(trial.id).started_at is None


async def test_where_the_console_cannot_suspend_the_editor_is_not_opened_and_the_clock_does_not_start(
        make_app, sqlite_store, monkeypatch):
    """In a browser (rearena serve) or headless, the console cannot hand its terminal to a program: pressing `e`
    opens nothing, so it is not a first action (it used to start the clock and open nothing). A terminal's
    console does start the clock when the editor opens (tests/ui/test_ui_real_terminal.py)."""
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "true")
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = await press_on_new_trial(app, pilot, "e")
        assert any("cannot open here" in m and f"REARENA_TRIAL={trial.id}" in m for m in told(app)), told(app)
        assert sqlite_store.trial(trial.id).started_at is None


def test_program_problem_finds_what_subprocess_would_run(tmp_path):
    from console.ui.screens.trial_workdir import program_problem

    script = tmp_path / "ed.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    orphan = tmp_path / "orphan.sh"
    orphan.write_text("#!/nonexistent/interpreter\n")
    orphan.chmod(0o755)
    plain = tmp_path / "plain.txt"
    plain.write_text("not executable")
    env = {"PATH": os.defpath}
    assert program_problem(["sh", "-c", "true"], env, str(tmp_path)) is None
    assert program_problem([str(script)], env, "/") is None
    assert program_problem(["./ed.sh"], env, str(tmp_path)) is None  # relative to the workdir, as subprocess does
    assert program_problem(["./ed.sh"], env, "/") == "./ed.sh"
    assert program_problem([str(plain)], env, "/") == str(plain)  # not executable
    assert program_problem([str(orphan)], env, "/") == f"{orphan} (its interpreter /nonexistent/interpreter)"
    assert program_problem(["sh"], {"PATH": str(tmp_path)}, "/") == "sh"  # env's PATH, not this process's
