"""Home screen: the environments, recent trials, and a leaderboard per environment."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Static

from console.render import plain, table_cell
from console.trials.clock import format_duration
from console.trials.curves import leaderboard
from console.trials.hidden import best_cell, scores_visible


def _score(value) -> str:
    return "-" if value is None else f"{value:.3f}"


class HomeScreen(Screen):
    """Environments (hardware, budget, variants), recent trials and the leaderboard."""

    BINDINGS = [
        Binding("n", "new_trial", "New trial", id="home.new_trial"),
        Binding("g", "new_agents", "Agent trials", id="home.new_agents"),
        Binding("o", "open_trial", "Open trial", id="home.open_trial"),
        Binding("c", "compare", "Compare", id="home.compare"),
        Binding("v", "replay", "Replay two", id="home.replay"),
        Binding("r", "refresh", "Refresh", id="home.refresh"),
        Binding("q", "app.quit", "Quit", id="app.quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        with Horizontal(id="home-top"):
            with Vertical(id="environments-box"):
                yield Label("Environments", classes="section")
                yield DataTable(id="environments", cursor_type="row", zebra_stripes=True)
            with Vertical(id="leaderboard-box"):
                yield Label("Leaderboard", classes="section", id="leaderboard-title")
                yield DataTable(id="leaderboard", cursor_type="row")
        yield Label("Recent trials (Enter opens)", classes="section")
        yield DataTable(id="trials", cursor_type="row", zebra_stripes=True)
        yield Static("", id="problems")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#environments", DataTable).add_columns("name", "variants", "budget", "hardware", "title")  # the long title last
        self.query_one("#leaderboard", DataTable).add_columns("#", "participant", "score", "trial", "status")
        self.query_one("#trials", DataTable).add_columns(
            "id", "environment", "participant", "status", "best", "active")
        self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        """Reload environments and trials from the registry and the store."""
        registry, service = self.app.registry, self.app.service
        envs = self.query_one("#environments", DataTable)
        envs.clear()
        for env in sorted(registry.environments.values(), key=lambda e: e.name):
            hw = f"{env.hardware.cpus} cpu, {env.hardware.memory_gb:g} GB" + (", GPU" if env.hardware.gpu else "")
            envs.add_row(table_cell(env.name), table_cell(", ".join(sorted(env.variants))), f"{env.budget_hours:g} h",
                         hw, table_cell(env.title), key=env.name)
        trials = self.query_one("#trials", DataTable)
        trials.clear()
        self._best = {}
        for trial in self.app.store.trials(limit=50):
            status = service.status(trial.id)
            self._best[trial.id] = status.best
            state = status.trial.status + (f" ({status.pause.reason})" if status.pause else "")
            if status.trial.end_reason:
                state += f" ({status.trial.end_reason})"
            # a hidden score while the trial runs: its participant may be looking at this screen
            best = best_cell(status.trial, status.best, scores_visible(registry, trial.environment), _score)
            # participants' names and pauses' reasons are anyone's text: plain, never markup
            trials.add_row(str(trial.id), table_cell(f"{trial.environment}:{trial.variant}"),
                           table_cell(trial.participant), table_cell(state),
                           best, format_duration(status.active_s), key=str(trial.id))
        problems = Text("\n").join(Text.assemble(("failed to load:", "bold"), " ", plain(p))
                                   for p in registry.problems)
        self.query_one("#problems", Static).update(problems)
        self._show_leaderboard(self._highlighted_environment())

    def _highlighted_environment(self) -> str | None:
        envs = self.query_one("#environments", DataTable)
        if envs.row_count == 0:
            return None
        return envs.coordinate_to_cell_key(envs.cursor_coordinate).row_key.value

    @on(DataTable.RowHighlighted, "#environments")
    def _environment_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_leaderboard(event.row_key.value)

    def _show_leaderboard(self, name: str | None) -> None:
        table = self.query_one("#leaderboard", DataTable)
        table.clear()
        self.query_one("#leaderboard-title", Label).update(f"Leaderboard: {name or '-'}")
        if name is None:
            return
        rows = leaderboard(self.app.store.trials(environment=name), getattr(self, "_best", {}),
                           visible=scores_visible(self.app.registry, name))
        for row in rows:
            who = row.participant + (" (agent)" if row.participant_kind == "agent" else "")
            table.add_row(str(row.rank), table_cell(who), f"{row.score:.3f}",
                          table_cell(f"{row.trial_id} ({row.variant})"), row.status)

    @on(DataTable.RowSelected, "#trials")
    def _trial_selected(self, event: DataTable.RowSelected) -> None:
        self.app.show_trial(int(event.row_key.value))

    def action_open_trial(self) -> None:
        """Open the highlighted trial."""
        trials = self.query_one("#trials", DataTable)
        if trials.row_count:
            key = trials.coordinate_to_cell_key(trials.cursor_coordinate).row_key.value
            self.app.show_trial(int(key))

    def action_new_trial(self) -> None:
        """Ask for the new trial's environment, participant and sandbox, then create it."""
        from console.ui.screens.new_trial import NewTrialScreen

        from console.sandbox import SANDBOX_KINDS

        self.app.push_screen(NewTrialScreen(self.app.registry, self._highlighted_environment(),
                                            sandboxes=SANDBOX_KINDS), self._create)

    def _create(self, request) -> None:
        if request is not None:
            self._create_trial(request)

    @work(thread=True, exclusive=True, exit_on_error=False, group="create")
    def _create_trial(self, request) -> None:
        from console.trials.per_machine import needs_measurement
        from scoring.stopping import stoppable

        try:
            env, variant = self.app.registry.resolve(request.spec)
            if needs_measurement(self.app.store, env, variant.name, request.sandbox):
                self.app.call_from_thread(
                    self.notify, f"Measuring this machine's calibration of {env.name}:{variant.name} first: the "
                    "starting and reference solutions are scored a few times, once per machine, before the clock "
                    "starts.", title="Calibrating", timeout=30)
            with stoppable():  # quitting asks first, then stops a calibration under way (nothing is stored)
                trial = self.app.service.create(request.spec, request.participant, sandbox=request.sandbox,
                                                start=request.start_now)
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"Could not create the trial: {exc}", severity="error")
            return
        self.app.call_from_thread(self.app.show_trial, trial.id)

    def action_compare(self) -> None:
        """Compare the groups of trials of the highlighted environment."""
        from console.ui.screens.compare import CompareScreen

        name = self._highlighted_environment()
        if name is not None:
            self.app.push_screen(CompareScreen(name))

    def action_replay(self) -> None:
        """Ask for two trials of one environment and replay them side by side."""
        from console.ui.screens.dialogs import PromptScreen

        trials = self.query_one("#trials", DataTable)
        guess = ""
        if trials.row_count:
            first = int(trials.coordinate_to_cell_key(trials.cursor_coordinate).row_key.value)
            env = self.app.store.trial(first).environment
            other = next((t.id for t in self.app.store.trials(environment=env) if t.id != first), None)
            guess = f"{first} {other}" if other else str(first)

        def done(text: str | None) -> None:
            if text:
                ids = text.replace(",", " ").split()
                if len(ids) != 2 or not all(i.isdigit() for i in ids):
                    self.notify("Give two trial ids, e.g. 3 7.", severity="error")
                    return
                self.app.show_replay(int(ids[0]), int(ids[1]))

        self.app.push_screen(PromptScreen("Replay which two trials side by side? (ids, e.g. 3 7)", value=guess),
                             done)

    def action_new_agents(self) -> None:
        """Start agent trials of an OpenAI-compatible model on the highlighted environment."""
        from console.ui.screens.new_agent import NewAgentScreen

        def done(request) -> None:
            if request is not None:
                self.app.start_agents(request)  # a worker makes the trials; the app says which started

        self.app.push_screen(NewAgentScreen(self.app.registry, self._highlighted_environment()), done)
