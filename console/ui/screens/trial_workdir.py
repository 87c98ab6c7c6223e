"""The trial screen's workdir: a shell or $EDITOR in the trial's sandbox, and the workdir's snapshots."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading

from textual import work

from console.ui.write_errors import WRITE_ERRORS, write_problem


class TrialWorkdir:
    """Mixed into TrialScreen, which provides trial_id, `_status`, reload() and _ingest_commands(), and sets
    `_snapshot_problem` to None in its __init__."""

    _snapshot_problem: str | None  # the last snapshot failure, told once

    def action_shell(self) -> None:
        """Open a shell in the trial's sandbox; the console comes back when it exits."""
        self._run_suspended("shell", lambda sandbox: sandbox.shell_argv())

    def action_editor(self) -> None:
        """Open $EDITOR on the workdir."""
        self._run_suspended("editor", lambda sandbox: sandbox.editor_argv())

    def _run_suspended(self, what: str, argv_of) -> None:
        """Run the shell or editor with the console suspended. Everything that can be checked is checked before
        the clock starts and the console suspends: Textual's suspend() resumes the console only when its block
        ends without an exception, and a program that cannot start must not start the trial's clock."""
        from console.sandbox import get_sandbox

        trial = self._current_trial()
        if trial.status == "ended":
            self.reload()  # it may have ended elsewhere since the screen last read it
            self.notify("The trial has ended.", severity="error")
            return
        try:
            sandbox = get_sandbox(trial, self.app.store.data_dir, self.app.db_url)
        except Exception as exc:  # an unknown or dead sandbox: say so, keep running
            self.notify(str(exc), title="No sandbox", severity="error", markup=False)
            return
        env = {**os.environ, **sandbox.shell_env()}
        argv = argv_of(sandbox)
        problem = program_problem(argv, env, str(trial.workdir))
        if problem is not None:
            self.notify(f"{what.capitalize()} not found: {problem}; {remedy(what)}. Or work in another terminal: "
                        f"cd {trial.workdir} && export REARENA_TRIAL={trial.id}",
                        title=f"Cannot open the {what}", severity="error", timeout=30, markup=False)
            return
        driver = getattr(self.app, "_driver", None)
        if driver is not None and not getattr(driver, "can_suspend", False):  # a browser (rearena serve), headless
            self.notify(f"The {what} cannot open here (this console cannot hand its terminal over). In another "
                        f"terminal: cd {trial.workdir} && export REARENA_TRIAL={trial.id}", title=f"No {what} here",
                        severity="warning", timeout=20, markup=False)
            return  # nothing opened: the clock does not start either
        if trial.started_at is None and not self._start_clock_for(what):  # opening it is a first action
            return
        failure: OSError | None = None
        try:
            with self.app.suspend():
                failure = run_in_terminal(argv, str(trial.workdir), env)
        except Exception as exc:  # e.g. suspending is not supported (web or headless)
            self.notify(f"Cannot open the {what} here ({type(exc).__name__}). In another terminal: "
                        f"cd {trial.workdir} && export REARENA_TRIAL={trial.id}", severity="warning", timeout=15,
                        markup=False)
        if failure is not None:
            self.notify(f"Cannot start the {what} {argv[0]}: {failure.strerror or failure}; {remedy(what)}.",
                        title=f"Cannot open the {what}", severity="error", timeout=30, markup=False)
        self._ingest_commands()
        self._snapshot("after " + what)
        self.reload()

    def _current_trial(self):
        """The trial as stored now (another process may have ended it since the screen last read it)."""
        try:
            return self.app.store.trial(self.trial_id)
        except Exception:  # a busy or unreadable store: what the screen last read; the clock's start checks again
            return self._status.trial

    def _start_clock_for(self, what: str) -> bool:
        """Start the trial's clock; False, told, where it cannot start."""
        from console.trials.service import TrialError

        try:
            self.app.service.start(self.trial_id)
        except TrialError as exc:  # e.g. ended meanwhile by another process
            self.reload()
            self.notify(str(exc), title=f"Cannot open the {what}", severity="error", markup=False)
            return False
        except WRITE_ERRORS as exc:
            self.notify(f"Cannot start the clock: {write_problem(exc)}. The {what} was not opened.",
                        title=f"Cannot open the {what}", severity="error", markup=False)
            return False
        return True

    def _periodic_snapshot(self) -> None:
        if self._status is not None and self._status.trial.status in ("running", "paused"):
            self._snapshot_worker("periodic")

    @work(thread=True, exit_on_error=False, group="snapshot")
    def _snapshot_worker(self, reason: str) -> None:
        self._snapshot(reason)

    def _snapshot(self, reason: str) -> None:
        try:
            self.app.service.snapshot(self.trial_id, reason)
            self._snapshot_problem = None
        except Exception as exc:
            self.log.warning(f"snapshot failed: {exc}")
            problem = str(exc)
            if problem != self._snapshot_problem:  # said once, not every five minutes
                self._snapshot_problem = problem
                self._tell(f"The workdir could not be snapshotted: {problem}. Scoring and ending the trial go on "
                           f"without a snapshot.", "Snapshot failed")

    def _tell(self, text: str, title: str) -> None:
        """A warning notice, from a worker's thread or the app's (where call_from_thread refuses)."""
        try:
            self.app.call_from_thread(self.notify, text, title=title, severity="warning", timeout=20, markup=False)
        except RuntimeError:
            self.notify(text, title=title, severity="warning", timeout=20, markup=False)


def run_in_terminal(argv: list[str], cwd: str, env: dict[str, str]) -> OSError | None:
    """Run a program on the console's terminal until it exits; the OSError that kept it from starting is
    returned, never raised (raised in App.suspend()'s block, it left the console suspended for good).

    Ctrl-C there is the program's: a line editor such as ed runs in the terminal's cooked mode, in the console's
    process group, so the console got the SIGINT too, quit and killed the editor with its unsaved text. A
    do-nothing handler, not SIG_IGN, is set meanwhile: exec gives the program SIGINT's default back."""
    previous = None
    if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
        previous = signal.signal(signal.SIGINT, _ignore_signal)
    try:
        subprocess.run(argv, cwd=cwd, env=env)
    except OSError as exc:
        return exc
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return None


def _ignore_signal(signum, frame) -> None:
    pass


def program_problem(argv: list[str], env: dict[str, str], cwd: str) -> str | None:
    """Why argv's program cannot be started (not on env's PATH, not executable, a missing #! interpreter),
    or None. Found as subprocess finds it: on env's PATH, or relative to cwd for a name with a slash."""
    if not argv or not argv[0]:
        return "(no command)"
    name = argv[0]
    found = shutil.which(os.path.join(cwd, name) if os.path.dirname(name) else name,
                         path=env.get("PATH", os.defpath))
    if found is None:
        return name
    interpreter = script_interpreter(found)
    if interpreter is not None and not (os.path.isfile(interpreter) and os.access(interpreter, os.X_OK)):
        return f"{name} (its interpreter {interpreter})"
    return None


def script_interpreter(path: str) -> str | None:
    """The interpreter named on a script's #! line; None for anything else (a binary, an unreadable file)."""
    try:
        with open(path, "rb") as file:
            head = file.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    return os.fsdecode(words[0]) if words else ""


def remedy(what: str) -> str:
    """What to do about a shell or editor that cannot start."""
    if what != "editor":
        return "install bash"
    variable = "VISUAL" if os.environ.get("VISUAL") else "EDITOR"
    return f"set ${variable} to an installed editor before starting rearena (e.g. {variable}=vi)"
