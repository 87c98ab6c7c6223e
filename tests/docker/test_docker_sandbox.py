"""The docker sandbox against a real daemon: container, user, limits, exec, files, snapshots, lifecycle."""

from __future__ import annotations

import os
import time

import pytest

from console.sandbox import SANDBOX_KINDS, cleanup_orphans, get_sandbox, release_sandbox
from console.sandbox.base import Sandbox
from scoring import containers

pytestmark = pytest.mark.slow


def test_one_container_per_trial_with_the_manifests_limits(docker_trial, docker_service):
    trial, sandbox = docker_trial
    assert "docker" in SANDBOX_KINDS and isinstance(sandbox, Sandbox) and sandbox.isolates
    container = sandbox.container
    container.reload()
    labels, host = container.labels, container.attrs["HostConfig"]
    assert labels["rearena.trial"] == str(trial.id) and labels["rearena.workdir"] == trial.workdir
    assert labels["rearena.db"] == containers.scope_of(docker_service.store.data_dir)
    assert container.image.tags == ["rearena/env-rolling_median:latest"]
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
    assert host["PidsLimit"] == 96 and host["NanoCpus"] == 10**9
    tmpfs_bytes = int(0.25 * containers.GB) + int(0.125 * containers.GB)
    assert host["Memory"] == int(0.25 * containers.GB) + tmpfs_bytes == host["MemorySwap"]
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"] and host["Init"] is True
    assert not container.attrs["Mounts"]  # nothing of the host is mounted
    again = get_sandbox(trial, docker_service.store.data_dir)
    assert again.container.id == container.id  # one container per trial


def test_commands_run_as_the_non_root_participant_in_the_workdir(docker_trial):
    _, sandbox = docker_trial
    result = sandbox.exec("id -un; id -u; pwd; ls; echo err >&2; exit 3", timeout=30)
    assert result.exit_code == 3 and not result.timed_out and result.limit == ""
    assert result.output.splitlines() == ["participant", "1000", "/home/participant/workdir", "solution.py", "err"]
    denied = sandbox.exec("touch /etc/x || echo denied; sudo true 2>/dev/null || echo nosudo", timeout=30)
    assert denied.output.split()[-2:] == ["denied", "nosudo"]


def test_exec_timeout_kills_the_process_group(docker_trial):
    _, sandbox = docker_trial
    started = time.monotonic()
    result = sandbox.exec("echo started; sleep 60 & echo $! > child.pid; sleep 60", timeout=1)
    assert result.timed_out and result.exit_code == -9 and "timeout" in result.limit
    assert "started" in result.output and "[rearena: timeout" in result.output
    assert time.monotonic() - started < 6
    child = sandbox.exec("cat child.pid", timeout=30).output.strip()
    assert sandbox.exec(f"kill -0 {child}", timeout=30).exit_code != 0  # the background child died too


def test_a_refused_helper_exec_is_tried_again_but_a_slow_one_is_not(docker_trial):
    """The sandbox's own helpers (the kill of a command at a limit, the counters' probe) run as execs, which
    a sandbox at its pids limit can refuse: dockerd then ends the exec with its error and a non-zero status,
    and the helper is run again. One that runs out of time is not run again (each has its own deadline)."""
    _, sandbox = docker_trial
    flaky = "if [ -e /tmp/tried ]; then echo second; else touch /tmp/tried; exit 126; fi"
    assert sandbox._helper(["bash", "-c", flaky], seconds=10) == b"second\n"
    started = time.monotonic()
    assert sandbox._helper(["sleep", "30"], seconds=1) is None
    assert time.monotonic() - started < 8  # one try (1 s and the stream's drain), not one per retry
    assert sandbox._helper(["bash", "-c", "exit 3"], seconds=1.5) is None  # failing to the end: nothing


def test_exec_does_not_wait_for_what_the_command_leaves_running(docker_trial):
    _, sandbox = docker_trial
    started = time.monotonic()
    result = sandbox.exec("sleep 30 & echo left", timeout=30)
    assert result.exit_code == 0 and result.output == "left\n"
    after = sandbox.exec("echo next", timeout=30)
    assert after.output == "next\n" and time.monotonic() - started < 1.5


def test_output_is_capped_head_and_tail(docker_trial):
    _, sandbox = docker_trial
    result = sandbox.exec("echo first; head -c 300000 /dev/zero | tr '\\0' x; echo; echo last", timeout=30,
                          output_cap=1000)
    assert result.exit_code == 0 and result.output.startswith("first\n") and result.output.endswith("last\n")
    assert "bytes of output elided" in result.output and len(result.output) < 1200


def test_files_in_and_out_and_snapshots(docker_trial, docker_service, tmp_path):
    trial, sandbox = docker_trial
    sandbox.write_file("notes/plan.txt", b"try a heap\n")
    assert sandbox.read_file("notes/plan.txt") == b"try a heap\n"
    sandbox.exec("echo 'def rolling_median(v, w): return []' > solution.py; ln -s notes/plan.txt link; "
                 "ln -s /etc/passwd outside", timeout=30)
    digest = docker_service.snapshot(trial.id, reason="test")
    manifest = docker_service.store.snapshot_manifest(digest)
    assert {"solution.py", "notes/plan.txt"} <= set(manifest)
    host = docker_service.store.trial(trial.id).workdir
    assert open(f"{host}/solution.py").read().startswith("def rolling_median(v, w): return []")
    assert os.readlink(f"{host}/link") == "notes/plan.txt" and not os.path.lexists(f"{host}/outside")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text("1,2\n")
    sandbox.copy_in(tmp_path / "in", "/home/participant/workdir/data")
    assert sandbox.exec("cat data/data.csv", timeout=30).output == "1,2\n"


def test_scoring_a_docker_trial_uses_a_separate_container(docker_trial, docker_service, docker_ready):
    trial, sandbox = docker_trial
    before = {c.id for c in docker_ready.containers.list(all=True)}
    sub = docker_service.score(trial.id)
    assert sub.valid, sub.message
    event = docker_service.store.events(trial.id, kinds=["score"])[-1]
    assert event.data["valid"] and sub.details.get("sandbox") == "docker"
    assert {c.id for c in docker_ready.containers.list(all=True)} == before  # the scoring container is gone
    assert sandbox.container.status == "running"


def test_ending_a_trial_removes_its_container(docker_trial, docker_service, docker_ready):
    trial, sandbox = docker_trial
    sandbox.exec("echo '# last edit' >> solution.py", timeout=30)
    ended = docker_service.end(trial.id, "ended")
    assert ended.status == "ended"
    assert not docker_ready.containers.list(all=True, filters={"id": sandbox.container.id})
    final = docker_service.store.events(trial.id, kinds=["ended"])[-1].data["snapshot"]
    files = docker_service.store.snapshot_manifest(final)
    assert "solution.py" in files
    assert "# last edit" in open(f"{ended.workdir}/solution.py").read()  # copied out before removal
    with pytest.raises(Exception, match="has ended"):
        get_sandbox(ended, docker_service.store.data_dir)


def test_orphans_are_cleaned_up_at_start_up(docker_trial, docker_service, docker_ready):
    trial, sandbox = docker_trial
    store = docker_service.store
    # a running trial keeps its container (others may go: a scoring container of a test run killed before)
    assert sandbox.container.name not in cleanup_orphans(store)
    store.update_trial(trial.id, status="ended")  # as if the console died while ending it
    other = docker_service.create("sum_env:tiny", "bob", sandbox="docker")
    removed = cleanup_orphans(store)
    assert sandbox.container.name in removed
    assert get_sandbox(other, store.data_dir).exec("true", timeout=30).exit_code == 0
    assert release_sandbox(other, store.data_dir) and not release_sandbox(other, store.data_dir)


def test_a_stopped_container_restarts_with_the_last_snapshot(docker_trial, docker_service):
    trial, sandbox = docker_trial
    sandbox.exec("echo kept > kept.txt", timeout=30)
    docker_service.snapshot(trial.id)
    sandbox.container.stop(timeout=1)  # the tmpfs is gone, as after a reboot
    again = get_sandbox(docker_service.store.trial(trial.id), docker_service.store.data_dir)
    assert again.exec("cat kept.txt", timeout=30).output == "kept\n"


def test_shell_commands_are_recorded_and_copied_out(docker_trial, docker_service):
    from console.sandbox.docker_shell import attach_argv, sync_commands
    from console.trials.commands import ingest_commands
    from scoring.container_exec import run_exec

    trial, sandbox = docker_trial
    argv = sandbox.shell_argv()
    assert argv[2:4] == ["console.sandbox.docker_shell", "shell"]
    inner = attach_argv("docker", "shell", sandbox.container.id)
    shell = inner[inner.index(sandbox.container.id) + 1:]
    out: list[bytes] = []
    run_exec(sandbox.api, sandbox.container.id, shell, user="participant", workdir="/home/participant/workdir",
             env={"HOME": "/home/participant"}, timeout=30, stdin=b"echo hi from the shell\nfalse\ntask score\nexit\n",
             on_stdout=out.append)
    assert sync_commands(sandbox.container.id, sandbox.trial_dir) > 0
    assert sync_commands(sandbox.container.id, sandbox.trial_dir) == 0  # nothing new
    assert ingest_commands(docker_service, trial.id) == 3
    events = docker_service.store.events(trial.id, kinds=["command"])
    assert [e.data["command"] for e in events] == ["echo hi from the shell", "false", "task score"]
    assert events[1].data["exit"] == 1
    editor = attach_argv("docker", "editor", sandbox.container.id, "solution.py")
    assert sandbox.editor_argv()[-1] == "solution.py"
    out.clear()  # the editor command, with `cat` standing in for vi (no terminal here)
    editor[editor.index(sandbox.container.id) + 6] = "cat"
    run_exec(sandbox.api, sandbox.container.id, editor[editor.index(sandbox.container.id) + 1:],
             user="participant", workdir="/home/participant/workdir", timeout=30, on_stdout=out.append)
    assert b"def rolling_median" in b"".join(out)


def test_a_trial_with_an_unbuilt_image_gets_it_built(docker_service, docker_ready):
    env = docker_service.registry.get("sum_env")
    docker_ready.images.remove(containers.image_name(env), force=True)
    trial = docker_service.create("sum_env:tiny", "ada", sandbox="docker")
    sandbox = get_sandbox(trial, docker_service.store.data_dir)
    assert sandbox.exec("cat solution.py", timeout=30).output.startswith("def total(values):")
    assert docker_ready.images.get(containers.image_name(env)).labels["rearena.env"] == "sum_env"


def test_scoring_a_trial_whose_container_was_killed_says_it_scored_the_last_copy(docker_trial, docker_service):
    """A review killed a docker trial's container after an edit, then `trial score` scored the last copy
    without a word. The score stands (the last copy is all there is: the container's workdir was a
    tmpfs), and the trial's record says what happened."""
    trial, sandbox = docker_trial
    docker_service.snapshot(trial.id)
    sandbox.exec("echo '# lost edit' >> solution.py", timeout=30)
    sandbox.container.kill()
    sub = docker_service.score(trial.id)
    assert sub.valid, sub.message
    errors = docker_service.store.events(trial.id, kinds=["sandbox_error"])
    assert errors and "is not running" in errors[-1].data["error"], [e.data for e in errors]
    assert "the last copy of its workdir" in errors[-1].data["error"]
    assert "# lost edit" not in open(f"{docker_service.store.trial(trial.id).workdir}/solution.py").read()
