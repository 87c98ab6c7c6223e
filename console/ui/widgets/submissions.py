"""The submissions table: active time, raw, normalized, valid, message."""

from __future__ import annotations

from textual.widgets import DataTable

from console.render import table_cell
from console.trials.clock import format_duration
from console.trials.hidden import participant_message


def _num(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class SubmissionsTable(DataTable):
    """One row per submission, newest last."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        # fixed widths: no need to measure every cell of a long table
        for label, width in [("#", 4), ("active", 8), ("raw", 9), ("normalized", 10), ("valid", 22), ("message", 36)]:
            self.add_column(label, width=width)

    def set_submissions(self, submissions, visible: bool = True) -> None:
        """Replace the rows (scores shown only when the environment makes them visible)."""
        self.clear()
        for i, sub in enumerate(submissions, 1):
            valid = "yes" if sub.valid else f"no: {sub.reason}"
            raw = _num(sub.raw, 4) if visible else "hidden"
            norm = _num(sub.normalized, 3) if visible else "hidden"
            final = " (final)" if sub.final else ""
            # the reason and the message come from the scorer (and the candidate): plain text, never markup
            self.add_row(str(i), format_duration(sub.active_s), raw, norm, table_cell(valid),
                         table_cell(participant_message(sub, visible)[:80] + final),
                         key=str(sub.id))
        if submissions:
            self.move_cursor(row=len(submissions) - 1)
