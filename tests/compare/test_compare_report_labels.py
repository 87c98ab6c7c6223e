"""`rearena report` shows group labels (agents' model names: any text) exactly as written: rich's markup
escape doubled a trailing backslash, and an unescaped `[/red]` is a markup tag."""

from __future__ import annotations

import dataclasses
import io

import pytest
from compare_helpers import record_trial
from rich.console import Console

from console.cli import main
from console.compare.groups import load_groups
from console.compare.report import build_report, render_text

H = 3600.0
# each label shows in the final-scores table, the score@k table, the grid's header and the plot's legend
SHOWN = 4


def _render(report) -> str:
    out = io.StringIO()
    render_text(report, Console(file=out, width=400, color_system=None, force_terminal=False))
    return out.getvalue()


@pytest.mark.parametrize("label", ["agent\\", "[/red]", "[bold]x[/bold] \\[y] \\"])
def test_a_group_label_is_shown_exactly(cli_store, clock, label):
    record_trial(cli_store, clock, "bot", "agent", "m", scores=[(0.1 * H, 0.5)], budget=2 * H)
    groups, _ = load_groups(cli_store, "sum_env")
    groups = [dataclasses.replace(g, label=label) for g in groups]
    text = _render(build_report("sum_env", groups))
    assert text.count(label) == SHOWN, text
    assert label.replace("\\", "\\\\") not in text or "\\" not in label  # no backslash doubled


def test_a_model_name_with_markup_and_a_backslash_reaches_the_report_command_as_written(cli_env, cli_store, clock,
                                                                                        capsys):
    record_trial(cli_store, clock, "bot", "agent", "[/red]m\\", scores=[(0.1 * H, 0.5)], budget=2 * H)
    assert main(["report", "sum_env"]) == 0
    out = capsys.readouterr().out
    assert "[/red]m\\ [" in out and "m\\\\" not in out, out


def test_a_control_character_in_a_label_is_shown_escaped_not_sent_to_the_terminal(cli_store, clock):
    record_trial(cli_store, clock, "bot", "agent", "m", scores=[(0.1 * H, 0.5)], budget=2 * H)
    groups, _ = load_groups(cli_store, "sum_env")
    groups = [dataclasses.replace(g, label="agent\x1b]0;pwned\x07") for g in groups]
    text = _render(build_report("sum_env", groups))
    assert "\x1b" not in text and "\x07" not in text
    assert text.count("agent\\x1b]0;pwned\\x07") == SHOWN, text
