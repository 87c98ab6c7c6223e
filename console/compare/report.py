"""`rearena report`: per group, final scores, score@k at equal total time, curves; as data, text and CSV."""

from __future__ import annotations

import csv
import math
import statistics
import time
from pathlib import Path
from typing import Any

from console.compare.groups import Group, TrialCurve
from console.compare.scoreatk import START_SCORE, ScoreAtK, default_totals, mean_curve, score_at_k_grid
from console.trials.clock import format_duration

DEFAULT_KS = (1, 2, 4, 8)
RULES = {
    "trial_score": "best valid normalized score so far (RE-Bench); 0 = starting solution, 1 = reference",
    "floor": f"the starting solution counts as a valid score of {START_SCORE} from time 0: a trial with no "
             "valid score by the cut-off, or only scores below it, scores 0 in curves, score@k and final stats",
    "score_at_k": "expected best of k trials drawn without replacement from the group's n trials, each "
                  "truncated at T/k of active time; exact over all C(n, k) subsets",
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
        "active_s": c.active_s, "final_score": _finite(c.best), "curve": [list(p) for p in c.curve],
        "submissions": [_submission(s) for s in c.submissions],
    }  # fmt: skip


def _cell(cell: ScoreAtK) -> dict[str, Any]:
    b = cell.best
    out: dict[str, Any] = {"total_s": cell.total_s, "k": cell.k, "per_trial_s": cell.per_trial_s}
    if b is None:
        return {**out, "mean": None, "sd": None, "p10": None, "p90": None, "n": None, "why": cell.why}
    return {**out, "mean": b.mean, "sd": b.sd, "p10": b.p10, "p90": b.p90, "n": b.n}


def _final_stats(group: Group) -> dict[str, Any]:
    finals = [START_SCORE if c.best is None else max(START_SCORE, c.best) for c in group.trials]
    if not finals:
        return {"mean": None, "sd": None, "min": None, "max": None}
    sd = statistics.stdev(finals) if len(finals) > 1 else None
    return {"mean": statistics.fmean(finals), "sd": sd, "min": min(finals), "max": max(finals)}


def build_report(environment: str, groups: list[Group], total_s: float | None = None, ks=DEFAULT_KS,
                 variant: str | None = None, left_out: int = 0) -> dict[str, Any]:  # fmt: skip
    """The whole report as JSON-ready data: rules, and per group stats, score@k grid, curves, submissions."""
    budgets = [c.trial.budget_s for g in groups for c in g.trials]
    base = max(budgets) if budgets else 0.0
    total = float(total_s) if total_s else base
    totals = sorted(set(default_totals(base) + [total])) if base else []
    out_groups = []
    for g in groups:
        curves = [list(c.curve) for c in g.trials]
        group_budgets = [c.trial.budget_s for c in g.trials]
        out_groups.append({
            "key": g.key, "label": g.label, "kind": g.kind, "model": g.model, "variant": g.variant,
            "settings_hash": g.settings_hash, "settings": g.settings, "n": len(g.trials),
            "final": _final_stats(g),
            "score_at_k": [_cell(c) for c in score_at_k_grid(curves, totals, ks, group_budgets)],
            "mean_curve": [list(p) for p in mean_curve(curves)],
            "trials": [_trial(c) for c in g.trials],
        })  # fmt: skip
    return {
        "environment": environment, "variant": variant, "generated_at": time.time(), "total_s": total,
        "budget_s": base, "ks": list(ks), "totals_s": totals, "rules": RULES, "left_out_trials": left_out,
        "groups": out_groups,
    }  # fmt: skip


def cells_at(group: dict[str, Any], total_s: float) -> dict[int, dict[str, Any]]:
    """A group's score@k cells at one total time, by k."""
    return {c["k"]: c for c in group["score_at_k"] if math.isclose(c["total_s"], total_s)}


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


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
    if report["left_out_trials"]:
        console.print(f"{report['left_out_trials']} trial(s) not ended or never started are left out")
    if not report["groups"]:
        console.print("no ended trials to compare")
        return
    summary = Table("group", "n", "final mean", "sd", "min", "max",
                    title="final scores (best valid; none, or below the start, = 0)")
    for g in report["groups"]:
        f = g["final"]
        summary.add_row(plain(g["label"]), str(g["n"]), _fmt(f["mean"]), _fmt(f["sd"]), _fmt(f["min"]), _fmt(f["max"]))
    console.print(summary)
    ks, total = report["ks"], report["total_s"]
    table = Table("group", *[f"k={k} (T/k {format_duration(total / k)})" for k in ks],
                  title=Text(f"score@k at equal total time T = {format_duration(total)}: mean ± sd [p10, p90]"))
    for g in report["groups"]:
        cells = cells_at(g, total)
        table.add_row(plain(g["label"]), *[plain(_cell_text(cells.get(k))) for k in ks])
    console.print(table)
    grid = Table("T", title="best score@k over k in " + ", ".join(map(str, ks)) + " at each total time T (k)")
    for g in report["groups"]:
        grid.add_column(plain(g["label"]))
    for t in report["totals_s"]:
        row = []
        for g in report["groups"]:
            best = max((c for c in cells_at(g, t).values() if c["mean"] is not None),
                       key=lambda c: c["mean"], default=None)  # fmt: skip
            row.append("-" if best is None else f"{best['mean']:.3f} (k={best['k']})")
        grid.add_row(format_duration(t), *row)
    console.print(grid)
    series = [(printable(g["label"]), [tuple(p) for p in g["mean_curve"]]) for g in report["groups"]]
    end = max((t["active_s"] for g in report["groups"] for t in g["trials"]), default=0.0)
    console.print(plot_curves(series, end, title="mean best-so-far (score@1) against active time"),
                  markup=False, highlight=False)


def _cell_text(cell: dict[str, Any] | None) -> str:
    if cell is None or cell["mean"] is None:
        return "-" if cell is None else f"- ({cell['why']})"
    return f"{cell['mean']:.3f} ± {cell['sd']:.3f} [{cell['p10']:.2f}, {cell['p90']:.2f}]"


def csv_paths(path: Path) -> tuple[Path, Path, Path]:
    """The three CSV files written for --csv FILE: FILE (curves), FILE-submissions, FILE-score_at_k."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() == ".csv" else path
    return path, Path(f"{stem}-submissions.csv"), Path(f"{stem}-score_at_k.csv")


def write_csv(report: dict[str, Any], path: Path) -> list[Path]:
    """Write every curve point, every submission and the score@k grid as CSV; returns the paths."""
    curves_path, subs_path, cells_path = csv_paths(path)
    with open(curves_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["group", "trial_id", "participant", "kind", "model", "active_s", "best_so_far"])
        for g in report["groups"]:
            for t in g["trials"]:
                for at, best in t["curve"]:
                    w.writerow([g["label"], t["trial_id"], t["participant"], t["kind"], t["model"], at, best])
            for at, mean in g["mean_curve"]:
                w.writerow([g["label"], "mean", "", g["kind"], g["model"], at, mean])
    with open(subs_path, "w", newline="") as f:
        w = csv.writer(f)
        keys = ["id", "at", "active_s", "valid", "raw", "normalized", "final", "reason", "message", "duration_s",
                "snapshot"]  # fmt: skip
        w.writerow(["group", "trial_id", "participant", "kind", "model", *keys])
        for g in report["groups"]:
            for t in g["trials"]:
                for s in t["submissions"]:
                    w.writerow([g["label"], t["trial_id"], t["participant"], t["kind"], t["model"],
                                *[s[k] for k in keys]])  # fmt: skip
    with open(cells_path, "w", newline="") as f:
        w = csv.writer(f)
        keys = ["total_s", "k", "per_trial_s", "mean", "sd", "p10", "p90", "n"]
        w.writerow(["group", *keys, "why"])
        for g in report["groups"]:
            for c in g["score_at_k"]:
                w.writerow([g["label"], *[c[k] for k in keys], c.get("why", "")])
    return [curves_path, subs_path, cells_path]
