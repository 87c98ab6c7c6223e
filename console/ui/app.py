"""The Textual console: a thin App that holds the services and the clock, and pushes the first screen."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.reactive import reactive
from textual.screen import Screen

from console.trials.clock import Clock, system_clock
from console.ui.screens.home import HomeScreen


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
        from console.ui.screens.trial import TrialScreen, why_trial_cannot_open
        from console.ui.state import remember_trial

        problem = why_trial_cannot_open(self.store, self.registry, trial_id)
        if problem is not None:
            self.notify(problem, title=f"Cannot open trial {trial_id}", severity="error", markup=False, timeout=30)
            return
        remember_trial(self.store.data_dir, trial_id)
        self.push_screen(TrialScreen(trial_id))

    def start_agents(self, request) -> list[int]:
        """Start agent trials in background threads (the UI never waits on them); returns their ids."""
        from console.agents.config import AgentConfig, AgentConfigError
        from console.agents.runner import start_agent_trial
        from console.trials.clock import parse_duration
        from console.trials.service import TrialError

        try:
            budget = parse_duration(request.budget) if request.budget else None
            config = AgentConfig(model=request.model, base_url=request.base_url, api_key_env=request.api_key_env,
                                 budget_s=budget)
            ids = []
            for _ in range(request.runs):
                handle = start_agent_trial(self.service, request.spec, config)
                self.agent_handles[handle.trial_id] = handle
                ids.append(handle.trial_id)
        except (AgentConfigError, TrialError, ValueError, KeyError) as exc:
            self.notify(str(exc), title="Cannot start the agent", severity="error", markup=False)
            return []
        return ids

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
    """Open the console on the store and environments named by the command-line arguments."""
    from console.cli import load_registry, open_store
    from console.config import Settings
    from console.ui.state import trial_to_reopen

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
