"""Grades read back from a dict in memory (a submission's details) as from a grades file, and bad ones named."""

from __future__ import annotations

import copy
import json

import pytest

from scoring.rubric.grading import (GradesError, GradingResult, LeafRecord, ReproduceResult, grades_from_dict,
                                    load_grades, save_grades)
from scoring.rubric.judge import Grade
from scoring.rubric.model import RubricError, parse_rubric

RUBRIC = {"id": "root", "requirements": "Replicate it", "weight": 1, "children": [
    {"id": "sgd", "requirements": "Implements SGD update", "weight": 1, "category": "code_development"},
    {"id": "adam", "requirements": "Implements Adam update", "weight": 1, "category": "code_development"},
    {"id": "runs", "requirements": "reproduce.sh runs", "weight": 2, "category": "code_execution"}]}


def graded() -> dict:
    """Grades as save_grades writes them: a judge's grade per leaf, a person's override, a reproduction."""
    rubric = parse_rubric(RUBRIC)
    leaves = {leaf.id: LeafRecord(leaf.id, Grade(leaf.id, 1, f"ok: {leaf.id}", cost_usd=0.01))
              for leaf in rubric.leaves()}
    result = GradingResult(rubric, leaves, reproduce=ReproduceResult(True, 0, False, 1.5, "trained\n"))
    result.set_override("adam", "alice", 0, note="no bias correction", at=123.0)
    return json.loads(json.dumps(result.to_dict()))  # as it comes back from a store or a file


def test_a_dict_reads_as_the_same_grades_saved_to_a_file(tmp_path):
    data = graded()
    before = copy.deepcopy(data)
    result = grades_from_dict(data)
    assert data == before  # the submission's details are not changed
    assert result.leaf_scores() == {"sgd": 1, "adam": 0, "runs": 1}
    assert result.score == pytest.approx(0.75)
    adam = result.leaves["adam"]
    assert adam.judge.score == 1 and adam.judge.cost_usd == 0.01
    assert (adam.override.person, adam.override.at, adam.override.note) == ("alice", 123.0, "no bias correction")
    assert result.reproduce.ok and result.reproduce.log == "trained\n" and result.mode == "full"
    from_file = load_grades(save_grades(result, tmp_path))
    assert from_file.to_dict() == result.to_dict()


def test_a_given_rubric_is_used_and_leaves_it_lacks_are_ungraded():
    data = graded()
    del data["leaves"]["runs"]
    rubric = parse_rubric(RUBRIC)
    result = grades_from_dict(data, rubric)
    assert result.rubric is rubric
    assert result.leaves["runs"].judge is None and result.leaves["runs"].effective is None


def _set(data: dict, path: list, value) -> dict:
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize("path, value, told", [
    ([], ["not", "grades"], "grades: expected an object, got a list"),
    (["leaves"], ["sgd"], "grades: 'leaves' is an object keyed by leaf id, got a list"),
    (["leaves", "sgd"], "pass", "grades: leaves['sgd'] is an object, got a string"),
    (["leaves", "sgd", "judge"], 1, "grades: leaves['sgd'].judge is an object, got a number"),
    (["leaves", "sgd", "judge", "grade"], 1, "grades: leaves['sgd'].judge has unknown field(s) 'grade'"),
    (["leaves", "sgd", "judge", "score"], 7, "grades: leaves['sgd'].judge: 'score' is 0, 1 or null, got 7"),
    (["leaves", "adam", "override"], {"person": "alice", "at": 1.0},
     "grades: leaves['adam'].override lacks 'score'"),
    (["leaves", "adam", "override", "score"], True,
     "grades: leaves['adam'].override: 'score' is 0 or 1, got True"),
    (["reproduce"], {"ran": True, "exit_code": 0}, "grades: 'reproduce' lacks 'timed_out', 'duration_s'"),
    (["reproduce"], "yes", "grades: 'reproduce' is an object, got a string"),
    (["mode"], "fast", "grades: 'mode' is 'full' or 'code_only', got 'fast'"),
])
def test_bad_grades_say_which_field_is_wrong(path, value, told):
    data = value if not path else _set(graded(), path, value)
    with pytest.raises(GradesError) as caught:
        grades_from_dict(data)
    assert str(caught.value) == told


def test_grades_without_a_rubric_say_so():
    data = graded()
    del data["rubric"]
    with pytest.raises(GradesError, match="no 'rubric' is stored and none was given"):
        grades_from_dict(data)
    assert grades_from_dict(data, parse_rubric(RUBRIC)).score == pytest.approx(0.75)  # given one, they read


def test_a_bad_stored_rubric_names_its_problem_and_where_it_came_from():
    data = graded()
    data["rubric"]["children"][0]["weight"] = "heavy"
    with pytest.raises(RubricError, match=r"^from submission 3: .*sgd.*weight"):
        grades_from_dict(data, source="from submission 3")


def test_a_bad_grades_file_is_named_in_the_message(tmp_path):
    path = tmp_path / "rubric_grades.json"
    path.write_text(json.dumps(_set(graded(), ["leaves", "sgd", "judge", "grade"], 1)))
    with pytest.raises(GradesError, match=r"rubric_grades\.json: leaves\['sgd'\]\.judge has unknown field"):
        load_grades(tmp_path)
