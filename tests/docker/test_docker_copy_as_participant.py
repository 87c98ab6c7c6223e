"""The copy of a docker trial's workdir out of its container reads as the participant, against a real daemon: a
review found that its tar ran as root, so what root could read and the participant could not (a root-only file
left in the workdir, a hard link to one) came out into the snapshot and the scoring."""

from __future__ import annotations

import os
import secrets

import pytest

from console.sandbox import SandboxError, sync_workdir
from scoring import containers as dk

pytestmark = pytest.mark.slow


def _as_root(sandbox, script: str) -> None:
    """What a process of root in the container did (a participant cannot): docker exec -u root."""
    done = sandbox.container.exec_run(["sh", "-c", script], user="root")
    assert done.exit_code == 0, done.output


def files_in(folder) -> dict[str, bytes]:
    """Every regular file below a folder (links left out), by its path relative to it: its bytes."""
    found = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            if not os.path.islink(path):
                found[os.path.relpath(path, folder)] = open(path, "rb").read()
    return found


def test_what_only_root_can_read_never_comes_out_and_the_rest_does(docker_trial, docker_service):
    from scoring.docker_runner import score_in_container

    trial, sandbox = docker_trial
    secret = f"rearena-root-only-{secrets.token_hex(8)}"
    # a root-only file in the workdir, a hard link into it of one outside it, a root-only folder
    _as_root(sandbox, f"cd {dk.HOME} && echo {secret} > root-only && chmod 600 root-only && ln root-only "
                      f"workdir/hard-link && echo {secret} > workdir/root-file && chmod 600 workdir/root-file && "
                      f"mkdir -m 700 workdir/root-dir && echo {secret} > workdir/root-dir/inside")
    made = sandbox.exec("ln -s /etc/shadow shadow && ln -s ../root-only up-link && mkdir -p d && "
                        "echo mine > d/own.txt && echo '# kept' >> solution.py", timeout=30)
    assert made.exit_code == 0, made.output
    scored = {}

    def scorer(env, variant, folder, calibration, intermediate=True):
        scored.update(files_in(folder))
        return score_in_container(env, variant, folder, calibration, intermediate=intermediate)

    docker_service.scorer, docker_service._scorer_given = scorer, True
    sub = docker_service.score(trial.id)
    assert sub.valid, sub.message
    assert b"# kept" in scored["solution.py"] and scored["d/own.txt"] == b"mine\n"  # the normal files came out
    assert not [name for name, data in scored.items() if secret.encode() in data or b"root:" in data], scored.keys()
    workdir = docker_service.store.trial(trial.id).workdir
    assert not [name for name, data in files_in(workdir).items() if secret.encode() in data]
    assert not {"hard-link", "root-file", "root-dir/inside"} & set(docker_service.store.snapshot_manifest(sub.snapshot))
    noted = docker_service.store.events(trial.id, kinds=["not_copied"])[-1].data["entries"]
    for name in ("hard-link", "root-file", "root-dir"):
        assert any(entry.startswith(f"workdir/{name} (not readable by participant") for entry in noted), noted


def test_a_workdir_the_participant_made_unreadable_is_refused_and_the_last_copy_kept(docker_trial, docker_service):
    """Its tar, as the participant, would read nothing: an empty copy would replace the host's."""
    trial, sandbox = docker_trial
    assert sandbox.exec("echo '# before' >> solution.py", timeout=30).exit_code == 0
    assert sync_workdir(trial, docker_service.store.data_dir) == []
    assert sandbox.exec(f"chmod 000 {dk.WORKDIR}", timeout=30).exit_code == 0
    with pytest.raises(SandboxError, match="is not readable by participant"):
        sync_workdir(trial, docker_service.store.data_dir)
    workdir = docker_service.store.trial(trial.id).workdir
    assert "# before" in open(f"{workdir}/solution.py").read()
