"""End to end over HTTP: a scripted agent improves sum_env step by step; parallel trials lose no events; the CLI."""

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from console.agents.runner import run_agent_trial
from console.agents.scripted_server import ScriptedServer, call, error, slow
from console.trials.curves import best_so_far
from console.trials.service import TrialService

from agent_helpers import kinds, make_config, rearena
from testpaths import REPO, TEST_ENV_ROOT

VERSIONS = [  # from deliberately slow to fast, 5x or more apart: each should score better than the one before
    "import time\n\ndef total(values):\n    time.sleep(0.05)\n    return sum(values)\n",
    "import time\n\ndef total(values):\n    time.sleep(0.01)\n    return sum(values)\n",
    "import time\n\ndef total(values):\n    time.sleep(0.002)\n    return sum(values)\n",
    "def total(values):\n    return sum(values)\n",
]


def improving_script():
    script = []
    for version in VERSIONS:
        script += [call("write_file", {"path": "solution.py", "content": version}, advance_s=120), call("score")]
    return script + [call("submit")]


def test_a_scripted_agent_improves_the_candidate_and_its_score_curve_rises(run_script, sqlite_store):
    trial, server, run = run_script(improving_script())
    assert trial.end_reason == "submitted"
    subs = sqlite_store.submissions(trial.id)
    assert len(subs) == 5 and all(s.valid for s in subs), [(s.valid, s.reason, s.message) for s in subs]
    scores = [s.normalized for s in subs[:4]]
    assert scores == sorted(scores) and len(set(scores)) == 4, scores  # strictly rising
    assert scores[0] < 0 < scores[3]  # slower than the start at first, faster at the end
    times = [s.active_s for s in subs[:4]]
    assert times == pytest.approx([120, 240, 360, 480])  # on active time (scoring is a pause)
    curve = best_so_far(subs)
    assert [b for _, b in curve] == sorted(b for _, b in curve) and curve[-1][1] == trial.final_score
    assert trial.final_score == max(s.normalized for s in subs)
    outputs = [e.data["output"] for e in sqlite_store.events(trial.id, kinds=["tool_output"])]
    assert sum("normalized score" in o for o in outputs) == 5  # sum_env shows scores to the participant


def expected_events(script, errors):
    """Events a trial of this script writes: created, started, intro, 4 per step, errors, scores, ended."""
    steps = len(script) - errors
    names = [e.message["tool_calls"][0]["function"]["name"] for e in script if e.message]
    scores = sum(1 for name in names if name in ("score", "submit"))
    return 3 + 4 * steps + errors + scores + 1


def parallel_script():
    return [call("shell", {"command": "echo working"}), error(429, retry_after=0),
            call("write_file", {"path": "solution.py", "content": VERSIONS[3]}), error(500),
            call("python", {"code": "print(1)"}), call("score"), call("read_file", {"path": "solution.py"}),
            call("submit")]


def test_parallel_trials_lose_no_events(service, sqlite_store, serve):
    server = serve(parallel_script)
    config = make_config(server)
    with ThreadPoolExecutor(max_workers=8) as pool:
        trials = list(pool.map(lambda _: run_agent_trial(service, "sum_env:tiny", config), range(8)))
    expected = expected_events(parallel_script(), errors=2)
    assert len({t.id for t in trials}) == 8
    for trial in trials:
        assert trial.end_reason == "submitted", trial
        seq = kinds(sqlite_store, trial.id)
        assert len(seq) == expected, seq
        assert seq.count("api_error") == 2 and seq.count("tool_output") == 6 and seq[-1] == "ended"
        assert len(sqlite_store.submissions(trial.id)) == 2
    assert len(server.requests) == 8 * 8


def test_cli_runs_k_trials_p_at_a_time_and_prints_one_line_each(tmp_path):
    with ScriptedServer(lambda: [call("write_file", {"path": "solution.py", "content": VERSIONS[3]}),
                                 call("score"), call("submit")]) as server:
        out = rearena(tmp_path, "agent", "sum_env:tiny", "--model", "scripted", "--base-url", server.base_url,
                      "--api-key-env", "REARENA_TEST_KEY", "--runs", "3", "--parallel", "2", "--budget", "30m",
                      env_extra={"REARENA_TEST_KEY": "secret-value"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3 and all("submitted" in line and "steps    3" in line for line in lines), lines
    assert sorted(int(line.split()[1].rstrip(":")) for line in lines) == [1, 2, 3]
    db = subprocess.run([sys.executable, "-m", "console", "trial", "list", "--json"], cwd=REPO, capture_output=True,
                        text=True, env=dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"),
                                            REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT)))
    rows = json.loads(db.stdout)
    assert [r["budget_s"] for r in rows] == [1800.0] * 3 and all(r["final_score"] > 0 for r in rows)
    assert "secret-value" not in (tmp_path / "data" / "rearena.db").read_bytes().decode("latin-1")


@pytest.mark.parametrize("args, env_extra, needle", [
    (["agent", "no_such_env", "--model", "m"], {"OPENAI_API_KEY": "k"}, "choices: "),
    (["agent", "sum_env", "--model", "m", "--api-key-env", "REARENA_NO_SUCH_KEY"], {}, "REARENA_NO_SUCH_KEY"),
    (["agent", "sum_env", "--model", "m", "--runs", "0"], {"OPENAI_API_KEY": "k"}, "--runs must be at least 1"),
    (["agent", "sum_env", "--model", "m", "--budget", "soon"], {"OPENAI_API_KEY": "k"}, "cannot read duration"),
    (["agent", "sum_env", "--model", "m", "--max-cost", "5"], {"OPENAI_API_KEY": "k"}, "--price"),
    (["agent", "sum_env", "--model", "m", "--base-url", "localhost:8000"], {"OPENAI_API_KEY": "k"}, "http://"),
    (["agent", "sum_env"], {}, "--model"),
    (["agent", "sum_env", "--model", "m", "--sandbox", "vm"], {"OPENAI_API_KEY": "k"}, "unknown sandbox 'vm'"),
])
def test_cli_usage_errors_exit_2(tmp_path, args, env_extra, needle):
    env_extra = {"OPENAI_API_KEY": "", **env_extra}
    out = rearena(tmp_path, *args, env_extra=env_extra)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert needle in out.stderr


def test_shared_store_from_many_threads_keeps_every_trial_separate(sqlite_store, registry, serve):
    service = TrialService(sqlite_store, registry)
    server = serve(lambda: [call("shell", {"command": "echo $REARENA_TRIAL"}), call("submit")])
    handles = []
    threads = [threading.Thread(target=lambda: handles.append(
        run_agent_trial(service, "sum_env:tiny", make_config(server)))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for trial in handles:
        out = sqlite_store.events(trial.id, kinds=["tool_output"])[0].data["output"]
        assert out.split()[-1] == str(trial.id)  # each agent's commands ran in its own trial's sandbox


def test_ctrl_c_stops_the_running_trials_cleanly(tmp_path):
    import signal
    import time

    with ScriptedServer(lambda: [slow(0.2, call("shell", {"command": "true"}))] * 200) as server:
        env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT),
                   OPENAI_API_KEY="k")
        proc = subprocess.Popen([sys.executable, "-m", "console", "agent", "sum_env:tiny", "--model", "m",
                                 "--base-url", server.base_url, "--runs", "3", "--parallel", "2"],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(server.requests) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and all("stopped" in line for line in lines), (out, err)  # the queued third never began
