"""The trial's one-line banner: how it ended, that it is being scored, or its best score so far."""

from __future__ import annotations

from textual.widgets import Static

from console.render import plain

END_REASONS = {"budget": "The budget is used up", "submitted": "Submitted",
               "wall_backstop": "The wall-clock backstop was reached"}


class TrialBanner(Static):
    """Renders a TrialStatus with the scoring this console runs for it (None when it runs none)."""

    DEFAULT_CSS = """
    TrialBanner { padding: 0 1; height: auto; color: $text-muted; }
    TrialBanner.ended { color: $error; text-style: bold; }
    """

    def show(self, status, scoring, visible: bool) -> None:
        """Show a TrialStatus; scoring is the App's ScoringAsked for the trial; visible: scores may be shown."""
        trial = status.trial
        if trial.status == "ended":
            final = "-" if trial.final_score is None else f"{trial.final_score:.3f}"
            why = END_REASONS.get(trial.end_reason, "Ended")
            self.update(f"{why}: the trial has ended. Final score {final} (best valid normalized score).")
            self.add_class("ended")
        elif scoring is not None and scoring.final:
            self.update("Submitting… the clock is paused while the scorer runs; the trial ends with its result.")
        elif scoring is not None:
            self.update("Scoring… the clock is paused while the scorer runs.")
        else:
            best = "-" if status.best is None or not visible else f"{status.best:.3f}"
            # the workdir is anyone's path: plain text, never markup
            self.update(plain(f"Best so far: {best} · {status.submissions} submissions · workdir {trial.workdir}"))
