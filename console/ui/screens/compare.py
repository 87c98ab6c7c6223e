"""Comparison of groups (humans; each agent model and settings) on one environment: curves and score@k."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual_plotext import PlotextPlot

from console.render import table_cell
from console.trials.clock import format_duration


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class CompareScreen(Screen):
    """The same report as `rearena report ENV`, in the console."""

    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="compare.refresh"),
        Binding("i", "toggle_running", "Include running", id="compare.running"),
        Binding("escape", "app.pop_screen", "Back", id="compare.back"),
    ]

    def __init__(self, environment: str):
        super().__init__()
        self.environment = environment
        self.include_running = False
        self.report: dict = {}

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        with VerticalScroll():
            yield Static("", id="compare-summary")
            yield DataTable(id="groups", cursor_type="row")
            yield Static("", id="scoreatk-title", classes="section")
            yield DataTable(id="scoreatk", cursor_type="row")
            yield PlotextPlot(id="curves")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"compare · {self.environment}"
        self.query_one("#groups", DataTable).add_columns("group", "kind", "trials", "mean final", "sd", "min",
                                                          "max")
        self.query_one("#curves", PlotextPlot).styles.height = 18
        self.action_refresh()

    def action_toggle_running(self) -> None:
        """Count trials that have not ended yet, or not."""
        self.include_running = not self.include_running
        self.action_refresh()

    def action_refresh(self) -> None:
        """Recompute the report from the store."""
        from console.compare.groups import load_groups
        from console.compare.report import build_report, cells_at
        from console.trials.hidden import inside_trial, scores_visible

        # a running trial whose environment hides scores is left out (console.trials.hidden)
        groups, left_out = load_groups(self.app.store, self.environment, include_running=self.include_running,
                                       visible=scores_visible(self.app.registry, self.environment),
                                       participant=inside_trial())
        self.report = build_report(self.environment, groups, left_out=len(left_out))
        report = self.report
        self.query_one("#compare-summary", Static).update(Text(  # group labels hold "[digest]": not markup
            f"{self.environment}: {sum(g['n'] for g in report['groups'])} trials in {len(report['groups'])} "
            f"groups; {report['left_out_trials']} not counted (never ran, a run that failed or was stopped before "
            f"it did anything, not ended{'' if self.include_running else ': press i to include running ones'}, or "
            f"its scores are hidden while it runs). "
            f"score@k = expected best of k trials of budget T/k at equal total time T.{_failed_note(report)}"))
        table = self.query_one("#groups", DataTable)
        table.clear()
        for g in report["groups"]:
            f = g["final"]
            table.add_row(table_cell(g["label"]), g["kind"], str(g["n"]), _fmt(f["mean"]), _fmt(f["sd"]),
                          _fmt(f["min"]), _fmt(f["max"]))
        total = report["total_s"]
        self.query_one("#scoreatk-title", Static).update(f"score@k at total time T = {format_duration(total)}")
        sak = self.query_one("#scoreatk", DataTable)
        sak.clear(columns=True)
        sak.add_columns("group", *[f"k={k}" for k in report["ks"]])
        for g in report["groups"]:
            cells = cells_at(g, total)
            row = []
            for k in report["ks"]:
                cell = cells.get(k)
                mean = cell.get("mean") if cell else None
                sd = cell.get("sd") if cell else None
                row.append("-" if mean is None else f"{mean:.3f} ± {_fmt(sd, 2)}")
            sak.add_row(table_cell(g["label"]), *row)  # "model [digest]": not markup
        self._plot()

    def _plot(self) -> None:
        plot = self.query_one("#curves", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("mean best-so-far score vs active hours, per group")
        for g in self.report.get("groups", []):
            curve = g["mean_curve"]
            if curve:
                plt.plot([t / 3600 for t, _ in curve], [s for _, s in curve], label=g["label"][:30])
        budget = max(self.report.get("budget_s") or 0.0, 1.0) / 3600
        plt.plot([0, budget], [1.0, 1.0], color="green", label="reference = 1")
        plt.plot([0, budget], [0.0, 0.0], color="red", label="start = 0")
        plot.refresh()


def _failed_note(report) -> str:
    """" N of a group's trials ended because the run failed after making progress (kept)", per group that has any."""
    notes = [f"{g['label']}: {g['final']['failed_runs']} of {g['n']}" for g in report["groups"]
             if g["final"].get("failed_runs")]
    return f" Runs that failed after making progress (kept, score as reached): {'; '.join(notes)}." if notes else ""
