"""METR Task Standard families as environments: loading, broken families, start(), scoring."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from environments.agent_home import isolation_available, run_with_agent_home
from environments.metr import (
    MetrError,
    load_family,
    metr_start,
    metr_task_name,
    missing_environment_variables,
    parse_answer,
    score_command,
)
from environments.metr_score import aggregate_family, interpret, score_family
from environments.registry import instructions_for, load_registry, materialize_candidate

FAMILIES = Path(__file__).parent / "metr_families"
ADD = FAMILIES / "add_numbers" / "add_numbers.py"
SPEEDUP = FAMILIES / "speedup_family" / "speedup_family.py"
needs_isolation = pytest.mark.skipif(
    not isolation_available(), reason="needs root and unshare to bind-mount /home/agent"
)


def write_family(root: Path, name: str, body: str, config: str | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(body))
    if config is not None:
        (folder / "rearena.toml").write_text(textwrap.dedent(config))
    return folder


MINIMAL = """
class TaskFamily:
    standard_version = "0.5.0"

    @staticmethod
    def get_tasks():
        return {TASKS}

    @staticmethod
    def get_instructions(t):
        return "say " + t["word"]

    @staticmethod
    def score(t, submission):
        return float(submission == t["word"])
"""


def minimal(tasks: str = '{"tiny": {"word": "a"}, "main": {"word": "b"}}') -> str:
    return MINIMAL.replace("{TASKS}", tasks)


@pytest.fixture(scope="module")
def envs():
    reg = load_registry([FAMILIES])
    return reg


def test_families_load_as_environments(envs):
    env = envs.get("add_numbers")
    assert env.kind == "metr" and env.scorer == ADD.absolute()
    assert list(env.variants) == ["main", "tiny", "negative"]
    assert env.variants["negative"].params == {"a": -40, "b": 2}
    assert env.default_variant == "main"
    assert "1234 and 5678" in env.instructions
    assert env.description == "Add two numbers and report the sum."
    assert (env.metric.name, env.metric.direction, env.metric.transform) == ("score", "higher", "identity")
    assert (env.calibration.start, env.calibration.reference) == (0.0, 1.0)
    assert env.starting_dir is None


def test_rearena_toml_settings_and_tiny_alias(envs):
    env = envs.get("speedup_family")
    assert env.title == "Repair solve()" and env.budget_hours == 2.0 and env.scoring_timeout_s == 30.0
    assert env.default_variant == "large" and "50 hidden inputs" in env.instructions
    assert env.variants["tiny"].params == env.variants["small"].params == {"n": 5, "seed": 1}
    assert env.variants["tiny"].description == "alias of task 'small'"
    assert env.variants["small"].scoring_timeout_s == 10.0
    assert metr_task_name(env, "tiny") == "small" and metr_task_name(env, None) == "large"


def test_instructions_per_variant(envs):
    assert "They are 2 and 3" in instructions_for(envs.get("add_numbers"), "tiny")
    assert "5 hidden inputs" in instructions_for(envs.get("speedup_family"), "tiny")
    assert "50 hidden inputs" in instructions_for(envs.get("speedup_family"), None)


def test_missing_environment_variables_reported_not_fatal(envs, monkeypatch):
    env = envs.get("speedup_family")
    monkeypatch.delenv("REARENA_TEST_NEVER_SET_TOKEN", raising=False)
    assert missing_environment_variables(env) == ["REARENA_TEST_NEVER_SET_TOKEN"]
    monkeypatch.setenv("REARENA_TEST_NEVER_SET_TOKEN", "x")
    assert missing_environment_variables(env) == []
    assert missing_environment_variables(envs.get("add_numbers")) == []


def test_broken_family_is_a_problem_naming_file_and_exception(envs):
    (problem,) = envs.problems
    assert problem.path == (FAMILIES / "broken_family" / "broken_family.py").absolute()
    assert problem.field == "TaskFamily.get_tasks"
    assert "raised ZeroDivisionError: division by zero" in problem.message
    assert "broken_family.py:10" in problem.message


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ("class TaskFamily(\n    pass\n", "", "importing the family raised SyntaxError"),
        (
            "import no_such_module_for_rearena\n",
            "",
            "ModuleNotFoundError: No module named 'no_such_module_for_rearena'",
        ),
        ("raise SystemExit(3)\n", "", "raised SystemExit: 3"),
        ("import os\nos._exit(4)\n", "", "exited with code 4 without an answer"),
        ("x = 1\n", "", "defines no class TaskFamily"),
        (minimal("[1, 2]"), "TaskFamily.get_tasks", "expected a dict of task name -> dict, got list"),
        (minimal('{"tiny": {"x": 1}, "main": 5}'), "TaskFamily.get_tasks", "task 'main' (str) is a int: 5"),
        (minimal("{}"), "TaskFamily.get_tasks", "expected at least one task"),
        (minimal('{"main": {"word": "a"}}'), "variants.tiny", "every environment needs a tiny variant"),
        (minimal('{"tiny": {"word": "a"}, "a:b": {"word": "c"}}'), "TaskFamily.get_tasks", "without ':'"),
        (minimal().replace('standard_version = "0.5.0"', "pass"), "TaskFamily.standard_version", "expected a string"),
        (
            minimal().replace("def score(", "def not_score("),
            "TaskFamily.score",
            "expected score(t, submission) or intermediate_score(t)",
        ),
    ],
)
def test_broken_families(tmp_path, body, field, expected):
    env, problems = load_family(write_family(tmp_path, "fam", body))
    assert env is None
    assert any(p.field == field and expected in p.message for p in problems), problems
    assert all(p.path.name in ("fam.py", "rearena.toml") for p in problems)


def test_syntax_error_names_line(tmp_path):
    _, (problem,) = load_family(write_family(tmp_path, "fam", "x = 1\ndef broken(:\n"))
    assert "fam.py:2" in problem.message


def test_hanging_family_times_out(tmp_path):
    body = "import time\nclass TaskFamily:\n    @staticmethod\n    def get_tasks():\n        time.sleep(60)\n"
    _, (problem,) = load_family(write_family(tmp_path, "fam", body), timeout=2)
    assert problem.path.name == "fam.py" and "did not finish within 2 s" in problem.message


def test_family_output_does_not_confuse_the_loader(tmp_path):
    body = "print('{\"ok\": false}')\n" + minimal()
    env, problems = load_family(write_family(tmp_path, "fam", body))
    assert problems == [] and set(env.variants) == {"tiny", "main"}


def test_rearena_toml_is_validated_like_a_manifest(tmp_path):
    config = """
        tiny = "nope"
        colour = "blue"
        [calibration]
        start = 1.0
        reference = 1.0
        [scoring]
        scorer = "x.py"
        timeout_s = "soon"
        [variants.ghost]
        timeout_s = 3
    """
    folder = write_family(tmp_path, "fam", minimal('{"main": {"word": "b"}}'), config)
    env, problems = load_family(folder)
    by_field = {p.field: p for p in problems}
    assert env is None and all(p.path == folder / "rearena.toml" for p in problems)
    assert "expected one of the family's tasks (main), got 'nope'" in by_field["tiny"].message
    assert "unknown key" in by_field["colour"].message
    assert "both 1" in by_field["calibration"].message
    assert "unknown key" in by_field["scoring.scorer"].message
    assert "got 'soon'" in by_field["scoring.timeout_s"].message
    assert "no task of that name" in by_field["variants.ghost"].message


def test_rearena_toml_metric_lower_needs_matching_calibration(tmp_path):
    config = '[metric]\nname = "loss"\ndirection = "lower"\ntransform = "identity"\n'
    _, problems = load_family(write_family(tmp_path, "fam", minimal(), config))
    assert [p.field for p in problems] == ["calibration"] and "reference < start" in problems[0].message


def test_rearena_toml_syntax_error(tmp_path):
    _, (problem,) = load_family(write_family(tmp_path, "fam", minimal(), "tiny = \n"))
    assert problem.path.name == "rearena.toml" and "line 1" in problem.message


def test_start_writes_starting_files_in_fallback_mode(envs, tmp_path):
    result = metr_start(envs.get("add_numbers"), "tiny", tmp_path / "cand", isolate=False)
    assert (tmp_path / "cand" / "numbers.txt").read_text() == "2 3\n"
    assert result.isolated is False and "numbers written" in result.stderr


def test_materialize_metr_candidate(envs, tmp_path):
    dest = materialize_candidate(envs.get("speedup_family"), "tiny", tmp_path / "cand")
    assert "def solve" in (dest / "solution.py").read_text()


def test_start_failure_is_a_metr_error(tmp_path):
    body = minimal() + "\n    @staticmethod\n    def start(t):\n        raise RuntimeError('no disk')\n"
    env, _ = load_family(write_family(tmp_path, "fam", body))
    with pytest.raises(MetrError, match=r"fam:tiny: TaskFamily.start: raised RuntimeError: no disk \(at .*fam.py:19\)"):
        metr_start(env, "tiny", tmp_path / "cand", isolate=False)


@needs_isolation
def test_start_with_hard_coded_home_agent_is_isolated(tmp_path):
    body = minimal() + textwrap.indent(
        textwrap.dedent("""
        @staticmethod
        def start(t):
            import os
            with open("/home/agent/marker.txt", "w") as f:
                f.write(t["word"] + " " + os.environ["HOME"])
    """),
        "    ",
    )
    env, problems = load_family(write_family(tmp_path, "fam", body))
    assert problems == []
    result = metr_start(env, "tiny", tmp_path / "cand")
    assert result.isolated is True
    assert (tmp_path / "cand" / "marker.txt").read_text() == "a /home/agent"
    assert not Path("/home/agent/marker.txt").exists()  # the host's /home/agent is untouched


def test_score_family_submission(tmp_path, monkeypatch):
    monkeypatch.setenv("METR_AGENT_HOME", str(tmp_path))
    (tmp_path / "submission.txt").write_text("5\n")
    assert score_family(ADD, "tiny", tmp_path, intermediate=False) == {"raw": 1.0, "message": "", "details": {}}
    (tmp_path / "submission.txt").write_text("6")
    assert score_family(ADD, "tiny", tmp_path, intermediate=False)["raw"] == 0.0
    assert score_family(ADD, "main", tmp_path, intermediate=True)["raw"] == 0.0  # no intermediate_score: uses score


def test_score_family_answer_file_and_no_score(tmp_path, monkeypatch):
    monkeypatch.setenv("METR_AGENT_HOME", str(tmp_path))
    result = score_family(ADD, "negative", tmp_path, intermediate=False)
    assert result == {"raw": None, "message": "the task family returned no score", "details": {}}
    (tmp_path / "answer.txt").write_text("-38")
    assert score_family(ADD, "negative", tmp_path, intermediate=False)["raw"] == 1.0


def test_score_family_intermediate(tmp_path, monkeypatch):
    monkeypatch.setenv("METR_AGENT_HOME", str(tmp_path))
    metr_start(load_registry([FAMILIES]).get("speedup_family"), "tiny", tmp_path, isolate=False)
    result = score_family(SPEEDUP, "small", tmp_path, intermediate=True)
    assert result["raw"] == 0.0
    assert json.loads(result["message"]) == {"correct": 0, "total": 5}
    assert result["details"] == {"seed": 1, "task_message": {"correct": 0, "total": 5}}
    (tmp_path / "solution.py").write_text("def solve(xs):\n    return [x * x for x in xs]\n")
    assert score_family(SPEEDUP, "small", tmp_path, intermediate=True)["raw"] == 1.0
    (tmp_path / "solution.py").write_text("def solve(xs) return 1\n")
    invalid = score_family(SPEEDUP, "small", tmp_path, intermediate=True)
    assert invalid["raw"] is None and "nan (invalid)" in invalid["message"] and "SyntaxError" in invalid["message"]
    assert aggregate_family(SPEEDUP, "small", [{"score": 0.2}, {"score": 0.8}]) == 0.8
    assert aggregate_family(ADD, "tiny", [{"score": 1.0}]) is None


def test_score_family_reports_family_errors(tmp_path):
    body = minimal().replace('return float(submission == t["word"])', "return 1 / 0")
    family = write_family(tmp_path, "fam", body) / "fam.py"
    result = score_family(family, "tiny", tmp_path, intermediate=False)
    assert result["raw"] is None
    assert result["message"].startswith("TaskFamily.score: raised ZeroDivisionError")
    assert score_family(family, "huge", tmp_path, intermediate=False)["message"].startswith(
        "TaskFamily.get_tasks: no task 'huge'; tasks: tiny, main"
    )


@pytest.mark.parametrize(
    ("returned", "raw", "message"),
    [
        (0.5, 0.5, ""),
        (1, 1.0, ""),
        ((0.25, "ok"), 0.25, "ok"),
        ({"score": 0.75, "message": {"a": 1}, "details": {"b": 2}}, 0.75, '{"a": 1}'),
        (None, None, "the task family returned no score"),
        (float("inf"), None, "the task family scored this attempt inf (invalid)"),
        ("0.5", None, "returned str '0.5'; expected a number or None"),
        (True, None, "returned bool True"),
    ],
)
def test_interpret(returned, raw, message):
    result = interpret(returned, "score")
    assert result["raw"] == raw and message in result["message"]
    assert json.dumps(result)  # always JSON-ready
    assert raw is None or math.isfinite(result["raw"])


@pytest.mark.parametrize("isolate", [False, pytest.param(True, marks=needs_isolation)])
def test_score_command_in_a_subprocess(envs, tmp_path, isolate):
    env = envs.get("add_numbers")
    metr_start(env, "tiny", tmp_path, isolate=isolate)
    (tmp_path / "answer.txt").write_text("5")
    result = run_with_agent_home(
        tmp_path, score_command(env, "tiny", tmp_path, intermediate=False), timeout=30, isolate=isolate
    )
    assert result.isolated is isolate
    assert parse_answer(result, "score") == {"raw": 1.0, "message": "", "details": {}}
