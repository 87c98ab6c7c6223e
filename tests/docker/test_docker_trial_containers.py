"""Trials' containers against a real daemon, where a review found them wrong: the shell's log after a
restart, orphan clean-up when the store cannot answer, a data folder through a symlink, a paused
container, an environment that asks for a network docker does not have, the command line's clean-up,
and what a daemon that went away is called."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from console.sandbox import SandboxError, cleanup_orphans, get_sandbox, sync_workdir
from console.store.errors import StoreError, TrialNotFound
from scoring import containers

pytestmark = pytest.mark.slow


def _shell(sandbox, commands: list[str]) -> None:
    from console.sandbox.docker_shell import attach_argv
    from scoring.container_exec import run_exec

    inner = attach_argv("docker", "shell", sandbox.container.id)
    script = "".join(f"{c}\n" for c in commands) + "exit\n"
    run_exec(sandbox.api, sandbox.container.id, inner[inner.index(sandbox.container.id) + 1:], user="participant",
             workdir="/home/participant/workdir", env={"HOME": "/home/participant"}, timeout=30,
             stdin=script.encode(), on_stdout=lambda _: None)


def test_the_shell_log_after_a_restart_is_read_from_its_beginning(docker_trial, docker_service):
    """A review: after `docker stop` and a restart (same container id, tmpfs emptied) the saved offset was
    reused: the new session's commands were lost, then a fragment from the middle of a line was appended."""
    from console.sandbox.docker_shell import sync_commands

    trial, sandbox = docker_trial
    _shell(sandbox, ["echo first-session-one", "echo first-session-two", "echo first-session-three"])
    assert sync_commands(sandbox.container.id, sandbox.trial_dir) > 0
    sandbox.container.stop(timeout=1)
    again = get_sandbox(docker_service.store.trial(trial.id), docker_service.store.data_dir)
    assert again.container.id == sandbox.container.id
    _shell(again, ["echo second"])
    assert sync_commands(again.container.id, again.trial_dir) > 0
    _shell(again, ["echo third"])
    sync_commands(again.container.id, again.trial_dir)
    lines = (again.trial_dir / "commands.jsonl").read_text().splitlines()
    commands = [json.loads(line)["command"] for line in lines]  # every line whole
    assert commands[-2:] == ["echo second", "echo third"], commands


def test_a_log_shorter_than_what_was_copied_is_read_again(docker_trial):
    from console.sandbox.docker_shell import sync_commands

    _, sandbox = docker_trial
    _shell(sandbox, ["echo a-long-command-to-make-the-log-longer", "echo another-long-one"])
    assert sync_commands(sandbox.container.id, sandbox.trial_dir) > 0
    sandbox.exec(": > ~/.rearena/commands.jsonl", timeout=30)  # emptied (by the participant, say)
    _shell(sandbox, ["echo x"])
    assert sync_commands(sandbox.container.id, sandbox.trial_dir) > 0
    last = (sandbox.trial_dir / "commands.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["command"] == "echo x"


class _Store:
    """The real store, whose trial() fails as a locked or unreachable database does."""

    def __init__(self, store, error: Exception):
        self._store, self._error = store, error
        self.data_dir = store.data_dir

    def trial(self, _id):
        raise self._error


def test_orphans_are_removed_only_for_trials_known_to_be_missing(docker_trial, docker_service):
    """A review: any error reading a trial (a locked database) took the trial for unknown and removed the
    container of a running trial."""
    trial, sandbox = docker_trial
    store = docker_service.store
    assert cleanup_orphans(_Store(store, StoreError("database is locked"))) == []
    assert cleanup_orphans(_Store(store, OSError("disk I/O error"))) == []
    sandbox.container.reload()
    assert sandbox.container.status == "running"
    with pytest.raises(TrialNotFound, match="no trial 999"):
        store.trial(999)
    assert cleanup_orphans(_Store(store, TrialNotFound("no trial 1"))) == [sandbox.container.name]


def test_the_same_data_folder_through_a_symlink_has_the_same_container(docker_trial, docker_service, tmp_path):
    """A review: a data folder reached through a symlink got a second container for the same trial."""
    trial, sandbox = docker_trial
    link = tmp_path / "link-to-data"
    link.symlink_to(docker_service.store.data_dir, target_is_directory=True)
    assert containers.scope_of(link) == containers.scope_of(docker_service.store.data_dir)
    again = get_sandbox(trial, link)
    assert again.container.id == sandbox.container.id
    scope = containers.scope_of(docker_service.store.data_dir)
    assert len(containers.client().containers.list(all=True, filters={"label": f"rearena.db={scope}"})) == 1


def test_a_paused_container_is_unpaused(docker_trial, docker_service):
    """A review: a container paused from outside (docker pause) made opening the trial a traceback (409)."""
    trial, sandbox = docker_trial
    sandbox.container.pause()
    again = get_sandbox(docker_service.store.trial(trial.id), docker_service.store.data_dir)
    assert again.exec("echo hi", timeout=30).output == "hi\n"


def test_docker_errors_opening_a_sandbox_are_sandbox_errors(docker_trial, docker_service, tmp_path, monkeypatch):
    """The daemon went away after this process reached it: the SDK's own error (not a ContainerError) is a
    SandboxError that says so, not a traceback."""
    import docker

    trial, _ = docker_trial
    local = type(containers._local)()
    local.client = docker.DockerClient(base_url=f"unix://{tmp_path}/gone.sock", version="1.41", timeout=5)
    monkeypatch.setattr(containers, "_local", local)
    with pytest.raises(SandboxError, match=r"the docker daemon is not reachable \("):
        get_sandbox(docker_service.store.trial(trial.id), docker_service.store.data_dir)
    with pytest.raises(SandboxError, match=r"cannot copy the workdir .*the docker daemon is not reachable \("):
        sync_workdir(docker_service.store.trial(trial.id), docker_service.store.data_dir)
    monkeypatch.undo()


def test_an_environment_that_asks_for_a_missing_network_fails_saying_so(docker_service, monkeypatch):
    """A review: dockerd started with --bridge=none, so environments with network = true ran without one."""
    from environments.model import Hardware

    from console.trials.service import TrialError

    registry = docker_service.registry
    env = registry.environments["sum_env"]
    registry.environments["sum_env"] = replace(env, hardware=Hardware(cpus=1, memory_gb=0.25, disk_gb=0.25,
                                                                      pids=96, network=True))
    monkeypatch.setenv("REARENA_DOCKER_NETWORK", "rearena-no-such-network")
    with pytest.raises(TrialError, match="asks for network access.*no network 'rearena-no-such-network'"):
        docker_service.create("sum_env:tiny", "ada", sandbox="docker")
    from scoring.docker_runner import score_in_container
    from environments.registry import materialize_candidate

    folder = docker_service.store.data_dir / "candidate"
    folder.mkdir()
    materialize_candidate(registry.get("sum_env"), "tiny", folder)
    result = score_in_container(registry.get("sum_env"), "tiny", folder)
    assert not result.valid and result.reason == "sandbox_error"
    assert "no network 'rearena-no-such-network'" in result.message


def test_the_trial_command_line_removes_orphans(tmp_path, monkeypatch, capsys, images):
    from console.cli import main
    from console.store.db import open_store
    from testpaths import TEST_ENV_ROOT

    data = tmp_path / "data"
    monkeypatch.setenv("REARENA_DATA_DIR", str(data))
    monkeypatch.setenv("REARENA_ENVIRONMENTS", str(TEST_ENV_ROOT))
    monkeypatch.delenv("REARENA_DB", raising=False)
    monkeypatch.delenv("REARENA_TRIAL", raising=False)
    open_store(None, data).close()
    scope = containers.scope_of(data)
    orphan = containers.client().containers.run(  # the container of a trial this data folder never had
        images["sum_env"], ["sleep", "infinity"], detach=True, network_mode="none",
        labels={"rearena.kind": "trial", "rearena.db": scope, "rearena.trial": "41", "rearena.workdir": "/nowhere"})
    try:
        # `trial end` cleans up (`trial list` only reads); there is no trial 41, so it fails, after the clean-up
        assert main(["trial", "end", "41"]) != 0
        assert orphan.name in capsys.readouterr().err
        assert not containers.client().containers.list(all=True, filters={"id": orphan.id})
    finally:
        containers.remove_container(orphan)


def test_a_daemon_that_went_away_is_named_as_such(tmp_path):
    import docker

    from scoring.container_exec import ContainerError, describe_error, run_exec

    gone = docker.APIClient(base_url=f"unix://{tmp_path}/no-daemon.sock", version="1.41", timeout=5)
    with pytest.raises(ContainerError) as info:
        run_exec(gone, "0123456789ab", ["true"], timeout=5)
    assert "the docker daemon is not reachable (" in str(info.value)
    try:
        gone.containers(all=True)
    except Exception as exc:  # noqa: BLE001 - whatever the SDK raises for a missing socket
        assert describe_error(exc).startswith("the docker daemon is not reachable (")
