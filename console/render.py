"""Plain-text rendering of verdicts, environments and trials for the command line (rich, no Textual)."""

from __future__ import annotations

import math
import re

from rich.console import Console
from rich.table import Table
from rich.text import Text

from console.trials.clock import format_duration
from console.trials.hidden import HIDDEN_SCORES, best_cell, participant_message, shown_best


# what must not reach a terminal as it is: C0 controls but tab and newline (ESC starts a terminal's
# escape sequences), DEL, C1 controls, lone surrogates (not encodable) and the bidirectional overrides
# that reorder a line on screen
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text) -> str:
    """Text from a candidate, an agent or a participant, safe to print: controls shown as escapes
    (\\x1b for ESC), lone surrogates as \\udxxx; never markup, whatever brackets it holds."""
    text = text if isinstance(text, str) else str(text)
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), text)


def plain(text, style: str = "", no_wrap: bool | None = None) -> Text:
    """Untrusted text as a rich Text: shown as written, never read as markup (`[/red]` stays `[/red]`)."""
    return Text(printable(text), style=style, no_wrap=no_wrap, end="")


def table_cell(text) -> str | Text:
    """Untrusted text for a cell of Textual's DataTable, which reads a str as markup and emoji codes:
    the str itself where it holds neither "[" nor ":" (then it shows as written), else a plain Text."""
    text = printable(text)
    return text if "[" not in text and ":" not in text else plain(text, no_wrap=True)


def _num(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def verdict_table(result) -> Table:
    """The verdict of one scoring run as a two-column table."""
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    verdict = Text("VALID", style="green") if result.valid else Text.assemble(
        ("INVALID", "red"), " (", plain(result.reason), ")")
    table.add_row("environment", plain(f"{result.environment}:{result.variant}"))
    table.add_row("verdict", verdict)
    table.add_row("message", plain(result.message))
    table.add_row("raw score", _num(result.raw))
    table.add_row("normalized", _num(result.normalized, 3) + ("  (0 = starting, 1 = reference)" if result.valid else ""))
    cal = result.calibration or {}
    if cal:
        where = cal.get("hardware") or "manifest default"
        where += f", digest {cal['digest']}" if cal.get("digest") else ""  # only a current one is ever used
        table.add_row("calibration", plain(f"start {cal['start']:.4f}, reference {cal['reference']:.4f} "
                                           f"({cal['source']}: {where})"))
    table.add_row("duration", f"{result.duration_s:.2f} s (candidate {_seconds(result.details)} s)")
    return table


def _seconds(details) -> str:
    """The candidate's seconds from a result's details ("-" when they are not a number)."""
    value = details.get("candidate_seconds", 0.0) if isinstance(details, dict) else None
    return f"{value:.2f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


class _Console(Console):
    """A rich console that leaves a closed output to console.cli.main (rich itself exits with status 1)."""

    def on_broken_pipe(self) -> None:
        """Print nothing more and pass the BrokenPipeError on."""
        self.quiet = True
        raise BrokenPipeError


def make_console() -> Console:
    """A rich console; wide when the output is not a terminal, so scripts see whole names."""
    import sys

    return _Console() if sys.stdout.isatty() else _Console(width=200, soft_wrap=True)


def print_verdict(result, console: Console | None = None) -> None:
    """Print a verdict table."""
    (console or make_console()).print(verdict_table(result))


def environments_table(registry) -> Table:
    """All environments: name, title, variants, budget, hardware."""
    table = Table("name", "title", "variants", "budget", "hardware", "metric")
    for env in sorted(registry.environments.values(), key=lambda e: e.name):
        hw = f"{env.hardware.cpus} cpu, {env.hardware.memory_gb:g} GB" + (", GPU" if env.hardware.gpu else "")
        table.add_row(plain(env.name), plain(env.title), plain(", ".join(sorted(env.variants))),
                      f"{env.budget_hours:g} h", hw, plain(f"{env.metric.name} ({env.metric.direction} is better)"))
    return table


def trials_table(rows, visible, participant: bool = False) -> Table:
    """Trials with participant, status, best score and active time; rows are TrialStatus, visible(environment)
    says whether the environment shows scores: a score shows as console.trials.hidden rules, else "hidden"."""
    table = Table("id", "environment", "participant", "status", "active", "budget", "best", "subs")
    for st in rows:
        t = st.trial
        status = t.status + (f" ({st.pause.reason})" if st.pause else "") + (f" ({t.end_reason})" if t.end_reason else "")
        best = best_cell(t, st.best, visible(t.environment), lambda value: _num(value, 3), participant)
        table.add_row(str(t.id), plain(f"{t.environment}:{t.variant}"), plain(t.participant), plain(status),
                      format_duration(st.active_s), format_duration(t.budget_s), best, str(st.submissions))
    return table


def finite_or_none(value):
    """JSON-safe number."""
    return value if value is None or math.isfinite(value) else None


def print_verdict_row(sub, visible: bool = True) -> None:
    """One line for a recorded submission."""
    verdict = "valid" if sub.valid else f"INVALID ({sub.reason})"
    score = f"raw {_num(sub.raw)}  normalized {_num(sub.normalized, 3)}  " if visible else ""
    print(printable(f"submission {sub.id} at {format_duration(sub.active_s)}: {verdict}  {score}{sub.message}"))


def status_lines(status, visible: bool = True) -> list[str]:
    """The trial's state and clock as lines: active, remaining, paused and why, wall backstop, best score."""
    t = status.trial
    state = t.status + (f", paused: {status.pause.reason}" if status.pause else "")
    if t.end_reason:
        state += f" ({t.end_reason})"
    best_text = f"best score {_num(shown_best(t, status.best, True), 3)}" if visible else f"{HIDDEN_SCORES};"
    return [
        printable(f"trial {t.id}: {t.environment}:{t.variant}, {t.participant} — {state}"),
        f"active {format_duration(status.active_s)} of {format_duration(t.budget_s)}, "
        f"remaining {format_duration(status.remaining_s)}; wall {format_duration(status.wall_s)} "
        f"(backstop in {format_duration(status.backstop_remaining_s)})",
        f"{best_text} over {status.submissions} submissions",
    ]


def submissions_table(submissions, visible: bool = True) -> Table:
    """A trial's submissions: id, active time, verdict, scores (when visible), final flag, message."""
    columns = ["id", "active", "verdict"] + (["raw", "normalized"] if visible else []) + ["final", "message"]
    table = Table(*columns)
    for sub in submissions:
        verdict = "valid" if sub.valid else f"INVALID ({sub.reason})"
        scores = [_num(sub.raw), _num(sub.normalized, 3)] if visible else []
        message = participant_message(sub, visible)
        table.add_row(str(sub.id), format_duration(sub.active_s), plain(verdict), *scores, "yes" if sub.final else "",
                      plain(message))
    return table


def print_task_status(status, submissions, visible: bool = True, console: Console | None = None) -> None:
    """The clock lines then a table of submissions (the `rearena task status` view)."""
    console = console or make_console()
    for line in status_lines(status, visible):
        console.print(line, markup=False, highlight=False)
    if submissions:
        console.print(submissions_table(submissions, visible))
