"""Defects a new user met: `env show` into a file lost the ends of the instructions' list items, `--budget ""` was
taken as the default budget, and a candidate given as its solution file was "not found".
Real processes on a real SQLite file, as the user runs them."""

import os
import re
import subprocess
import sys

from testpaths import REPO, TEST_ENV_ROOT


def rearena(tmp_path, *args):
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT))
    for key in ("REARENA_TRIAL", "REARENA_DB"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def words(text: str) -> str:
    """Text without Markdown's marks and line breaks, for comparing what was written with what is shown."""
    return " ".join(re.sub(r"[`*]", "", text).split())


def list_items(markdown: str) -> list[str]:
    """The items of the Markdown lists ("- ..." and "1. ...", with their indented continuation lines)."""
    items: list[str] = []
    in_item = False
    for line in markdown.splitlines():
        start = re.match(r"(- |\d+\. )", line)
        if start:
            items.append(line[start.end():])
            in_item = True
        elif in_item and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
        else:
            in_item = False
    return items


def test_env_show_into_a_file_keeps_every_sentence_of_the_instructions(tmp_path):
    instructions = (REPO / "environments" / "rolling_median" / "instructions.md").read_text()
    out = rearena(tmp_path, "env", "show", "rolling_median")  # stdout is a pipe, not a terminal
    assert out.returncode == 0, out.stderr
    shown = words(out.stdout)
    items = list_items(instructions)
    assert len(items) >= 9  # the function's rules, the two scoring steps, the rules of the game
    for item in items:
        for sentence in re.split(r"(?<=[.;:])\s+", words(item)):
            assert sentence in shown, sentence
    assert "sorted runs, constant values, random sizes up to about 1,500 values" in shown


def test_an_empty_budget_is_a_usage_error_naming_budget(tmp_path):
    for budget in ("", "  "):
        out = rearena(tmp_path, "trial", "start", "sum_env:tiny", "--participant", "ada", "--budget", budget)
        assert out.returncode == 2, out.stdout
        assert "--budget" in out.stderr
    assert "sum_env" not in rearena(tmp_path, "trial", "list").stdout  # no trial made


def test_a_solution_file_given_for_the_candidate_folder_names_its_folder(tmp_path):
    candidate = tmp_path / "cand"
    candidate.mkdir()
    (candidate / "solution.py").write_text((TEST_ENV_ROOT / "sum_env" / "starting" / "solution.py").read_text())
    out = rearena(tmp_path, "score", "sum_env:tiny", str(candidate / "solution.py"))
    assert out.returncode == 2
    assert "not found" not in out.stderr
    assert f"is a file: give the folder that holds solution.py (its parent: {candidate}{os.sep})" in out.stderr
    assert rearena(tmp_path, "score", "sum_env:tiny", str(candidate)).returncode == 0  # that folder scores



def test_an_empty_agent_budget_is_a_usage_error_too(tmp_path):
    out = rearena(tmp_path, "agent", "sum_env:tiny", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                  "--budget", "")
    assert out.returncode == 2, out.stderr
    assert "--budget: empty duration" in out.stderr, out.stderr
