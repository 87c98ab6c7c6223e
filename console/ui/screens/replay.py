"""Replay two trials side by side, aligned on active time (or wall time), with both score curves overlaid."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.trials.clock import format_duration, parse_duration
from console.ui.widgets.replay_plot import ReplayPlot
from console.ui.widgets.replay_side import ReplaySide

SPEEDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class ReplayScreen(Screen):
    """Two timelines played together: play/pause, speed 1×–1000×, step, jump, axis."""

    BINDINGS = [
        Binding("space", "toggle_play", "Play/Pause", id="replay.play"),
        Binding("plus,equals_sign", "faster", "Faster", id="replay.faster"),
        Binding("minus", "slower", "Slower", id="replay.slower"),
        Binding("right", "next_event", "Next event", id="replay.next"),
        Binding("left", "prev_event", "Previous event", id="replay.prev"),
        Binding("full_stop", "next_submission", "Next submission", id="replay.next_sub"),
        Binding("comma", "prev_submission", "Previous submission", id="replay.prev_sub"),
        Binding("j", "jump", "Jump to time", id="replay.jump"),
        Binding("a", "toggle_axis", "Active/wall time", id="replay.axis"),
        Binding("escape", "app.pop_screen", "Back", id="replay.back"),
    ]

    def __init__(self, timelines, axis: str = "active", frame_seconds: float = 0.1):
        super().__init__()
        self.timelines = list(timelines)
        self.axis = axis
        self.t = 0.0
        self.speed = 10
        self.playing = False
        self.frame_seconds = frame_seconds
        self._last_frame = time.monotonic()
        self.hidden: list[bool] = [False] * len(self.timelines)

    def compose(self) -> ComposeResult:
        from console.trials.hidden import hidden_why, inside_trial, scores_visible

        # a trial whose scores console.trials.hidden hides (running, of an environment that hides scores): its
        # best so far reads "hidden", its curve is not drawn and its scorings show their verdicts only
        self.hidden = [hidden_why(tl.trial, scores_visible(self.app.registry, tl.trial.environment),
                                  inside_trial()) is not None for tl in self.timelines]  # fmt: skip
        yield Header(icon="≡")
        yield Static("", id="replay-status")
        with Horizontal(id="replay-sides"):
            for i, timeline in enumerate(self.timelines):
                yield ReplaySide(timeline, self.hidden[i], id=f"side-{i}")
        yield ReplayPlot(self._curves(), self.duration, self.axis, id="replay-plot")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = " vs ".join(f"trial {tl.trial.id} ({tl.trial.participant})" for tl in self.timelines)
        self.set_interval(self.frame_seconds, self._frame)
        self.seek(0.0)

    # -- state ---------------------------------------------------------------------------

    @property
    def duration(self) -> float:
        """The longer of the two trials on the current axis."""
        return max(tl.duration(self.axis) for tl in self.timelines)

    def _curves(self):
        return [(f"{tl.trial.id} {tl.trial.participant}" + (" (hidden)" if hidden else ""),
                 [] if hidden else tl.score_curve(self.axis)) for tl, hidden in zip(self.timelines, self.hidden)]

    def seek(self, t: float) -> None:
        """Move both sides to time t on the current axis and redraw."""
        self.t = min(max(0.0, t), self.duration)
        for i, timeline in enumerate(self.timelines):
            self.query_one(f"#side-{i}", ReplaySide).show(timeline.seek(self.t, self.axis), self.axis)
        self.query_one(ReplayPlot).move_cursor(self.t)
        best = " · ".join("hidden" if hidden else self._best(tl) for tl, hidden in zip(self.timelines, self.hidden))
        state = "▶ playing" if self.playing else "⏸ paused"
        self.query_one("#replay-status", Static).update(
            f"{state} · {self.speed}× · {self.axis} {format_duration(self.t)} of {format_duration(self.duration)}"
            f" · best so far: {best}")

    def _best(self, timeline) -> str:
        best = timeline.best_so_far_at(self.t, self.axis)
        return "-" if best is None else f"{best:.3f}"

    def advance(self, real_seconds: float) -> None:
        """Play forward by real_seconds at the current speed (tests call this directly)."""
        self.seek(self.t + real_seconds * self.speed)
        if self.t >= self.duration:
            self.playing = False

    def _frame(self) -> None:
        now = time.monotonic()
        elapsed, self._last_frame = now - self._last_frame, now
        if self.playing:
            self.advance(elapsed)

    # -- actions -------------------------------------------------------------------------

    def action_toggle_play(self) -> None:
        """Play or pause."""
        self.playing = not self.playing
        self._last_frame = time.monotonic()
        self.seek(self.t)

    def action_faster(self) -> None:
        """Next speed up (up to 1000×)."""
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])
        self.seek(self.t)

    def action_slower(self) -> None:
        """Next speed down (down to 1×)."""
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])
        self.seek(self.t)

    def _step(self, pick, forward: bool) -> None:
        """Move to the nearest time, on either side, of the item that `pick(timeline, index)` names."""
        times = []
        for timeline in self.timelines:
            # forward: from the last item at or before t; backward: from the last item strictly before t
            index = timeline.seek(self.t if forward else self.t - 1e-6, self.axis)
            target = pick(timeline, index)
            if target is not None and target >= 0:
                times.append(timeline.time_of(target, self.axis))
        if forward:
            later = [t for t in times if t > self.t]
            if later:
                self.seek(min(later))
        else:
            self.seek(max(times) if times else 0.0)

    def action_next_event(self) -> None:
        """The next event on either side."""
        self._step(lambda tl, i: tl.next_event(i), forward=True)

    def action_prev_event(self) -> None:
        """The previous event on either side."""
        self._step(lambda tl, i: i, forward=False)

    def action_next_submission(self) -> None:
        """The next submission on either side."""
        self._step(lambda tl, i: tl.next_submission(i), forward=True)

    def action_prev_submission(self) -> None:
        """The previous submission on either side."""
        self._step(lambda tl, i: tl.prev_submission(i + 1), forward=False)

    def action_toggle_axis(self) -> None:
        """Align on active time or on wall time."""
        self.axis = "wall" if self.axis == "active" else "active"
        plot = self.query_one(ReplayPlot)
        plot.axis, plot.curves, plot.duration_s = self.axis, self._curves(), max(self.duration, 1.0)
        for side in self.query(ReplaySide):
            side.index = -2
        self.seek(self.t)

    def action_jump(self) -> None:
        """Jump to a time typed as 1h30m, 90m or seconds."""
        from console.ui.screens.dialogs import PromptScreen

        def done(text: str | None) -> None:
            if not text:
                return
            try:
                self.seek(parse_duration(text))
            except ValueError as exc:
                self.notify(str(exc), severity="error", markup=False)

        self.app.push_screen(PromptScreen(f"Jump to which {self.axis} time? (e.g. 1h30m, 90m, 45s)"), done)
