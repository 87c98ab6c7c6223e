"""One side of the replay: which trial, the current event, and the workdir diff of the last snapshot change."""

from __future__ import annotations

import bisect

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from console.compare.describe import describe
from console.render import plain
from console.trials.clock import format_duration


class ReplaySide(Vertical):
    """Shows the item of one timeline at the replay's current time."""

    DEFAULT_CSS = """
    ReplaySide { width: 1fr; border: round $primary; padding: 0 1; }
    ReplaySide .who { text-style: bold; color: $accent; }
    ReplaySide .event-title { text-style: bold; }
    ReplaySide #event-box { height: 2fr; }
    ReplaySide #diff-box { height: 1fr; border-top: solid $primary-darken-2; }
    """

    def __init__(self, timeline, hidden: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.timeline = timeline
        self.hidden = hidden  # the trial's scores are hidden (console.trials.hidden): scorings show verdicts only
        self.index = -2  # nothing shown yet
        self._diffs: dict[int, str] = {}

    def compose(self) -> ComposeResult:
        trial = self.timeline.trial
        kind = self.timeline.participant.kind if self.timeline.participant else trial.participant_kind
        yield Static(plain(f"trial {trial.id} · {trial.participant} ({kind}) · {trial.environment}:{trial.variant}"),
                     classes="who")
        yield Static("", classes="position")
        with VerticalScroll(id="event-box"):
            yield Static("", classes="event-title")
            yield Static("", classes="event-body")
        with VerticalScroll(id="diff-box"):
            yield Static("", classes="diff")

    def show(self, index: int, axis: str) -> None:
        """Show the item at `index` (-1: before the trial's first event)."""
        if index == self.index:
            return
        self.index = index
        total = len(self.timeline)
        if index < 0:
            title, body, when = "not started yet", "", "-"
        else:
            title, body = describe(self.timeline[index], self.hidden)
            when = format_duration(self.timeline.time_of(index, axis))
        self.query_one(".position", Static).update(f"event {max(index + 1, 0)} of {total} · {axis} {when}")
        self.query_one(".event-title", Static).update(plain(title))
        self.query_one(".event-body", Static).update(plain(body))
        self.query_one(".diff", Static).update(self._diff_text(index))

    def _diff_text(self, index: int) -> Text:
        changes = self.timeline.snapshot_changes
        pos = bisect.bisect_right([i for i, _ in changes], index) - 1
        if pos < 0:
            return Text("workdir: no snapshot yet", style="dim")
        at, after = changes[pos]
        if at not in self._diffs:
            before = changes[pos - 1][1] if pos else None
            try:
                diffs = self.timeline.workdir_diff(before, after)
                text = "\n".join(f"{d.status}: {d.path}\n{d.diff}" for d in diffs) or "no file changed"
            except Exception as exc:  # a missing blob must not stop the replay
                text = f"diff unavailable: {exc}"
            self._diffs[at] = f"workdir change at event {at + 1}:\n{text}"
        return plain(self._diffs[at])  # the participant's files: their text, no terminal escapes
