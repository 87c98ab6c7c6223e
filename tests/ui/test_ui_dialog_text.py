"""Dialogs show their whole question: it wraps in the dialog (a Label one line wide was cut off at its edge:
Submit's question ended at "ends", the quit question during a scoring at "it is n")."""

from __future__ import annotations

import pytest

from console.ui.app import quit_question
from console.ui.screens.dialogs import ConfirmScreen, PromptScreen
from console.ui.screens.trial import TrialScreen


def shown(app) -> str:
    """The dialog as drawn on the screen (inside its border and padding), its rows joined by spaces."""
    region = app.screen.query_one(".dialog").content_region
    strips = app.screen._compositor.render_strips()
    rows = [strips[y].crop(region.x, region.right).text.strip() for y in range(region.y, region.bottom)]
    return " ".join(row for row in rows if row)


@pytest.mark.parametrize("width", [80, 120])
async def test_submit_question_is_shown_to_its_last_word(make_app, width):
    app = make_app()
    async with app.run_test(size=(width, 30)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", start=True)
        app.show_trial(trial.id)
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = shown(app)
        assert "ends the trial." in text and "The final score is your best valid score." in text, text


@pytest.mark.parametrize("width", [80, 160])
async def test_quit_question_during_a_scoring_is_shown_whole(make_app, width):
    question = quit_question(scorings=1, agents=2)
    app = make_app()
    async with app.run_test(size=(width, 30)) as pilot:
        app.push_screen(ConfirmScreen(question, yes="Stop and quit"))
        await pilot.pause()
        text = shown(app)
        assert "it is not recorded (the clock's pause for it ends now)." in text, text
        assert "with its best score so far). Quit?" in text, text
        assert "Stop and quit" in text and "Cancel" in text  # the buttons stay under the text


async def test_a_long_prompt_is_shown_whole_above_its_input(make_app):
    question = ("Replay which two trials side by side? Give their ids, e.g. 3 7; both must be trials of the same "
                "environment, and the first is shown on the left.")
    app = make_app()
    async with app.run_test(size=(80, 30)) as pilot:
        app.push_screen(PromptScreen(question))
        await pilot.pause()
        assert "the first is shown on the left." in shown(app), shown(app)
