"""The judge against the local OpenAI-compatible scripted server (real HTTP, real openai client)."""

from __future__ import annotations

import json

import pytest

from console.agents.scripted_server import ScriptedServer, error, text
from scoring.rubric.grading import (ReproduceResult, grade_candidate, load_grades, run_reproduce,
                                    save_grades)
from scoring.rubric.judge import Judge, JudgeConfig, parse_grade, select_files
from scoring.rubric.model import parse_rubric

RUBRIC = {"id": "root", "requirements": "Replicate it", "weight": 1, "children": [
    {"id": "code", "requirements": "Code", "weight": 2, "children": [
        {"id": "sgd", "requirements": "Implements SGD update", "weight": 1, "category": "code_development"},
        {"id": "adam", "requirements": "Implements Adam update", "weight": 1, "category": "code_development"}]},
    {"id": "runs", "requirements": "reproduce.sh runs all optimizers", "weight": 1, "category": "code_execution"},
    {"id": "result", "requirements": "Adam reaches lower loss than SGD", "weight": 1, "category": "result_analysis"}]}


def grade(score, explanation="ok"):
    return text(json.dumps({"explanation": explanation, "score": score}))


def pick(req, answers):
    prompt = next(m["content"] for m in req["messages"] if m["role"] == "user")
    turn = sum(1 for m in req["messages"] if m["role"] == "assistant")
    for leaf_id, seq in answers.items():
        if f"(id {leaf_id}," in prompt:
            return seq[min(turn, len(seq) - 1)]
    return grade(0)


def make_judge(server, **kw):
    cfg = JudgeConfig(model="judge-model", base_url=server.base_url, api_key="x", backoff_base_s=0.001,
                      backoff_max_s=0.002, price=(1.0, 2.0), **kw)
    return Judge(cfg)


@pytest.fixture
def candidate(tmp_path):
    d = tmp_path / "cand"
    d.mkdir()
    (d / "optim.py").write_text("def sgd(w, g, lr):\n    return w - lr * g\n")
    (d / "reproduce.sh").write_text("echo sgd 0.5 adam 0.1; echo '{\"adam\": 0.1}' > results.json\n")
    (d / "human_grades.json").write_text('{"grades": {}}')
    return d


def test_parse_grade_is_defensive():
    assert parse_grade('```json\n{"explanation": "x", "score": 1}\n```') == (1, "x")
    assert parse_grade('Sure! {"explanation": "y", "score": "0"} hope it helps') == (0, "y")
    assert parse_grade('{"score": true}')[0] == 1
    assert parse_grade('{"score": false, "explanation": "n"}')[0] == 0
    with pytest.raises(ValueError):
        parse_grade("I think it passes")
    with pytest.raises(ValueError):
        parse_grade('{"score": 7}')


def test_select_files_ranks_by_overlap_and_respects_budget():
    files = {"optimizers/adam.py": "def adam(): pass\n" * 5, "README.md": "hello " * 200, "plot.py": "x" * 4000}
    chosen = select_files(files, "Implements Adam update rule", token_budget=50, chars_per_token=4)
    assert chosen[0][0] == "optimizers/adam.py"
    assert sum(len(b) for _, b in chosen) <= 200 + 60


def test_scripted_grades_aggregate(candidate):
    answers = {"sgd": [grade(1)], "adam": [grade(0)], "runs": [grade(1)], "result": [grade(1)]}
    rubric = parse_rubric(RUBRIC)
    with ScriptedServer(lambda: [lambda req: pick(req, answers)]) as server:
        result = grade_candidate(rubric, "Compare optimizers", candidate, make_judge(server), reproduce_timeout_s=10)
    assert result.reproduce.ok and "adam 0.1" in result.reproduce.log
    assert result.leaf_scores() == {"sgd": 1, "adam": 0, "runs": 1, "result": 1}
    assert result.score == pytest.approx((2 * 0.5 + 1 + 1) / 4)
    judge_calls = [c for c in result.calls if c["kind"] == "judge_call"]
    assert len(judge_calls) == 4 and all(c["prompt_tokens"] > 0 and c["latency_s"] >= 0 for c in judge_calls)
    assert result.cost_usd() == pytest.approx(sum(c["cost_usd"] for c in judge_calls)) and result.cost_usd() > 0
    # execution leaves see the reproduction log, code leaves do not
    prompts = {m["content"].split("(id ")[1].split(",")[0]: m["content"]
               for r in server.requests for m in r["messages"] if m["role"] == "user"}
    assert "Reproduction log" in prompts["runs"] and "Reproduction log" not in prompts["sgd"]
    assert "def sgd" in prompts["sgd"] and "Compare optimizers" in prompts["sgd"] and "Code" in prompts["sgd"]
    assert "## results.json" in prompts["result"]  # files written by reproduce.sh are shown
    assert "human_grades" not in prompts["sgd"]  # never shown to the judge
    assert not (candidate / "results.json").exists()


def test_malformed_answers_are_retried_then_parsed(candidate):
    script = [text("I cannot decide"), text('{"score": 9}'), text('```json\n{"explanation": "good", "score": "1"}\n```')]
    rubric = parse_rubric({"id": "r", "requirements": "r", "children": [
        {"id": "only", "requirements": "Implements SGD", "weight": 1, "category": "code_development"}]})
    with ScriptedServer(script) as server:
        result = grade_candidate(rubric, "t", candidate, make_judge(server), code_only=True)
    g = result.leaves["only"].judge
    assert (g.score, g.explanation, g.calls) == (1, "good", 3)
    assert [c.get("error") for c in result.calls] == ["malformed", "malformed", None]
    # bounded: always malformed -> not graded, with the reason
    with ScriptedServer([text("nope")] * 10) as server:
        result = grade_candidate(rubric, "t", candidate, make_judge(server, max_malformed=1), code_only=True)
    g = result.leaves["only"].judge
    assert g.score is None and g.reason == "malformed answers" and g.calls == 2


def test_api_errors_are_retried(candidate):
    rubric = parse_rubric({"id": "r", "requirements": "r", "children": [
        {"id": "only", "requirements": "Implements SGD", "weight": 1, "category": "code_development"}]})
    script = [error(500, "boom"), error(429, "slow down", retry_after=0.001), grade(1, "fine")]
    with ScriptedServer(script) as server:
        result = grade_candidate(rubric, "t", candidate, make_judge(server), code_only=True)
    assert result.leaves["only"].judge.score == 1
    assert [c.get("error") for c in result.calls] == ["server", "rate_limit", None]
    with ScriptedServer([error(400, "bad request")]) as server:
        result = grade_candidate(rubric, "t", candidate, make_judge(server), code_only=True)
    g = result.leaves["only"].judge
    assert g.score is None and g.reason == "api_error: http_400" and g.calls == 1


def test_code_only_mode_skips_execution(candidate):
    (candidate / "reproduce.sh").write_text("touch /should/not/run; exit 3\n")
    answers = {"sgd": [grade(1)], "adam": [grade(1)]}
    with ScriptedServer(lambda: [lambda req: pick(req, answers)]) as server:
        result = grade_candidate(parse_rubric(RUBRIC), "t", candidate, make_judge(server), code_only=True)
    assert result.reproduce is None and len(server.requests) == 2
    assert result.leaf_scores() == {"sgd": 1, "adam": 1, "runs": None, "result": None}
    assert result.leaves["runs"].judge.source == "not_graded"
    assert result.score == 1.0  # ungraded leaves are left out of the total


@pytest.mark.parametrize("script,reason", [("echo start; exit 3\n", "failed with exit code 3"),
                                           ("echo start; sleep 30\n", "timed out after 0.5 s")])
def test_failing_or_hanging_reproduce_zeroes_exec_leaves(candidate, script, reason):
    (candidate / "reproduce.sh").write_text(script)
    answers = {"sgd": [grade(1)], "adam": [grade(1)]}
    with ScriptedServer(lambda: [lambda req: pick(req, answers)]) as server:
        result = grade_candidate(parse_rubric(RUBRIC), "t", candidate, make_judge(server), reproduce_timeout_s=0.5)
    assert len(server.requests) == 2  # the judge is not asked about execution/result leaves
    for leaf_id in ("runs", "result"):
        g = result.leaves[leaf_id].judge
        assert g.score == 0 and g.source == "reproduce" and reason in g.reason
    assert result.leaf_scores()["sgd"] == 1
    assert result.score == pytest.approx(2 / 4)
    assert "start" in result.reproduce.log and result.reproduce.duration_s < 5


def test_reproduce_output_capped_and_copy_used(candidate):
    (candidate / "reproduce.sh").write_text("touch made_here; python3 -c \"print('x'*100000)\"\n")
    rep = run_reproduce(candidate, 10, output_cap=1000)
    assert rep.ok and "output cut at 1000 bytes" in rep.log and len(rep.log) < 1100
    assert not (candidate / "made_here").exists()
    assert run_reproduce(candidate.parent, 5).reason.startswith("no reproduce.sh")


def test_manual_override_wins_and_both_are_kept(candidate, tmp_path):
    rubric = parse_rubric(RUBRIC)
    answers = {"sgd": [grade(1)], "adam": [grade(0, "no adam")], "runs": [grade(1)], "result": [grade(1)]}
    with ScriptedServer(lambda: [lambda req: pick(req, answers)]) as server:
        result = grade_candidate(rubric, "t", candidate, make_judge(server))
    result.set_override("adam", "alice", 1, note="adam is in optim2.py", at=123.0)
    assert result.leaf_scores()["adam"] == 1 and result.score == 1.0
    path = save_grades(result, tmp_path / "trial")
    back = load_grades(path)
    rec = back.leaves["adam"]
    assert rec.judge.score == 0 and rec.judge.explanation == "no adam"
    assert (rec.override.person, rec.override.score, rec.override.at, rec.override.note) == (
        "alice", 1, 123.0, "adam is in optim2.py")
    assert back.score == 1.0 and back.reproduce.ok
    back.clear_override("adam")
    assert back.score == pytest.approx(0.75)
    with pytest.raises(ValueError):
        result.set_override("adam", "bob", 2)


def test_events_go_to_a_store(candidate):
    class FakeService:
        def __init__(self):
            self.events = []

        def event(self, trial_id, kind, data):
            self.events.append((trial_id, kind, data))

    svc = FakeService()
    rubric = parse_rubric({"id": "r", "requirements": "r", "children": [
        {"id": "only", "requirements": "x", "weight": 1, "category": "code_development"}]})
    with ScriptedServer([grade(1)]) as server:
        result = grade_candidate(rubric, "t", candidate, make_judge(server), code_only=True, store=svc, trial_id=7)
    assert result.calls == [] and svc.events[0][:2] == (7, "judge_call") and svc.events[0][2]["score"] == 1


def test_given_reproduce_result_is_used(candidate):
    rep = ReproduceResult(True, 1, False, 0.1, "Traceback", reason="reproduce.sh failed with exit code 1")
    with ScriptedServer(lambda: [grade(1)]) as server:
        result = grade_candidate(parse_rubric(RUBRIC), "t", candidate, make_judge(server), reproduce=rep)
    assert result.leaf_scores()["runs"] == 0


def test_tree_rows_for_the_view(candidate):
    from scoring.rubric.view import render_text, tree_rows

    rubric = parse_rubric(RUBRIC)
    answers = {"sgd": [grade(1, "has sgd")], "adam": [grade(0)]}
    with ScriptedServer(lambda: [lambda req: pick(req, answers)]) as server:
        result = grade_candidate(rubric, "t", candidate, make_judge(server), code_only=True)
    result.set_override("adam", "bob", 1, note="fine")
    rows = {r["id"]: r for r in tree_rows(rubric, result)}
    assert rows["code"]["share"] == pytest.approx(0.5) and rows["code"]["score"] == 1.0
    assert rows["sgd"]["judge"]["explanation"] == "has sgd" and rows["adam"]["override"]["person"] == "bob"
    assert rows["runs"]["score"] is None and rows["runs"]["judge"]["source"] == "not_graded"
    assert "override by bob" in render_text(rubric, result)
    assert [r["depth"] for r in tree_rows(rubric)] == [0, 1, 2, 2, 1, 1]


def test_reproduce_does_not_see_the_judge_key(candidate, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("REARENA_JUDGE_MODEL", "m")
    (candidate / "reproduce.sh").write_text("env; python -c 'print(\"py ok\")'\n")
    rep = run_reproduce(candidate, 10)
    assert rep.ok and "py ok" in rep.log
    assert "sk-secret" not in rep.log and "REARENA_JUDGE" not in rep.log


def test_leaves_graded_concurrently_within_the_limit(candidate):
    import threading
    import time as _time

    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow_grade(req):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        _time.sleep(0.15)
        with lock:
            state["now"] -= 1
        return grade(1)

    rubric = parse_rubric({"id": "r", "requirements": "r", "children": [
        {"id": f"l{i}", "requirements": f"leaf {i}", "weight": 1, "category": "code_development"} for i in range(6)]})
    with ScriptedServer(lambda: [slow_grade]) as server:
        started = _time.perf_counter()
        result = grade_candidate(rubric, "t", candidate, make_judge(server, concurrency=3), code_only=True)
        elapsed = _time.perf_counter() - started
    assert result.score == 1.0 and state["max"] == 3
    assert elapsed < 6 * 0.15  # not one at a time


def test_judge_calls_become_events_of_a_real_store(candidate, sqlite_store):
    who = sqlite_store.participant("alice")
    trial = sqlite_store.create_trial("optimizer_rubric", "tiny", who.id, "local", 3600, 7200, candidate, 0.0)
    answers = {"sgd": [text("no json"), grade(1)], "adam": [grade(0)]}
    with ScriptedServer(lambda: [lambda req: pick(req, answers)] * 3) as server:
        grade_candidate(parse_rubric(RUBRIC), "t", candidate, make_judge(server), code_only=True,
                        store=sqlite_store, trial_id=trial.id)
    events = [e for e in sqlite_store.events(trial.id) if e.kind == "judge_call"]
    assert len(events) == 3
    by_leaf = sorted((e.data["leaf_id"], str(e.data.get("score")), str(e.data.get("error"))) for e in events)
    assert by_leaf == [("adam", "0", "None"), ("sgd", "1", "None"), ("sgd", "None", "malformed")]
    assert all(e.data["prompt_tokens"] > 0 and e.data["latency_s"] >= 0 and "cost_usd" in e.data for e in events)


def test_a_judge_reply_of_another_shape_or_with_bad_token_counts_is_malformed_not_a_crash(candidate):
    """An endpoint's odd reply (choices not a list, counts that are not numbers) raised out of the judge,
    and so out of the scorer: now a bad count is 0, and a reply without text is malformed and asked again."""
    from console.agents.scripted_server import raw

    odd = raw({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": "nope"})
    script = [odd, text(json.dumps({"explanation": "fine", "score": 1}), usage={"prompt_tokens": "lots",
                                                                               "completion_tokens": -5})]
    rubric = parse_rubric({"id": "r", "requirements": "r", "children": [
        {"id": "only", "requirements": "Implements SGD", "weight": 1, "category": "code_development"}]})
    with ScriptedServer(script) as server:
        result = grade_candidate(rubric, "t", candidate, make_judge(server), code_only=True)
    g = result.leaves["only"].judge
    assert (g.score, g.calls) == (1, 2), (g.score, g.reason, g.explanation)
    assert [c.get("error") for c in result.calls] == ["malformed", None]
    assert (g.prompt_tokens, g.completion_tokens) == (0, 0)
