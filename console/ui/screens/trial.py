"""Trial screen: instructions, the clock, Score now, Submit, Pause/Resume, Note, submissions and the plot."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.store.records import PauseRecord
from console.trials.clock import active_seconds
from console.trials.open_check import why_trial_cannot_open
from console.ui.messages import TrialChanged
from console.ui.screens.trial_workdir import TrialWorkdir
from console.ui.screens.trial_writes import TrialWrites
from console.ui.widgets.clock import TrialClock
from console.ui.widgets.score_plot import ScorePlot
from console.ui.widgets.submissions import SubmissionsTable
from console.ui.widgets.trial_banner import TrialBanner
from console.ui.write_errors import WRITE_ERRORS, write_problem


class TrialScreen(TrialWrites, TrialWorkdir, Screen):
    """One trial, for the participant who spends hours in it. What it shows and scoring are here; the writes
    (start, pause, resume, note) are in TrialWrites, the shell, editor and snapshots in TrialWorkdir."""

    BINDINGS = [
        Binding("s", "score", "Score now", id="trial.score"),
        Binding("u", "submit", "Submit", id="trial.submit"),
        Binding("p", "pause", "Pause", id="trial.pause"),
        Binding("r", "resume", "Resume", id="trial.resume"),
        Binding("n", "note", "Note", id="trial.note"),
        Binding("t", "start", "Start clock", id="trial.start"),
        Binding("x", "shell", "Shell", id="trial.shell"),
        Binding("e", "editor", "Editor", id="trial.editor"),
        Binding("k", "stop_agent", "Stop agent", id="trial.stop_agent"),
        Binding("b", "rubric", "Rubric", id="trial.rubric"),
        Binding("escape", "back", "Home", id="trial.back"),
    ]

    def __init__(self, trial_id: int):
        super().__init__()
        self.trial_id = trial_id
        self._last_event = 0
        self._pauses = []
        self._status = None
        self._writing: str | None = None  # the write (pause, note...) a worker is making now
        self._told: str | None = None  # the last problem reading the trial, told once
        self._snapshot_problem: str | None = None  # the last snapshot failure, told once

    @property
    def scoring(self) -> bool:
        """Whether this console is scoring the trial (asked here, or on an earlier screen of it since closed)."""
        return self.trial_id in self.app.scorings

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        trial = self.app.store.trial(self.trial_id)
        self.is_agent = trial.participant_kind == "agent"
        with Horizontal():
            if self.is_agent:
                from console.ui.widgets.conversation import Conversation

                yield Conversation(id="conversation")
            with VerticalScroll(id="instructions-box"):
                yield Static("", id="instructions")
            with Vertical(id="trial-side"):
                yield TrialClock(id="clock")
                yield TrialBanner("", id="banner")
                yield ScorePlot(id="plot")
                yield SubmissionsTable(id="submissions")
        yield Footer()

    def on_mount(self) -> None:
        from environments.registry import instructions_for

        problem = why_trial_cannot_open(self.app.store, self.app.registry, self.trial_id)
        if problem is not None:  # show_trial checks first; this screen must not take the console down either
            self.notify(problem, title=f"Cannot open trial {self.trial_id}", severity="error", markup=False,
                        timeout=30)
            self.dismiss()
            return
        trial = self.app.store.trial(self.trial_id)
        self.env = self.app.registry.get(trial.environment)
        self.sub_title = f"trial {trial.id} · {trial.environment}:{trial.variant} · {trial.participant}"
        try:
            text = instructions_for(self.env, trial.variant)
        except Exception as exc:  # a broken task family must not take the console down
            text = f"*Could not load the instructions:* {exc}"
        from rich.markdown import Markdown  # one widget for the whole text: fast to open

        self.query_one("#instructions", Static).update(Markdown(text))
        if self.is_agent:
            from console.ui.widgets.conversation import Conversation

            self.query_one("#instructions-box").display = False
            recent = self.app.store.events(self.trial_id)[-300:]
            self.query_one(Conversation).add_events(recent)
        self.reload()
        self.watch(self.app, "now", self._tick)
        self.set_interval(1.0, self.poll)
        self.set_interval(self.app.snapshot_every_s, self._periodic_snapshot)

    # -- showing state -------------------------------------------------------------------

    def reload(self) -> None:
        """Read the trial, its pauses and submissions from the store and redraw everything."""
        store = self.app.store
        try:
            status = self.app.service.status(self.trial_id)  # may write: a trial past its budget is ended
            pauses = store.pauses(self.trial_id)
            last_event = store.last_event_id(self.trial_id)
            subs = store.submissions(self.trial_id)
        except WRITE_ERRORS as exc:  # keep what is shown; say so once
            problem = write_problem(exc)
            if problem != self._told:
                self._told = problem
                self.notify(f"Cannot read trial {self.trial_id}: {problem}. What is shown may be out of date.",
                            title="Trial not refreshed", severity="error", markup=False, timeout=15)
            return
        self._told = None
        self._status, self._pauses = self._paused_while_scoring(status, pauses)
        self._last_event = last_event
        trial = self._status.trial
        visible = self.env.scores_visible
        self.query_one(SubmissionsTable).set_submissions(subs, visible)
        self.query_one(ScorePlot).set_submissions(subs if visible else [], trial.budget_s)
        self.query_one(TrialClock).show(self._status)
        self.query_one(TrialBanner).show(self._status, self.app.scorings.get(self.trial_id), visible)

    def _paused_while_scoring(self, status, pauses: list[PauseRecord]):
        """The trial as the participant must see it while this console scores it: paused (reason scoring) from
        the moment the scoring was asked for, before the worker has opened the pause in the store and after it
        has closed it, until its result is shown (else the digits climbed, then jumped back)."""
        from dataclasses import replace

        asked = self.app.scorings.get(self.trial_id)
        trial = status.trial
        if asked is None or trial.status == "ended" or status.pause is not None:
            return status, pauses
        since = max([asked.at, *(p.ended_at for p in pauses if p.ended_at is not None)])
        pause = PauseRecord(id=0, trial_id=self.trial_id, reason="scoring", started_at=since, ended_at=None)
        pauses = [*pauses, pause]
        active = active_seconds(trial.started_at, trial.ended_at, pauses, status.now)
        return replace(status, pause=pause, active_s=active, remaining_s=max(0.0, trial.budget_s - active)), pauses

    def _tick(self, now: float) -> None:
        """Recompute the clock from stored timestamps (no database round trip)."""
        status = self._status
        if status is None:
            return
        trial = status.trial
        active = active_seconds(trial.started_at, trial.ended_at, self._pauses, now)
        over_backstop = trial.started_at is not None and now - trial.started_at >= trial.wall_backstop_s
        if trial.status != "ended" and (active >= trial.budget_s or over_backstop):
            self.reload()  # the service ends the trial
            return
        from dataclasses import replace

        wall = 0.0 if trial.started_at is None else (trial.ended_at or now) - trial.started_at
        self._status = replace(status, now=now, active_s=active, remaining_s=max(0.0, trial.budget_s - active),
                               wall_s=wall, backstop_remaining_s=max(0.0, trial.wall_backstop_s - wall))
        self.query_one(TrialClock).show(self._status)

    def poll(self) -> None:
        """Pick up what other processes did (`rearena task ...` in the sandbox shell, another console)."""
        self._ingest_commands()
        try:
            new = self.app.store.events(self.trial_id, after_id=self._last_event, limit=2000)
        except WRITE_ERRORS as exc:  # e.g. a data folder remounted read-only: try again at the next poll
            self.log.warning(f"poll: {exc}")
            return
        if new:
            if self.is_agent:
                from console.ui.widgets.conversation import Conversation

                self.query_one(Conversation).add_events(new)
            self.reload()

    def _ingest_commands(self) -> None:
        from console.trials.commands import ingest_commands

        try:
            ingest_commands(self.app.service, self.trial_id)
        except Exception as exc:  # a broken log must not stop the console
            self.log.warning(f"command log: {exc}")

    @on(TrialChanged)
    def _changed(self, message: TrialChanged) -> None:
        if message.trial_id == self.trial_id:
            self.reload()

    # -- actions -------------------------------------------------------------------------

    def action_score(self) -> None:
        """Score the workdir now, in a worker; the result lands in the table and the plot."""
        if self.scoring:
            self.notify(f"Trial {self.trial_id} is being scored already: wait for its result.", severity="warning")
            return
        if self._status.trial.status == "ended":
            self.notify("The trial has ended: scoring is closed.", severity="error")
            return
        self.app.score_trial(self.trial_id, final=False, scores_visible=self.env.scores_visible)
        self.reload()

    def action_submit(self) -> None:
        """Ask for confirmation, then score a last time and end the trial."""
        from console.ui.screens.dialogs import ConfirmScreen

        if self._status.trial.status == "ended":
            self.notify("The trial has already ended.", severity="error")
            return
        if self.scoring:
            self.notify("A scoring of this trial is under way: submit once its result is in.",
                        title="Cannot submit yet", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if not yes:
                return
            if not self.app.score_trial(self.trial_id, final=True, scores_visible=self.env.scores_visible):
                self.notify("A scoring of this trial started meanwhile: nothing was submitted. Submit once its "
                            "result is in.", title="Not submitted", severity="warning", timeout=15)
                return
            self.reload()

        self.app.push_screen(ConfirmScreen(
            "Submit? This scores the workdir one last time and ends the trial. "
            "The final score is your best valid score.", yes="Submit"), done)

    def action_rubric(self) -> None:
        """The rubric tree of a rubric-graded environment, with grades and manual grading."""
        from pathlib import Path

        from console.ui.screens.rubric import RubricScreen

        rubric = Path(self.env.path) / "rubric.json"
        if not rubric.exists():
            self.notify("This environment is not graded by a rubric.", severity="warning")
            return
        trial = self.app.store.trial(self.trial_id)
        self.app.push_screen(RubricScreen(self.trial_id, rubric, Path(trial.workdir).parent))

    def action_stop_agent(self) -> None:
        """Stop this agent trial (it ends cleanly with its best score so far)."""
        if not self.is_agent:
            self.notify("This is not an agent trial.", severity="warning")
        elif self.app.stop_agent(self.trial_id):
            self.notify("Stopping the agent at its next step…")
        else:
            self.notify("No agent runs this trial in this console.", severity="warning")

    def action_back(self) -> None:
        """Back to the home screen (the trial's clock keeps running)."""
        from console.ui.state import remember_trial

        remember_trial(self.app.store.data_dir, None)
        self.app.pop_screen()
