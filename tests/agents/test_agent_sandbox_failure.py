"""An agent trial whose sandbox cannot be opened ends sandbox_failed (an infrastructure failure that a report
leaves out), not agent_error (which counts as the agent's 0)."""

from __future__ import annotations

from console.agents.loop import AgentRun
from console.agents.scripted_server import call

from agent_helpers import events_of, make_config


def test_a_sandbox_that_cannot_be_opened_ends_the_trial_sandbox_failed(service, serve, sqlite_store):
    server = serve([call("submit")])
    trial = service.create("sum_env:tiny", "bot", kind="agent", model="scripted-model")
    sqlite_store.update_trial(trial.id, workdir="")  # (a docker daemon that is down fails the same way)
    ended = AgentRun(service, trial.id, make_config(server)).run()
    assert ended.end_reason == "sandbox_failed"
    failures = [e.data for e in events_of(sqlite_store, trial.id, "sandbox_failed")]
    assert failures and "has no workdir" in failures[0]["error"]
    assert not server.requests  # the model was never asked




def test_the_agent_command_exits_1_and_says_why_when_no_sandbox_could_be_opened(tmp_path, serve, monkeypatch,
                                                                               capsys):
    """`rearena agent` exits 1 when no trial got anywhere (README); a sandbox that fails as the run opens it (the
    daemon gone after the trial was made) is such a run, and the line says why."""
    import console.sandbox
    from console.cli import main
    from console.sandbox import SandboxError
    from testpaths import TEST_ENV_ROOT

    def down(*args, **kwargs):
        raise SandboxError("the docker daemon is down")

    server = serve([call("submit")] * 4)
    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REARENA_ENVIRONMENTS", str(TEST_ENV_ROOT))
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.delenv("REARENA_TRIAL", raising=False)
    monkeypatch.setattr(console.sandbox, "get_sandbox", down)
    assert main(["agent", "sum_env:tiny", "--model", "m", "--base-url", server.base_url, "--runs", "2"]) == 1
    out = capsys.readouterr()
    assert out.out.count("sandbox_failed") == 2 and "the docker daemon is down" in out.out + out.err
    assert "no trial made progress" in out.err
