"""Plain-text rendering of verdicts, environments and trials for the command line (rich, no Textual)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from console.trials.clock import format_duration
from console.trials.hidden import participant_message


def _num(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def verdict_table(result) -> Table:
    """The verdict of one scoring run as a two-column table."""
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    verdict = "[green]VALID[/green]" if result.valid else f"[red]INVALID[/red] ({result.reason})"
    table.add_row("environment", f"{result.environment}:{result.variant}")
    table.add_row("verdict", verdict)
    table.add_row("message", result.message)
    table.add_row("raw score", _num(result.raw))
    table.add_row("normalized", _num(result.normalized, 3) + ("  (0 = starting, 1 = reference)" if result.valid else ""))
    cal = result.calibration or {}
    if cal:
        where = cal.get("hardware") or "manifest default"
        where += f", digest {cal['digest']}" if cal.get("digest") else ""  # only a current one is ever used
        table.add_row("calibration", f"start {cal['start']:.4f}, reference {cal['reference']:.4f} ({cal['source']}: {where})")
    table.add_row("duration", f"{result.duration_s:.2f} s (candidate {result.details.get('candidate_seconds', 0.0):.2f} s)")
    return table


def make_console() -> Console:
    """A rich console; wide when the output is not a terminal, so scripts see whole names."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=200, soft_wrap=True)


def print_verdict(result, console: Console | None = None) -> None:
    """Print a verdict table."""
    (console or make_console()).print(verdict_table(result))


def environments_table(registry) -> Table:
    """All environments: name, title, variants, budget, hardware."""
    table = Table("name", "title", "variants", "budget", "hardware", "metric")
    for env in sorted(registry.environments.values(), key=lambda e: e.name):
        hw = f"{env.hardware.cpus} cpu, {env.hardware.memory_gb:g} GB" + (", GPU" if env.hardware.gpu else "")
        table.add_row(env.name, env.title, ", ".join(sorted(env.variants)), f"{env.budget_hours:g} h", hw,
                      f"{env.metric.name} ({env.metric.direction} is better)")
    return table


def trials_table(rows) -> Table:
    """Trials with participant, status, best score and active time; rows are TrialStatus."""
    table = Table("id", "environment", "participant", "status", "active", "budget", "best", "subs")
    for st in rows:
        t = st.trial
        status = t.status + (f" ({st.pause.reason})" if st.pause else "") + (f" ({t.end_reason})" if t.end_reason else "")
        best = st.best if t.final_score is None else t.final_score
        table.add_row(str(t.id), f"{t.environment}:{t.variant}", t.participant, status, format_duration(st.active_s),
                      format_duration(t.budget_s), _num(best, 3), str(st.submissions))
    return table


def finite_or_none(value):
    """JSON-safe number."""
    return value if value is None or math.isfinite(value) else None


def print_verdict_row(sub, visible: bool = True) -> None:
    """One line for a recorded submission."""
    verdict = "valid" if sub.valid else f"INVALID ({sub.reason})"
    score = f"raw {_num(sub.raw)}  normalized {_num(sub.normalized, 3)}  " if visible else ""
    print(f"submission {sub.id} at {format_duration(sub.active_s)}: {verdict}  {score}{sub.message}")


def status_lines(status, visible: bool = True) -> list[str]:
    """The trial's state and clock as lines: active, remaining, paused and why, wall backstop, best score."""
    t = status.trial
    state = t.status + (f", paused: {status.pause.reason}" if status.pause else "")
    if t.end_reason:
        state += f" ({t.end_reason})"
    best = t.final_score if t.final_score is not None else status.best
    best_text = f"best score {_num(best, 3)}" if visible else "scores are hidden in this environment;"
    return [
        f"trial {t.id}: {t.environment}:{t.variant}, {t.participant} — {state}",
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
        table.add_row(str(sub.id), format_duration(sub.active_s), verdict, *scores, "yes" if sub.final else "",
                      message)
    return table


def print_task_status(status, submissions, visible: bool = True, console: Console | None = None) -> None:
    """The clock lines then a table of submissions (the `rearena task status` view)."""
    console = console or make_console()
    for line in status_lines(status, visible):
        console.print(line, markup=False, highlight=False)
    if submissions:
        console.print(submissions_table(submissions, visible))
