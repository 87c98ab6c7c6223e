"""The trial screen's writes (start, pause, resume, note), made in a worker and told when they fail."""

from __future__ import annotations

from textual import work

from console.ui.write_errors import WRITE_ERRORS, write_problem


class TrialWrites:
    """Mixed into TrialScreen, which provides trial_id, reload() and `_writing` (set to None in its __init__)."""

    _writing: str | None  # the write (pause, note...) a worker is making now

    def action_pause(self) -> None:
        """Pause the clock, with a reason."""
        from console.ui.screens.dialogs import PromptScreen

        key = (self.trial_id, "pause")

        def done(reason: str | None) -> None:
            if reason:
                self._act("pause", self.app.service.pause, reason, on_done=lambda: self.app.unsent.pop(key, None),
                          on_failed=lambda: self.app.unsent.__setitem__(key, reason))

        self.app.push_screen(PromptScreen("Why are you pausing?", value=self.app.unsent.get(key, "human"),
                                          placeholder="break, lunch, system problem..."), done)

    def action_resume(self) -> None:
        """Restart the clock."""
        self._act("resume", self.app.service.resume)

    def action_start(self) -> None:
        """Start the clock now."""
        self._act("start the clock", self.app.service.start)

    def action_note(self) -> None:
        """Add a note to the record; a note that could not be written is offered again, as typed (the App keeps
        it, so that closing and reopening the trial does not lose it)."""
        from console.ui.screens.dialogs import PromptScreen

        key = (self.trial_id, "note")

        def recorded() -> None:
            self.app.unsent.pop(key, None)
            self.notify("Note recorded.")

        def kept(text: str) -> None:
            self.app.unsent[key] = text
            self.notify("Your note is kept: press n to send it again.", title="Note not recorded",
                        severity="warning", timeout=15)

        def done(text: str | None) -> None:
            if text:
                self._act("add a note", self.app.service.note, text, on_done=recorded, on_failed=lambda: kept(text))

        self.app.push_screen(PromptScreen("Note (goes into the trial's record)", value=self.app.unsent.get(key, "")),
                             done)

    def _act(self, what: str, fn, *args, on_done=None, on_failed=None) -> bool:
        """Make a write (pause, resume, start, note) in a worker, so that a database locked by another process
        freezes neither the clock nor the keys; a refusal or a failed write (a full disk, a read-only folder, a
        busy database) is told, and the console goes on. on_done / on_failed run on the UI thread after it."""
        if self._writing is not None:
            self.notify(f"Still saving the last action ({self._writing}); try again in a moment.",
                        title=f"Cannot {what} yet", severity="warning")
            if on_failed is not None:
                on_failed()
            return False
        self._writing = what
        self._write_worker(what, fn, args, on_done, on_failed)
        return True

    @work(thread=True, exit_on_error=False, group="trial-write")
    def _write_worker(self, what: str, fn, args: tuple, on_done, on_failed) -> None:
        from console.trials.service import TrialError

        try:
            fn(self.trial_id, *args)
            problem = None
        except TrialError as exc:
            problem = str(exc)
        except WRITE_ERRORS as exc:
            problem = write_problem(exc)
        except Exception as exc:  # nothing a write raises may take the console down, or leave _writing set
            problem = f"{type(exc).__name__}: {exc}"
        try:
            self.app.call_from_thread(self._written, what, problem, on_done, on_failed)
        except RuntimeError:  # the app has gone
            pass

    def _written(self, what: str, problem: str | None, on_done, on_failed) -> None:
        self._writing = None
        if problem is None:
            if on_done is not None:
                on_done()
        else:
            self.notify(problem, title=f"Cannot {what}", severity="error", markup=False, timeout=15)
            if on_failed is not None:
                on_failed()
        if self in self.app.screen_stack:  # not a screen closed meanwhile
            self.reload()
