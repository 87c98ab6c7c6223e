"""The rubric of a rubric-graded trial as a tree: weights, scores, the judge's explanations, and manual grades."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, Tree

from console.ui.write_errors import WRITE_ERRORS, write_problem


UNREADABLE = (OSError, ValueError, RecursionError)  # a missing or unreadable file, bad JSON, a bad rubric or grades


def _score(value) -> str:
    return "—" if value is None else f"{value:.2f}"


class RubricScreen(Screen):
    """Browse the rubric tree; grade or override any leaf (the judge's grade is kept beside yours)."""

    BINDINGS = [
        Binding("1", "grade(1)", "Pass leaf", id="rubric.pass"),
        Binding("0", "grade(0)", "Fail leaf", id="rubric.fail"),
        Binding("c", "clear", "Clear override", id="rubric.clear"),
        Binding("escape", "app.pop_screen", "Back", id="rubric.back"),
    ]

    def __init__(self, trial_id: int, rubric_path: Path, grades_dir: Path):
        super().__init__()
        self.trial_id = trial_id
        self.rubric_path = rubric_path
        self.grades_dir = grades_dir
        self.grader = ""
        self.result = None
        self.grades_problem = ""  # why the saved grades could not be read ("" when they could)
        self.rows: dict = {}

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        yield Static("", id="rubric-total")
        with Horizontal():
            yield Tree("rubric", id="rubric-tree")
            with VerticalScroll(id="leaf-box"):
                yield Static("", id="leaf")
        yield Footer()

    def on_mount(self) -> None:
        from scoring.rubric.model import load_rubric

        self.sub_title = f"rubric · trial {self.trial_id}"
        try:
            self.rubric = load_rubric(self.rubric_path)
        except UNREADABLE as exc:  # the environment's rubric.json: nothing to show, the trial screen stays
            self.app.pop_screen()
            self.app.notify(f"The rubric {self.rubric_path} cannot be read: {exc}", title="No rubric",
                            severity="error", markup=False, timeout=20)
            return
        try:
            self.result = self._load_result()
        except UNREADABLE as exc:  # the file is kept as it is: grading stays off so that nothing overwrites it
            self.grades_problem = f"The grades cannot be read: {exc}"
            self.notify(f"{self.grades_problem}. The rubric is shown without grades; fix or move that file "
                        "to grade.", title="Grades unreadable", severity="error", markup=False, timeout=20)
        self._build_tree()

    def _load_result(self):
        """Saved grades beside the trial, else the latest graded submission's (saved there on first use)."""
        import json

        from scoring.rubric.grading import GRADES_FILE, grades_from_dict, load_grades

        saved = self.grades_dir / GRADES_FILE
        if not saved.exists():
            graded = [s for s in self.app.store.submissions(self.trial_id) if s.details.get("rubric_grades")]
            if not graded:
                return None
            grades = graded[-1].details["rubric_grades"]
            try:
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved.write_text(json.dumps(grades))
            except OSError as exc:  # a full disk, a read-only folder: show the grades, say they cannot be kept
                self.notify(f"Cannot save the grades beside the trial ({saved}): {write_problem(exc)}. They are "
                            "shown from the submission; your grades cannot be saved until this is fixed.",
                            title="Grades not saved", severity="error", markup=False, timeout=20)
                return grades_from_dict(grades, self.rubric)
        return load_grades(saved, self.rubric)

    def _build_tree(self) -> None:
        from scoring.rubric.view import tree_rows

        tree = self.query_one(Tree)
        tree.clear()
        tree.root.expand()
        parents = {0: tree.root}
        self.rows = {}
        for row in tree_rows(self.rubric, self.result):
            self.rows[row["id"]] = row
            label = self._label(row)
            parent = parents[row["depth"]]
            if row["leaf"]:
                parent.add_leaf(label, data=row["id"])
            else:
                node = parent if row["depth"] == 0 else parent.add(label, data=row["id"], expand=True)
                if row["depth"] == 0:
                    tree.root.set_label(label)
                    tree.root.data = row["id"]
                parents[row["depth"] + 1] = node
        total = None if self.result is None else self.result.score
        graded = "not graded yet: score the trial first" if self.result is None else "effective score"
        self.query_one("#rubric-total", Static).update(f"rubric score {_score(total)} ({graded}) · "
                                                       f"1/0 grade the highlighted leaf, c clears your grade")

    def _label(self, row) -> Text:
        text = Text(f"{row['id']} ")
        text.append(f"{row['share'] * 100:.0f}% ", style="dim")
        if row["category"]:
            text.append(f"[{row['category']}] ", style="italic")
        score = row["score"]
        text.append(_score(score), style="green" if score == 1 else "red" if score == 0 else "yellow")
        if row.get("override"):
            text.append(" (yours)", style="bold")
        return text

    @on(Tree.NodeHighlighted)
    def _show_leaf(self, event: Tree.NodeHighlighted) -> None:
        row = self.rows.get(event.node.data)
        if row is None:
            return
        lines = [f"{row['id']} — weight {row['weight']:g} ({row['share'] * 100:.0f}% of its parent)",
                 f"category: {row['category'] or '-'} · score {_score(row['score'])}", "", row["requirements"]]
        judge, override = row.get("judge"), row.get("override")
        if judge:
            lines += ["", f"judge: {judge['score']} ({judge['source']}) {judge['reason']}", judge["explanation"]]
        if override:
            lines += ["", f"override by {override['person']}: {override['score']} {override.get('note', '')}"]
        self.query_one("#leaf", Static).update(Text("\n".join(lines)))

    def _leaf_id(self) -> str | None:
        node = self.query_one(Tree).cursor_node
        row = self.rows.get(node.data) if node is not None else None
        return row["id"] if row and row["leaf"] else None

    def action_grade(self, score: int) -> None:
        """Grade the highlighted leaf yourself (asks your name once)."""
        leaf = self._leaf_id()
        if self.grades_problem:
            self.notify(f"{self.grades_problem}. Nothing was changed.", severity="error", markup=False)
            return
        if leaf is None or self.result is None:
            self.notify("Highlight a leaf of a graded rubric first.", severity="warning")
            return
        if not self.grader:
            from console.ui.screens.dialogs import PromptScreen

            def named(name: str | None) -> None:
                if name:
                    self.grader = name
                    self.action_grade(score)

            self.app.push_screen(PromptScreen("Your name (recorded with your grades)"), named)
            return
        self._override(leaf, score)

    def _override(self, leaf: str, score: int | None) -> None:
        from scoring.rubric.grading import save_grades

        record = self.result.leaves[leaf]
        before, previous = record.judge, record.override
        if score is None:
            self.result.clear_override(leaf)
        else:
            self.result.set_override(leaf, self.grader, score, at=self.app.clock())
        try:
            save_grades(self.result, self.grades_dir)
        except WRITE_ERRORS as exc:  # not saved: the screen shows what is on disk, and stays
            record.override = previous
            self.notify(f"Cannot save your grade of {leaf}: {write_problem(exc)}. Nothing was changed.",
                        title="Grade not saved", severity="error", markup=False, timeout=15)
            return
        try:
            self.app.service.event(self.trial_id, "grade_override", {
                "leaf": leaf, "person": self.grader, "score": score,
                "judge_score": None if before is None else before.score, "rubric_score": self.result.score})
        except WRITE_ERRORS as exc:  # the grade is saved; only its record in the trial's events is missing
            self.notify(f"Your grade of {leaf} is saved, but not recorded in the trial's events: "
                        f"{write_problem(exc)}.", title="Grade not recorded", severity="warning", markup=False,
                        timeout=15)
        self._build_tree()
        self.notify(f"{leaf}: {'cleared' if score is None else score} · rubric score {_score(self.result.score)}")

    def action_clear(self) -> None:
        """Remove your grade of the highlighted leaf (the judge's grade counts again)."""
        leaf = self._leaf_id()
        if leaf is not None and self.result is not None:
            self._override(leaf, None)

