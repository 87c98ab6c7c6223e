"""An agent trial whose run failed (the model API, the harness, its process killed) before it made any progress (a
model response, a tool call, a submission) never got its chance: the report leaves it out, saying why, instead of
counting a 0. One that failed after it made progress keeps the score it had reached (an agent that ran and did not
improve scores 0), and its group says how many of its trials ended so. Real agent runs: a dead endpoint, a
scripted OpenAI-compatible server, and `rearena agent` processes killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from compare_helpers import record_trial
from testpaths import REPO, TEST_ENV_ROOT

from console.agents.config import AgentConfig
from console.agents.runner import run_agent_trial
from console.agents.scripted_server import ScriptedServer, call, error, slow
from console.cli import main
from console.compare.groups import load_groups
from console.compare.report import build_report
from console.store.db import open_store
from console.trials.service import TrialService

DEAD_ENDPOINT = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, the connection is refused
SLEEPS = call("shell", {"command": "echo $$ > ../tool.pid; exec sleep 60"})  # one step, then a tool that waits


def _agent(service, clock, base_url, **kw):
    """One agent trial of sum_env:tiny run to its end in this thread (backoff advances `clock` when it is one that
    tests move; else it waits)."""
    config = AgentConfig(model=kw.pop("model", "m"), base_url=base_url, api_key="k", request_timeout_s=10.0,
                         max_steps=50, **kw)  # fmt: skip
    return run_agent_trial(service, "sum_env:tiny", config, sleep=getattr(clock, "advance", None))


def _groups(store):
    groups, left_out = load_groups(store, "sum_env")
    return {g.label.split(" ")[0]: g for g in groups}, {e.trial.id: e.why for e in left_out}


def test_an_agent_that_never_reached_its_model_is_left_out_not_scored_zero(cli_store, registry, clock, capsys):
    record_trial(cli_store, clock, "ada", scores=[(60, 0.8)])  # a person's real score beside it
    service = TrialService(cli_store, registry)  # the real clock: its setup and requests take real active time
    dead = _agent(service, None, DEAD_ENDPOINT, model="dead-endpoint", max_retries=2, backoff_base_s=0.01)
    assert dead.end_reason == "api_error" and dead.ended_at > dead.started_at
    groups, left_out = _groups(cli_store)
    assert "dead-endpoint" not in groups and [c.trial.participant for c in groups["humans"].trials] == ["ada"]
    assert left_out[dead.id].startswith("the model API failed (api_error) before any model response, tool call "
                                        "or submission")  # fmt: skip
    assert main(["report", "sum_env"]) == 0
    out = capsys.readouterr().out
    assert "1 trial(s) left out:" in out and f"trial {dead.id} (dead-endpoint): the model API failed" in out
    assert "dead-endpoint [" not in out  # no group of n=1, mean 0.000 for it


def test_an_agent_whose_run_failed_after_progress_keeps_its_score_and_the_group_says_so(cli_store, registry, capsys):
    service = TrialService(cli_store, registry)  # the real clock, as `rearena agent` runs
    with ScriptedServer([call("score")] + [error(500)] * 5) as server:
        scored = _agent(service, None, server.base_url, max_retries=1, backoff_base_s=0.01)
    with ScriptedServer([call("shell", {"command": "true"})] + [error(500)] * 5) as server:
        tried = _agent(service, None, server.base_url, max_retries=1, backoff_base_s=0.01)
    with ScriptedServer([call("submit")]) as server:
        submitted = _agent(service, None, server.base_url)
    assert (scored.end_reason, tried.end_reason, submitted.end_reason) == ("api_error", "api_error", "submitted")
    groups, left_out = _groups(cli_store)
    assert left_out == {}
    group = groups["m"]
    assert [c.trial.id for c in group.trials] == [scored.id, tried.id, submitted.id]
    assert [c.failed_run for c in group.trials] == [True, True, False]
    report = build_report("sum_env", list(groups.values()))
    final = report["groups"][0]["final"]
    assert report["groups"][0]["n"] == 3  # the one that ran and did not improve counts, as a 0
    assert final["failed_runs"] == 2 and final["failed_run_reasons"] == {"api_error": 2}
    assert final["mean"] == pytest.approx((scored.final_score + 0.0 + submitted.final_score) / 3)
    assert [t["failed_run"] for t in report["groups"][0]["trials"]] == [True, True, False]
    assert "failed_runs" in report["rules"] and "api_error" in report["rules"]["left_out"]
    assert main(["report", "sum_env"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 of its 3 trial(s) ended because the run failed (2 api_error) after making progress" in out


def test_a_person_who_ends_a_trial_with_the_reason_error_is_not_a_failed_run(sqlite_store, clock):
    trial = record_trial(sqlite_store, clock, "ada", scores=[])
    sqlite_store.update_trial(trial.id, end_reason="error")  # `rearena trial end --reason error`: any text
    groups, left_out = _groups(sqlite_store)
    assert left_out == {} and not groups["humans"].trials[0].failed_run


# -- agents killed with SIGKILL: the next reader ends their trials "agent_gone" ----------------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT),
               OPENAI_API_KEY="k")  # fmt: skip
    env.pop("REARENA_TRIAL", None)
    env.pop("REARENA_DB", None)
    return env


def _rearena(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _kill_agent_when(tmp_path: Path, server: ScriptedServer, model: str, ready) -> None:
    """Start `rearena agent` on a new trial, SIGKILL it once ready() is true (within 60 s)."""
    proc = subprocess.Popen([sys.executable, "-m", "console", "agent", "sum_env:tiny", "--model", model,
                             "--base-url", server.base_url, "--budget", "30m"], cwd=REPO, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ready():
            assert proc.poll() is None, f"the agent exited first: {proc.communicate()}"
            assert time.monotonic() < deadline, "the agent never got there"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)


def _stop_tool(pid_file: Path) -> None:
    """The tool's `sleep 60`, if it outlived its agent (it should not): ended, by its own pid."""
    text = pid_file.read_text().strip() if pid_file.exists() else ""
    if text.isdigit():
        try:
            os.kill(int(text), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_agents_killed_before_and_after_their_first_step(tmp_path):
    data = tmp_path / "data"
    with ScriptedServer([slow(60, call("submit"))]) as server:  # killed while it waits for its first reply
        _kill_agent_when(tmp_path, server, "waiting", lambda: server.requests)
    pid_file = data / "trials" / "2" / "tool.pid"
    try:
        with ScriptedServer([SLEEPS]) as server:  # killed while its first step's tool runs
            _kill_agent_when(tmp_path, server, "stepped", pid_file.exists)
    finally:
        _stop_tool(pid_file)
    for trial_id in ("1", "2"):  # the next reader of each finds its agent gone and ends it
        status = _rearena(tmp_path, "trial", "status", trial_id)
        assert status.returncode == 0, status.stderr
    store = open_store(None, data)
    try:
        assert [t.end_reason for t in store.trials()] == ["agent_gone", "agent_gone"]
        groups, left_out = _groups(store)
    finally:
        store.close()
    assert list(groups) == ["stepped"] and groups["stepped"].trials[0].failed_run
    assert left_out[1].startswith("its agent's process died (agent_gone) before any model response")
    report = _rearena(tmp_path, "report", "sum_env")
    assert report.returncode == 0, report.stderr
    out = " ".join(report.stdout.split())
    assert "trial 1 (waiting): its agent's process died (agent_gone) before any model response" in out
    assert "1 of its 1 trial(s) ended because the run failed (1 agent_gone) after making progress" in out



def test_an_agent_stopped_before_it_did_anything_is_left_out_and_one_stopped_later_is_kept(cli_store, registry,
                                                                                          clock):
    import threading

    record_trial(cli_store, clock, "ada", scores=[(60, 0.8)])
    service = TrialService(cli_store, registry)
    stop = threading.Event()
    stop.set()  # e.g. Ctrl-C as the run began
    config = AgentConfig(model="stopped-early", base_url=DEAD_ENDPOINT, api_key="k", max_steps=5)
    early = run_agent_trial(service, "sum_env:tiny", config, stop=stop)
    assert early.end_reason == "stopped" and early.ended_at > early.started_at

    later_stop = threading.Event()

    def stop_after_the_first_tool(run):  # on_run: the run has started; stop it once it has done something
        def watch():
            while not later_stop.is_set():
                if cli_store.events(run.trial_id, kinds=["tool_call"], limit=1):
                    later_stop.set()
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()

    server = ScriptedServer([call("shell", {"command": "sleep 0.5"})] * 20).start()
    try:
        config = AgentConfig(model="stopped-later", base_url=server.base_url, api_key="k", max_steps=50)
        later = run_agent_trial(service, "sum_env:tiny", config, stop=later_stop, on_run=stop_after_the_first_tool)
    finally:
        server.close()
    assert later.end_reason == "stopped"
    groups, left_out = _groups(cli_store)
    assert "stopped-early" not in groups and left_out[early.id].startswith("stopped (stopped) before any model")
    assert later.id not in left_out and "stopped-later" in groups  # it ran: its 0 counts
