"""The Textual console: a thin App that holds the services and the clock, and pushes the first screen."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from textual import on, work
from textual.app import App, SystemCommand
from textual.reactive import reactive
from textual.screen import Screen

from console.render import printable
from console.trials.clock import Clock, system_clock
from console.ui.messages import ScoringEnded, TrialChanged
from console.ui.screens.home import HomeScreen
from console.ui.screens.new_agent import MAX_AGENT_RUNS
from console.ui.write_errors import WRITE_ERRORS, write_problem


@dataclass(frozen=True)
class ScoringAsked:
    """A scoring this console runs for a trial: when it was asked for, and whether it submits the trial."""

    at: float
    final: bool


class RearenaApp(App):
    """rearena's console: environments, trials, the clock and the scorer."""

    TITLE = "rearena"
    SUB_TITLE = "humans and agents · same clock · same scorer"
    CSS_PATH = "app.tcss"

    now: reactive[float] = reactive(0.0)
    """The shared clock reading, updated every second; every clock widget watches it."""

    def __init__(self, store, registry, *, clock: Clock = system_clock, open_trial: int | None = None,
                 replay: tuple[int, int] | None = None,
                 db_url: str | None = None, tick_seconds: float = 1.0, snapshot_every_s: float = 300.0, **kwargs):
        super().__init__(**kwargs)
        from console.trials.service import TrialService

        self.store = store
        self.registry = registry
        self.clock = clock
        self.db_url = db_url
        self.service = TrialService(store, registry, clock=clock)
        self.open_trial = open_trial
        self.replay = replay
        self.tick_seconds = tick_seconds
        self.agent_handles: dict[int, object] = {}  # agent trials running in this console, by trial id
        self.snapshot_every_s = snapshot_every_s
        self._stopping_agents = False  # quit confirmed: waiting for agent trials to end their current step
        self._asking_to_quit = False  # the quit question is on screen
        self.scorings: dict[int, ScoringAsked] = {}  # trials this console is scoring, whichever screen asked
        self.unsent: dict[tuple[int, str], str] = {}  # (trial, "note"/"pause"): text typed for a failed write
        self.agent_form: dict[str, str] = {}  # the new agent form's inputs as last left, filled in when reopened

    def get_driver_class(self):
        """Textual's terminal driver, made to exit on SIGHUP or when the terminal goes away
        (console.ui.terminal); other drivers (textual-serve's web driver, tests' headless one) as they are."""
        driver = super().get_driver_class()
        if driver.__module__ == "textual.drivers.linux_driver" and driver.__name__ == "LinuxDriver":
            from console.ui.terminal import ConsoleDriver

            return ConsoleDriver
        return driver

    def on_mount(self) -> None:
        self.now = self.clock()
        self.push_screen(HomeScreen())
        if self.open_trial is not None:
            self.show_trial(self.open_trial)
        if self.replay is not None:
            self.show_replay(*self.replay)
        self.set_interval(self.tick_seconds, self.tick)
        self._cleanup_orphans()

    @work(thread=True, exit_on_error=False, group="startup")
    def _cleanup_orphans(self) -> None:
        """Remove containers left by ended trials or dead consoles (returns at once without docker)."""
        from console.sandbox import cleanup_orphans

        removed = cleanup_orphans(self.store)
        if removed:
            self.call_from_thread(self.notify, f"Removed {len(removed)} orphaned sandbox container(s).")

    async def action_quit(self) -> None:
        """Quit. While a scoring the user started or agent trials run here, ask first: quitting stops the
        scoring, unrecorded, and each agent trial after its current step, as "stopped" (else the console sat,
        its screen gone, until the scoring ended, and agent trials were left "running" with no agent, their
        clocks going on). Quitting again while the agents finish their steps closes the screen at once; run()
        still waits for them (finish_agents)."""
        from scoring.stopping import stop_all, under_way

        agents = [handle for handle in self.agent_handles.values() if handle.running]
        if self._asking_to_quit:  # ctrl+q again on the question (a priority key): one question is enough
            return
        if self._stopping_agents or (not agents and not under_way()):
            self.exit()
            return

        def answered(stop: bool | None) -> None:
            self._asking_to_quit = False
            if not stop:
                return
            stop_all()
            if not agents:
                self.exit()
                return
            for handle in agents:
                handle.stop()
            self._stopping_agents = True
            self.notify(f"Stopping {len(agents)} agent trial(s) after their current step; the console closes when "
                        "they have. Quit again to close it now: it still waits for them in the terminal (Ctrl-C "
                        "there leaves them 'running').", title="Quitting", timeout=600)
            threading.Thread(target=self._exit_when_stopped, args=(agents,), daemon=True).start()

        from console.ui.screens.dialogs import ConfirmScreen

        self._asking_to_quit = True
        self.push_screen(ConfirmScreen(quit_question(under_way(), len(agents)), yes="Stop and quit"), answered)

    def _exit_when_stopped(self, handles) -> None:
        """Thread (a daemon, so that quitting again does not wait for it): exit once the agents have ended."""
        from scoring.stopping import stop_all

        for handle in handles:
            handle.join()
        stop_all()  # a scoring started meanwhile (the screens stayed usable) would hold the exit
        try:
            self.call_from_thread(self.exit)
        except RuntimeError:  # the app has already gone (quit again)
            pass

    def tick(self) -> None:
        """Read the clock (tests call this after moving an injected clock)."""
        self.now = self.clock()

    def show_trial(self, trial_id: int) -> None:
        """Open the trial screen for a trial; one that cannot be opened (no such trial, its environment
        did not load) gets a notice saying why, and the console stays where it is."""
        from console.trials.open_check import why_trial_cannot_open
        from console.ui.screens.trial import TrialScreen
        from console.ui.state import remember_trial

        problem = why_trial_cannot_open(self.store, self.registry, trial_id)
        if problem is not None:
            self.notify(problem, title=f"Cannot open trial {trial_id}", severity="error", markup=False, timeout=30)
            return
        remember_trial(self.store.data_dir, trial_id)  # best effort: a full disk only loses the reopen hint
        self.push_screen(TrialScreen(trial_id))

    # -- scoring ---------------------------------------------------------------------------

    def score_trial(self, trial_id: int, *, final: bool, scores_visible: bool) -> bool:
        """Score a trial in a worker (final: and submit it); False where this console is scoring it already (a
        screen reopened since it was asked for must not start a second one). The App keeps which trials are
        being scored, so that every screen showing one knows, and the result is told wherever the user is."""
        if trial_id in self.scorings:
            return False
        self.scorings[trial_id] = ScoringAsked(self.clock(), final)
        self._score_worker(trial_id, final, scores_visible)
        return True

    @work(thread=True, exit_on_error=False, group="score")
    def _score_worker(self, trial_id: int, final: bool, scores_visible: bool) -> None:
        from console.trials.service import TrialError
        from scoring.stopping import ScoringStopped, stoppable

        try:
            with stoppable():  # quitting the console stops it (action_quit asks first)
                if final:
                    self.service.submit(trial_id)
                    note = f"Trial {trial_id} submitted: the trial has ended."
                else:
                    sub = self.service.score(trial_id)
                    shown = f"{sub.normalized:.3f}" if sub.valid and scores_visible else (
                        "recorded" if sub.valid else f"invalid: {sub.message}")
                    note = f"Score: {shown}"
            # the message is the candidate's text as much as the scorer's: shown as written, never as markup
            self._tell_from_worker(printable(note), title=f"Trial {trial_id}", timeout=6)
        except ScoringStopped:  # the console is quitting: nothing was recorded, and no one is left to tell
            pass
        except TrialError as exc:
            self._tell_from_worker(printable(exc), title="Cannot submit" if final else "Cannot score",
                                   severity="error")
        except WRITE_ERRORS as exc:  # a full disk, a busy database: said in words; nothing recorded is lost
            self._tell_from_worker(printable(write_problem(exc)), title="Scoring failed", severity="error")
        except Exception as exc:  # the scorer itself failed; nothing recorded is lost
            self._tell_from_worker(printable(f"{type(exc).__name__}: {exc}"), title="Scoring failed",
                                   severity="error")
        finally:
            self.post_message(ScoringEnded(trial_id))

    def _tell_from_worker(self, text: str, **options) -> None:
        """A notice from a worker's thread; nothing once the app has gone."""
        try:
            self.call_from_thread(self.notify, text, markup=False, **options)
        except RuntimeError:
            pass

    @on(ScoringEnded)
    def _scoring_ended(self, message: ScoringEnded) -> None:
        self.scorings.pop(message.trial_id, None)
        for screen in self.screen_stack:  # whichever screen shows the trial now (reopened or not) redraws
            screen.post_message(TrialChanged(message.trial_id))

    def start_agents(self, request) -> bool:
        """Check the request here, then create and start its agent trials in a worker (each runs in its own
        thread; the UI never waits on them); False, with a notice, where the request cannot run."""
        from console.ui.screens.new_agent import agent_config

        if not 1 <= request.runs <= MAX_AGENT_RUNS:
            self.notify(f"Runs must be from 1 to {MAX_AGENT_RUNS}, got {request.runs}.",
                        title="Cannot start the agent", severity="error")
            return False
        try:
            config = agent_config(request)  # the form has checked it; a missing key is told before any trial
        except ValueError as exc:
            self.notify(str(exc), title="Cannot start the agent", severity="error", markup=False)
            return False
        self._start_agents_worker(request, config)
        return True

    @work(thread=True, exit_on_error=False, group="agents")
    def _start_agents_worker(self, request, config) -> None:
        from console.agents.runner import start_agent_trial

        ids: list[int] = []
        problem = None
        try:
            for _ in range(request.runs):
                handle = start_agent_trial(self.service, request.spec, config)
                try:  # on the UI thread, which reads the handles (quitting)
                    self.call_from_thread(self.agent_handles.__setitem__, handle.trial_id, handle)
                except RuntimeError:  # the app has gone: run() still stops the agents it finds here
                    self.agent_handles[handle.trial_id] = handle
                ids.append(handle.trial_id)
        except Exception as exc:  # a bad spec, a store or workdir that refuses the next trial...
            problem = printable(f"{exc}") or type(exc).__name__
        try:
            self.call_from_thread(self._agents_started, ids, request.runs, problem)
        except RuntimeError:  # the app has gone
            pass

    def _agents_started(self, ids: list[int], asked: int, problem: str | None) -> None:
        """Say which agent trials started (all, some or none of those asked for), and open the first."""
        started = ", ".join(map(str, ids))
        if problem is None:
            self.notify(f"Started agent trial(s) {started}.")
        elif ids:
            self.notify(f"Started {len(ids)} of {asked} agent trials ({started}); the next could not start: "
                        f"{problem}", title="Not every agent trial started", severity="error", markup=False,
                        timeout=30)
        else:
            self.notify(problem, title="Cannot start the agent", severity="error", markup=False)
        for screen in self.screen_stack:
            if isinstance(screen, HomeScreen):
                screen.action_refresh()
        if ids:
            self.show_trial(ids[0])

    def stop_agent(self, trial_id: int) -> bool:
        """Ask an agent trial running in this console to stop at its next step; False if none runs here."""
        handle = self.agent_handles.get(trial_id)
        if handle is None or not handle.running:
            return False
        handle.stop()
        return True

    def show_replay(self, first: int, second: int) -> None:
        """Open the replay of two trials of the same environment."""
        from console.compare.timeline import load_timeline
        from console.store.errors import StoreError
        from console.ui.screens.replay import ReplayScreen

        try:
            timelines = [load_timeline(self.store, first), load_timeline(self.store, second)]
        except StoreError as exc:
            self.notify(str(exc), title="Cannot replay", severity="error", markup=False)
            return
        envs = {tl.trial.environment for tl in timelines}
        if len(envs) > 1:
            self.notify(f"Trials {first} and {second} are of different environments ({', '.join(sorted(envs))}).",
                        title="Cannot replay", severity="error")
            return
        self.push_screen(ReplayScreen(timelines))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the current screen is also in the command palette."""
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if binding.description and binding.show is not False:
                action = binding.action

                def run(action: str = action, screen: Screen = screen) -> None:
                    self.call_later(screen.run_action, action)

                yield SystemCommand(binding.description, f"key: {binding.key}", run)
        if isinstance(screen, HomeScreen):
            for trial in self.store.trials(limit=20):
                if trial.status != "ended":
                    yield SystemCommand(
                        f"Open trial {trial.id}: {trial.environment}:{trial.variant} ({trial.participant})",
                        "switch to this trial", lambda t=trial.id: self.show_trial(t),
                    )


def run(args) -> int:
    """Open the console on the store and environments named by the command-line arguments; 2, said, where
    there is no terminal to open it in."""
    import sys

    from console.cli import load_registry, open_store
    from console.config import Settings
    from console.ui.state import trial_to_reopen
    from console.ui.terminal import terminal_refusal

    refusal = terminal_refusal()
    if refusal is not None:  # checked before anything is opened: a usage error, as the CLI's are
        try:
            print(f"rearena: {refusal}", file=sys.stderr)
        except (OSError, ValueError):  # no stderr to say it on: the status still says it
            pass
        return 2
    store = open_store(args)
    replay = (args.first, args.second) if getattr(args, "command", None) == "replay" else None
    trial = getattr(args, "open_trial", None)
    if trial is None and replay is None:
        trial = trial_to_reopen(store)
    app = RearenaApp(store, load_registry(), open_trial=trial, replay=replay,
                     db_url=Settings.load(args.data_dir, args.db).db_url)
    app.run()
    return finish_agents(app.agent_handles.values())


def finish_agents(handles, out=None) -> int:
    """After the console has closed (quit again while agents finished their step, or the terminal hung up):
    stop the agent trials still running, each after its current step, so that none is left 'running' with
    no agent behind it; Ctrl-C leaves them as they are (130)."""
    import sys

    out = out or sys.stderr
    running = [handle for handle in handles if handle.running]
    if not running:
        return 0
    for handle in running:
        handle.stop()
    try:
        print(f"rearena: stopping {len(running)} agent trial(s) after their current step (Ctrl-C leaves them "
              "'running')...", file=out, flush=True)
    except (OSError, ValueError):  # the terminal is gone
        pass
    try:
        for handle in running:
            handle.join()
    except KeyboardInterrupt:
        return 130
    return 0


def quit_question(scorings: int, agents: int) -> str:
    """What quitting now would stop, as a question."""
    parts = []
    if scorings:
        parts.append("A scoring is under way: quitting stops it, and it is not recorded (the clock's pause for it "
                     "ends now).")
    if agents:
        parts.append(f"{agents} agent trial(s) run in this console: quitting stops each after its current step "
                     "(it ends as 'stopped', with its best score so far).")
    return " ".join(parts) + " Quit?"
