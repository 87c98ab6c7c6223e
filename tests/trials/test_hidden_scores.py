"""Where an environment hides its scores, a valid submission's message (which states the measurement)
is hidden from the participant too; an invalid one's message (what was wrong) is shown."""

from types import SimpleNamespace

from console.render import submissions_table
from console.trials.hidden import HIDDEN_MESSAGE, participant_message


def _sub(valid: bool, message: str):
    return SimpleNamespace(id=1, active_s=10.0, valid=valid, message=message, reason="" if valid else "over_budget",
                           raw=0.1 if valid else None, normalized=0.9 if valid else None, final=False, snapshot=None)


def test_a_valid_message_is_hidden_and_an_invalid_one_shown():
    assert participant_message(_sub(True, "loss 2.5031 (best 2.5031)"), visible=False) == HIDDEN_MESSAGE
    assert participant_message(_sub(True, "loss 2.5031"), visible=True) == "loss 2.5031"
    assert participant_message(_sub(False, "over the budget"), visible=False) == "over the budget"


def test_the_command_line_table_hides_it_too():
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(submissions_table([_sub(True, "loss 2.5031 (best 2.5031)")], visible=False))
    text = console.export_text()
    assert "2.5031" not in text and "hidden" in text
