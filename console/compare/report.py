"""`rearena report`: per group, final scores, score@k at equal total time, curves; as data, text and CSV."""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from console.compare.groups import Group, LeftOut, TrialCurve
from console.compare.scoreatk import (
    BUDGET_SLACK, START_SCORE, ScoreAtK, default_totals, mean_and_sd, mean_curve, score_at_k_grid,
)  # fmt: skip
from console.trials.clock import format_duration

DEFAULT_KS = (1, 2, 4, 8)
RULES = {
    "trial_score": "best valid normalized score so far (RE-Bench); 0 = starting solution, 1 = reference",
    "floor": f"the starting solution counts as a valid score of {START_SCORE} from time 0: a trial with no "
             "valid score by the cut-off, or only scores below it, scores 0 in curves, score@k and final stats",
    "score_at_k": "expected best of k trials drawn without replacement from the group's trials whose budget is "
                  "T/k or more (n), each truncated at T/k of active time; exact over all C(n, k) subsets",
    "not_used": "a cell does not use a trial whose budget is under T/k, nor one not finished (with "
                "--include-running) that has not yet reached T/k of active time; not_used says how many",
    "left_out": "trials that never ran (never started, ended before their clock started, sandbox or workdir "
                "failures) are left out everywhere, as are agent trials whose run failed (api_error, agent_error, "
                "agent_gone; Inspect: error) or that were stopped (stopped) before any model response, tool call "
                "or submission: not a 0 score; so are trials not finished, unless --include-running, and even "
                "then a running trial of an environment that hides scores (its environment hides scores while "
                "it runs)",
    "failed_runs": "an agent trial whose run failed after it made progress keeps the score it had reached (an "
                   "agent that ran and did not improve scores 0); failed_runs says how many of a group's did",
    "spread": "sd: standard deviation of the best of k over all k-subsets (for k = 1: of the trials' "
              "scores, population sd); p10/p90: percentiles of that distribution",
    "final_sd": "sample standard deviation (n - 1) of the trials' final scores",
}  # fmt: skip


def _finite(x: float | None) -> float | None:
    return x if x is None or math.isfinite(x) else None


def _submission(s) -> dict[str, Any]:
    return {
        "id": s.id, "at": s.at, "active_s": s.active_s, "valid": s.valid, "raw": _finite(s.raw),
        "normalized": _finite(s.normalized), "final": s.final, "reason": s.reason, "message": s.message,
        "duration_s": s.duration_s, "snapshot": s.snapshot,
    }  # fmt: skip


def _trial(c: TrialCurve) -> dict[str, Any]:
    t = c.trial
    return {
        "trial_id": t.id, "participant": t.participant, "kind": t.participant_kind, "model": c.participant.model,
        "variant": t.variant, "status": t.status, "end_reason": t.end_reason, "budget_s": t.budget_s,
        "time_limit": c.budget is not None, "finished": c.finished, "failed_run": c.failed_run, "active_s": c.active_s,
        "final_score": _finite(c.best), "curve": [list(p) for p in c.curve],
        "submissions": [_submission(s) for s in c.submissions],
    }  # fmt: skip


def _not_used_why(group: Group, per_trial_s: float) -> str:
    """Why a cell with this T/k leaves some of the group's trials out, in words ("" when it uses them all)."""
    short = [c for c in group.trials if c.usable_s + BUDGET_SLACK < per_trial_s]
    running = sum(1 for c in short if not c.finished and (c.budget is None or c.budget + BUDGET_SLACK >= per_trial_s))
    parts = [f"{len(short) - running} with a budget under T/k"] if len(short) > running else []
    parts += [f"{running} not finished, short of T/k so far"] if running else []
    return "; ".join(parts)


def _cell(cell: ScoreAtK, group: Group) -> dict[str, Any]:
    b = cell.best
    count = len(group.trials) - cell.used  # score_at_k_grid was given each trial's usable_s as its budget
    why_not = _not_used_why(group, cell.per_trial_s) if count else ""
    out: dict[str, Any] = {"total_s": cell.total_s, "k": cell.k, "per_trial_s": cell.per_trial_s,
                           "not_used": count, "not_used_why": why_not}  # fmt: skip
    if b is None:
        return {**out, "mean": None, "sd": None, "p10": None, "p90": None, "n": None, "why": cell.why}
    return {**out, "mean": _finite(b.mean), "sd": _finite(b.sd), "p10": b.p10, "p90": b.p90, "n": b.n}


def _final_stats(group: Group) -> dict[str, Any]:
    finals = [START_SCORE if c.best is None else max(START_SCORE, c.best) for c in group.trials]
    budgets = sorted({c.budget for c in group.trials}, key=lambda b: math.inf if b is None else b)
    failed: dict[str, int] = {}
    for c in group.trials:
        if c.failed_run:
            failed[c.trial.end_reason] = failed.get(c.trial.end_reason, 0) + 1
    out = {"budgets_s": budgets, "mixed_budgets": len(budgets) > 1,
           "unfinished": sum(1 for c in group.trials if not c.finished),
           "failed_runs": sum(failed.values()), "failed_run_reasons": dict(sorted(failed.items()))}  # fmt: skip
    if not finals:
        return {**out, "mean": None, "sd": None, "min": None, "max": None}
    n = len(finals)
    mean, pop_sd = mean_and_sd(finals, [1.0 / n] * n)
    sd = _finite(pop_sd * math.sqrt(n / (n - 1))) if n > 1 else None  # the sample sd (n - 1)
    return {**out, "mean": mean, "sd": sd, "min": min(finals), "max": max(finals)}


def _base_budget(groups: list[Group]) -> float:
    """The budget the T grid is built around: the longest budget; without any, the longest trial."""
    budgets = [c.budget for g in groups for c in g.trials if c.budget is not None]
    return max(budgets or [c.active_s for g in groups for c in g.trials] or [0.0])


def _left_out(entry: LeftOut) -> dict[str, Any]:
    t = entry.trial
    return {"trial_id": t.id, "participant": t.participant, "kind": t.participant_kind, "status": t.status,
            "end_reason": t.end_reason, "why": entry.why}  # fmt: skip


def build_report(environment: str, groups: list[Group], total_s: float | None = None, ks=DEFAULT_KS,
                 variant: str | None = None, left_out: int | Sequence[LeftOut] = 0) -> dict[str, Any]:  # fmt: skip
    """The whole report as JSON-ready data: rules, and per group stats, score@k grid, curves, submissions;
    left_out: the trials load_groups left out (or just how many)."""
    base = _base_budget(groups)
    total = float(total_s) if total_s else base
    totals = sorted(set(default_totals(base) + [total])) if base else []
    out_groups = []
    for g in groups:
        curves = [list(c.curve) for c in g.trials]
        usable = [c.usable_s for c in g.trials]
        out_groups.append({
            "key": g.key, "label": g.label, "kind": g.kind, "model": g.model, "variant": g.variant,
            "settings_hash": g.settings_hash, "settings": g.settings, "n": len(g.trials),
            "final": _final_stats(g),
            "score_at_k": [_cell(c, g) for c in score_at_k_grid(curves, totals, ks, usable)],
            "mean_curve": [list(p) for p in mean_curve(curves, usable)],
            "trials": [_trial(c) for c in g.trials],
        })  # fmt: skip
    entries = [] if isinstance(left_out, int) else [_left_out(e) for e in left_out]
    return {
        "environment": environment, "variant": variant, "generated_at": time.time(), "total_s": total,
        "budget_s": base, "ks": list(ks), "totals_s": totals, "rules": RULES,
        "left_out_trials": left_out if isinstance(left_out, int) else len(entries), "left_out": entries,
        "groups": out_groups,
    }  # fmt: skip


def cells_at(group: dict[str, Any], total_s: float) -> dict[int, dict[str, Any]]:
    """A group's score@k cells at one total time, by k."""
    return {c["k"]: c for c in group["score_at_k"] if math.isclose(c["total_s"], total_s)}


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}f}" if abs(x) < 1e6 else f"{x:.{digits}g}"  # a huge stored score stays one short word


def _durations(budgets: list[float | None]) -> str:
    return ", ".join("no limit" if b is None else format_duration(b) for b in budgets)


def _print_left_out(report: dict[str, Any], console, shown: int = 10) -> None:
    from console.render import plain

    count = report["left_out_trials"]
    if not count:
        return
    console.print(f"{count} trial(s) left out:" if report["left_out"] else f"{count} trial(s) left out")
    for e in report["left_out"][:shown]:
        console.print(plain(f"  trial {e['trial_id']} ({e['participant']}): {e['why']}"))
    if len(report["left_out"]) > shown:
        console.print(f"  ... and {len(report['left_out']) - shown} more (--json lists them all)")


def _print_group_notes(report: dict[str, Any], console) -> None:
    from console.render import plain

    for g in report["groups"]:
        f, label = g["final"], g["label"]
        if f["mixed_budgets"]:
            console.print(plain(f"note: {label} mixes budgets ({_durations(f['budgets_s'])}): its final scores "
                                "compare trials of different lengths; score@k uses the trials whose budget is T/k "
                                "or more"))  # fmt: skip
        if f.get("failed_runs"):
            reasons = ", ".join(f"{n} {r}" for r, n in f["failed_run_reasons"].items())
            console.print(plain(f"note: {label}: {f['failed_runs']} of its {g['n']} trial(s) ended because the run "
                                f"failed ({reasons}) after making progress: each counts with the score it had "
                                "reached"))  # fmt: skip
        if f["unfinished"]:
            console.print(plain(f"note: {label} has {f['unfinished']} trial(s) not finished: their final score is "
                                "their best so far, and score@k uses them only up to their active time so far"))


def render_text(report: dict[str, Any], console) -> None:
    """Print the report: groups with final scores, score@k at T, score@k over the T grid, a curve plot.

    Group labels hold agents' model names (any text): they are shown as written (console.render.plain)."""
    from rich.table import Table
    from rich.text import Text

    from console.compare.textplot import plot_curves
    from console.render import plain, printable

    env = report["environment"] + (f":{report['variant']}" if report["variant"] else "")
    console.print(Text.assemble(plain(env, style="bold"), f": {sum(g['n'] for g in report['groups'])} trials in "
                                f"{len(report['groups'])} groups (scores: 0 = starting solution, 1 = reference)"))
    _print_left_out(report, console)
    if not report["groups"]:
        console.print("no ended trials to compare")
        return
    summary = Table("group", "n", "final mean", "sd", "min", "max",
                    title="final scores (best valid; none, or below the start, = 0)")
    for g in report["groups"]:
        f = g["final"]
        summary.add_row(plain(g["label"]), str(g["n"]), _fmt(f["mean"]), _fmt(f["sd"]), _fmt(f["min"]), _fmt(f["max"]))
    console.print(summary)
    _print_group_notes(report, console)
    ks, total = report["ks"], report["total_s"]
    table = Table("group", *[f"k={k} (T/k {format_duration(total / k)})" for k in ks],
                  title=Text(f"score@k at equal total time T = {format_duration(total)}: mean ± sd [p10, p90]"))
    for g in report["groups"]:
        cells = cells_at(g, total)
        table.add_row(plain(g["label"]), *[plain(_cell_text(cells.get(k), g["n"])) for k in ks])
    console.print(table)
    grid = Table("T", title="best score@k over k in " + ", ".join(map(str, ks)) + " at each total time T (k)")
    for g in report["groups"]:
        grid.add_column(plain(g["label"]))
    for t in report["totals_s"]:
        row = []
        for g in report["groups"]:
            best = max((c for c in cells_at(g, t).values() if c["mean"] is not None),
                       key=lambda c: c["mean"], default=None)  # fmt: skip
            row.append("-" if best is None else f"{_fmt(best['mean'])} (k={best['k']}{_of_n(best, g['n'])})")
        grid.add_row(format_duration(t), *row)
    console.print(grid)
    if any(c["not_used"] for g in report["groups"] for c in g["score_at_k"]):
        console.print("n=m of N: the cell uses the m trials whose budget is T/k or more (and, not finished, that "
                      "have reached T/k so far); the others cannot be cut at T/k")
    series = [(printable(g["label"]), [tuple(p) for p in g["mean_curve"]]) for g in report["groups"]]
    end = max((t["active_s"] for g in report["groups"] for t in g["trials"]), default=0.0)
    console.print(plot_curves(series, end, title="mean best-so-far (score@1) against active time"),
                  markup=False, highlight=False)


def _of_n(cell: dict[str, Any], n: int) -> str:
    return f", n={n - cell['not_used']} of {n}" if cell["not_used"] else ""


def _cell_text(cell: dict[str, Any] | None, n: int) -> str:
    if cell is None:
        return "-"
    if cell["mean"] is None:
        return f"- ({cell['why']})"
    of_n = f" (n={cell['n']} of {n})" if cell["not_used"] else ""
    return f"{_fmt(cell['mean'])} ± {_fmt(cell['sd'])} [{_fmt(cell['p10'], 2)}, {_fmt(cell['p90'], 2)}]{of_n}"


def csv_paths(path: Path) -> tuple[Path, Path, Path]:
    """The three CSV files written for --csv FILE: FILE (curves), FILE-submissions, FILE-score_at_k."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() == ".csv" else path
    return path, Path(f"{stem}-submissions.csv"), Path(f"{stem}-score_at_k.csv")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell that a spreadsheet will not run: text that starts like a formula gets a leading
    quote (numbers, and text that is a number, stay as they are)."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


class _SafeWriter:
    """csv.writer whose text cells are neutralised by csv_cell (model names and messages are any text)."""

    def __init__(self, f) -> None:
        self.writer = csv.writer(f)

    def writerow(self, row: list[Any]) -> None:
        self.writer.writerow([csv_cell(v) for v in row])


def write_csv(report: dict[str, Any], path: Path) -> list[Path]:
    """Write every curve point, every submission and the score@k grid as CSV; returns the paths."""
    curves_path, subs_path, cells_path = csv_paths(path)
    with open(curves_path, "w", newline="") as f:
        w = _SafeWriter(f)
        w.writerow(["group", "trial_id", "participant", "kind", "model", "active_s", "best_so_far"])
        for g in report["groups"]:
            for t in g["trials"]:
                for at, best in t["curve"]:
                    w.writerow([g["label"], t["trial_id"], t["participant"], t["kind"], t["model"], at, best])
            for at, mean in g["mean_curve"]:
                w.writerow([g["label"], "mean", "", g["kind"], g["model"], at, mean])
    with open(subs_path, "w", newline="") as f:
        w = _SafeWriter(f)
        keys = ["id", "at", "active_s", "valid", "raw", "normalized", "final", "reason", "message", "duration_s",
                "snapshot"]  # fmt: skip
        w.writerow(["group", "trial_id", "participant", "kind", "model", *keys])
        for g in report["groups"]:
            for t in g["trials"]:
                for s in t["submissions"]:
                    w.writerow([g["label"], t["trial_id"], t["participant"], t["kind"], t["model"],
                                *[s[k] for k in keys]])  # fmt: skip
    with open(cells_path, "w", newline="") as f:
        w = _SafeWriter(f)
        keys = ["total_s", "k", "per_trial_s", "mean", "sd", "p10", "p90", "n", "not_used"]
        w.writerow(["group", *keys, "why"])
        for g in report["groups"]:
            for c in g["score_at_k"]:
                w.writerow([g["label"], *[c[k] for k in keys], c.get("why") or c.get("not_used_why", "")])
    return [curves_path, subs_path, cells_path]
