"""The new agent form keeps what was typed: a problem it can see (no API key, a bad budget) is told in the form's
terms and the form stays open to be corrected; what was typed is there again when it is reopened (it closed
on the error, every field reset, and the message named a CLI flag, --api-key-env)."""

from __future__ import annotations

from textual.widgets import Input

from console.ui.screens.new_agent import NewAgentScreen


def told(app) -> list[str]:
    return [n.message for n in app._notifications]


async def open_form(app, pilot) -> NewAgentScreen:
    await pilot.press("g")
    await pilot.pause()
    assert isinstance(app.screen, NewAgentScreen)
    return app.screen


async def fill(app, pilot, **values: str) -> NewAgentScreen:
    form = await open_form(app, pilot)
    form.query_one("#environment").value = "sum_env"
    await pilot.pause()
    for field, value in values.items():
        form.query_one(f"#{field}", Input).value = value
    return form


def values(form) -> dict[str, str]:
    return {field: form.query_one(f"#{field}", Input).value for field in ("model", "base_url", "api_key_env",
                                                                          "budget", "runs")}


TYPED = {"model": "my-model", "base_url": "http://192.0.2.1:9/v1", "api_key_env": "REARENA_TEST_KEY",
         "budget": "30m", "runs": "3"}


async def test_missing_api_key_keeps_the_form_open_and_says_what_to_do_in_it(make_app, sqlite_store, monkeypatch):
    monkeypatch.delenv("REARENA_TEST_KEY", raising=False)
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        form = await fill(app, pilot, **TYPED)
        await pilot.click("#start")
        await pilot.pause()
        assert app.screen is form  # still open, nothing typed lost
        assert values(form) == TYPED
        message = next(m for m in told(app) if "No API key" in m)
        assert "REARENA_TEST_KEY is not set" in message
        assert "Environment variable holding the API key" in message  # the form's field, by its label
        assert "--api-key-env" not in message  # not a command-line flag the form has no place for
        assert form.focused is form.query_one("#api_key_env", Input)
        assert sqlite_store.trials() == [] and app.agent_handles == {}


async def test_a_budget_it_cannot_read_keeps_the_form_open_on_the_budget(make_app, monkeypatch):
    monkeypatch.setenv("REARENA_TEST_KEY", "secret")
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        form = await fill(app, pilot, **{**TYPED, "budget": "two hours"})
        await pilot.click("#start")
        await pilot.pause()
        assert app.screen is form
        assert any(m.startswith("Budget: cannot read duration 'two hours'") for m in told(app)), told(app)
        assert form.focused is form.query_one("#budget", Input)


async def test_what_was_typed_is_there_again_when_the_form_is_reopened(make_app, monkeypatch):
    monkeypatch.delenv("REARENA_TEST_KEY", raising=False)
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await fill(app, pilot, **TYPED)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, NewAgentScreen)
        form = await open_form(app, pilot)
        assert values(form) == TYPED


async def test_a_key_typed_where_its_variable_goes_is_never_shown_or_kept(make_app, monkeypatch):
    key = "sk-proj-abcdef0123456789"
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        form = await fill(app, pilot, **{**TYPED, "api_key_env": key})
        await pilot.click("#start")
        await pilot.pause()
        assert app.screen is form
        assert not any(key in m for m in told(app)), told(app)
        assert any("name of an environment variable" in m for m in told(app))
        assert form.query_one("#api_key_env", Input).value == ""
        form.query_one("#api_key_env", Input).value = key  # typed again, then the form is left
        await pilot.press("escape")
        await pilot.pause()
        assert key not in str(app.agent_form)
        form = await open_form(app, pilot)
        assert form.query_one("#api_key_env", Input).value != key
