"""The trial screen's workdir: a shell or $EDITOR in the trial's sandbox, and the workdir's snapshots."""

from __future__ import annotations

import os
import subprocess

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
        from console.sandbox import get_sandbox

        trial = self._status.trial
        if trial.status == "ended":
            self.notify("The trial has ended.", severity="error")
            return
        if trial.started_at is None:  # opening it is a first action: the clock starts
            from console.trials.service import TrialError

            try:
                self.app.service.start(self.trial_id)
            except TrialError as exc:  # e.g. ended meanwhile by another process
                self.reload()
                self.notify(str(exc), title=f"Cannot open the {what}", severity="error", markup=False)
                return
            except WRITE_ERRORS as exc:
                self.notify(f"Cannot start the clock: {write_problem(exc)}. The {what} was not opened.",
                            title=f"Cannot open the {what}", severity="error", markup=False)
                return
        try:
            sandbox = get_sandbox(trial, self.app.store.data_dir, self.app.db_url)
        except Exception as exc:  # an unknown or dead sandbox: say so, keep running
            self.notify(str(exc), title="No sandbox", severity="error", markup=False)
            return
        env = {**os.environ, **sandbox.shell_env()}
        try:
            with self.app.suspend():
                subprocess.run(argv_of(sandbox), cwd=trial.workdir, env=env)
        except Exception as exc:  # e.g. suspending is not supported (web or headless)
            self.notify(f"Cannot open the {what} here ({type(exc).__name__}). In another terminal: "
                        f"cd {trial.workdir} && export REARENA_TRIAL={trial.id}", severity="warning", timeout=15,
                        markup=False)
        self._ingest_commands()
        self._snapshot("after " + what)
        self.reload()

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
