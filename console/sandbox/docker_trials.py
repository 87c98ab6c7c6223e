"""Trials' containers: find or start a trial's container, remove it when the trial ends, clean up orphans.

A trial's container is named `rearena-<scope>-trial-<id>` (so two processes cannot both
create it) and labelled rearena.kind=trial, rearena.trial=<id>, rearena.db=<scope> (a
hash of the data folder that holds the database and workdirs) and rearena.workdir. On
creation the host workdir is copied in; when a stopped container is started again its
tmpfs is empty, so the host mirror (as of the last snapshot) is copied in again. The fill holds the mirror's
lock (console.sandbox.mirror) and marks the container filled last (console.sandbox.docker.FILLED): a pull
waits for it, and never copies a container without the mark out (its half-filled workdir would replace the
mirror, the only whole copy). Each time a
container is used (created, found running, paused or stopped) its network is checked against its
environment's before anything runs in it: a container made by hand, before the manifest changed or
for another $REARENA_DOCKER_NETWORK is refused, not used. Opening can be stopped (`stop`): the image
build and the copy in end when it says so, and a container left half filled is removed.
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
from pathlib import Path

from console.sandbox.base import trial_dir_of
from console.sandbox.docker import FILLED, MARKER, STATE_DIR, DockerSandbox
from console.sandbox.mirror import locked
from console.sandbox.rcfile import render_rcfile
from console.store.errors import TrialNotFound
from scoring import containers as dk
from scoring.container_exec import ContainerError, add_bytes, put_folder, run_exec, tar_folder

TASK_STUB = (
    'task() { echo "rearena task is not available inside the docker sandbox (the score records are kept '
    'outside it). In the console: s score, u submit, p pause, r resume, n note, i instructions." >&2; return 1; }\n'
)


def container_name(trial, data_dir) -> str:
    """The unique name of a trial's container."""
    return f"rearena-{dk.scope_of(data_dir)}-trial-{trial.id}"


def find_container(trial, data_dir):
    """The trial's container (running or not), or None."""
    for scope in dk.scopes_of(data_dir):
        filters = {"label": ["rearena.kind=trial", f"rearena.db={scope}", f"rearena.trial={trial.id}"]}
        for container in dk.client().containers.list(all=True, filters=filters):
            if container.labels.get("rearena.workdir") == str(trial.workdir):
                return container
    return None


def _environment(trial):
    from environments.registry import load_registry

    try:
        return load_registry().get(trial.environment)
    except KeyError:
        raise ContainerError(f"environment {trial.environment!r} of trial {trial.id} is not installed; "
                             "cannot recreate its container") from None


def _sandbox(container, trial) -> DockerSandbox:
    labels = container.labels
    return DockerSandbox(container, Path(trial.workdir), trial_dir_of(trial), trial_id=trial.id,
                         entry_point=labels.get("rearena.entry", ""),
                         memory_gb=float(labels.get("rearena.memory_gb", 0) or 0),
                         pids=int(labels.get("rearena.pids", 0) or 0),
                         disk_gb=float(labels.get("rearena.disk_gb", 0) or 0))


def _create(trial, data_dir, env, stop=None):
    import docker.errors

    hw = env.hardware
    image = dk.ensure_image(env, stop=stop)
    _give_up_if_stopped(trial, stop)  # asked once more: the build may have ended as the stop came
    labels = {"rearena.kind": "trial", "rearena.trial": str(trial.id), "rearena.db": dk.scope_of(data_dir),
              "rearena.workdir": str(trial.workdir), "rearena.env": env.name, "rearena.entry": env.entry_point,
              "rearena.memory_gb": f"{hw.memory_gb:g}", "rearena.pids": str(hw.pids),
              "rearena.disk_gb": f"{hw.disk_gb:g}", "rearena.host": socket.gethostname()}
    tmp_size = int(min(1.0, hw.disk_gb / 2) * dk.GB)
    tmpfs = {dk.HOME: (int(hw.disk_gb * dk.GB), dk.PARTICIPANT_UID, "0755"), "/tmp": (tmp_size, 0, "1777")}
    try:
        return dk.start_container(image, hw, labels=labels, tmpfs=tmpfs, memory_bytes=int(hw.memory_gb * dk.GB),
                                  name=container_name(trial, data_dir))
    except ContainerError as exc:
        if "Conflict" not in str(exc):
            raise
    try:  # another process created it a moment ago; or a stale one from another database under that name
        existing = dk.client().containers.get(container_name(trial, data_dir))
    except docker.errors.NotFound:
        raise ContainerError(f"cannot create the container of trial {trial.id}") from None
    if existing.labels.get("rearena.workdir") != str(trial.workdir):
        dk.remove_container(existing)
        return _create(trial, data_dir, env, stop)
    return existing


def _give_up_if_stopped(trial, stop) -> None:
    """ContainerError when `stop` says so."""
    if stop is not None and stop():
        raise ContainerError(f"opening the container of trial {trial.id} was stopped before it finished")


def _fill(sandbox: DockerSandbox, trial, stop=None) -> None:
    """Copy the host workdir, the shell's rcfile and the marker (last: the copy is whole) into a fresh container;
    ContainerError when `stop` cuts it short."""
    label = f"rearena trial {trial.id} {trial.environment}"
    rc = TASK_STUB + render_rcfile(Path(f"{STATE_DIR}/commands.jsonl"), Path(f"{STATE_DIR}/bash_history"), label)
    data = io.BytesIO(tar_folder(Path(trial.workdir), prefix="workdir"))
    with tarfile.open(fileobj=data, mode="a") as tar:
        add_bytes(tar, ".rearena/rearena.bashrc", rc.encode())
        add_bytes(tar, MARKER, b"")
    put_folder(sandbox.api, sandbox.container.id, data.getvalue(), dk.HOME, user=dk.PARTICIPANT, stop=stop)
    outcome = run_exec(sandbox.api, sandbox.container.id, ["/bin/sh", "-c", f"rm -f {FILLED} && : > {FILLED}"],
                       user="root", timeout=30)  # root's: the participant cannot remove it (pulls would stop)
    if outcome.exit_code != 0:
        raise ContainerError(f"marking the container of trial {trial.id} filled failed: "
                             f"{outcome.stderr.decode('utf-8', 'replace')[-500:]}")


def network_problem(container, hardware) -> str:
    """What is wrong with a container's network for an environment's hardware (None: no network), "" if nothing.

    ContainerError (dk.network_mode) when the environment asks for a network docker does not have."""
    wanted = dk.network_mode(hardware) if hardware is not None else "none"
    mode = container.attrs.get("HostConfig", {}).get("NetworkMode", "")
    joined = sorted((container.attrs.get("NetworkSettings") or {}).get("Networks") or {})
    if mode == wanted and set(joined) <= {wanted}:
        return ""
    found = f"network mode {mode!r}" + (f" (networks: {', '.join(joined)})" if joined else "")
    asked = "no network" if wanted == "none" else f"network {wanted!r} alone"
    return f"it has {found}, but its environment asks for {asked}"


def _check_network(container, trial, env) -> None:
    """Refuse (ContainerError) a container whose network is not the one its environment asks for."""
    if env is None:
        try:
            env = _environment(trial)
        except ContainerError:  # not installed: its setting is unknown, so no network is the one allowed
            env = None
    problem = network_problem(container, env.hardware if env is not None else None)
    if problem:
        where = "" if env is not None else f" (environment {trial.environment!r} is not installed)"
        raise ContainerError(
            f"the container {container.name} of trial {trial.id} is refused: {problem}{where} (made by hand, before "
            f"the manifest changed, or for another REARENA_DOCKER_NETWORK). Remove it (docker rm -f "
            f"{container.name}): opening the trial again starts a new container from the last snapshot of its workdir")


def open_sandbox(trial, data_dir, env=None, stop=None) -> DockerSandbox:
    """The trial's docker sandbox: its container, created (from env, or the installed environment) or restarted;
    refused (ContainerError) when its network is not the one the environment asks for.

    `stop` (a callable, asked in this thread) ends the opening when it says so (ContainerError): the image
    build is cancelled, no container is created after it, and one whose filling it cut short is removed."""
    if not trial.workdir:
        raise ContainerError(f"trial {trial.id} has no workdir")
    container = find_container(trial, data_dir)
    fresh = container is None
    if fresh:
        if trial.status == "ended":
            raise ContainerError(f"trial {trial.id} has ended; its container was removed")
        env = env or _environment(trial)
        container = _create(trial, data_dir, env, stop)
    _check_network(container, trial, env)  # before anything of it runs again: unpaused, started or used
    if container.status == "paused":  # paused from outside (docker pause): its processes go on as they were
        container.unpause()
        container.reload()
    if container.status != "running":
        container.start()
        container.reload()
        fresh = True
    sandbox = _sandbox(container, trial)
    if fresh or not sandbox.filled():  # found running, not filled: restarted by hand (docker restart), emptied
        with locked(Path(trial.workdir), exclusive=True):  # no pull copies a half-filled workdir out meanwhile
            if not sandbox.filled():  # (another process may have filled it while this one waited)
                try:
                    _fill(sandbox, trial, stop)
                except BaseException:  # stopped or failed: a half-filled container must not stay (a pull
                    dk.remove_container(container)  # would refuse it; refilled, its leftovers would mix in); the
                    raise  # host mirror is whole
    return sandbox


def release(trial, data_dir) -> bool:
    """Remove the trial's container, if there is one (pull the workdir out first to keep it)."""
    container = find_container(trial, data_dir)
    if container is None:
        return False
    dk.remove_container(container)
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_orphans(store) -> list[str]:
    """Remove containers of this data folder's ended or unknown trials, and scoring containers whose process died.

    Fast when docker is not there at all; returns the names of the removed containers.
    """
    if not dk.available():
        return []
    removed = []
    scopes, host = dk.scopes_of(store.data_dir), socket.gethostname()
    for container in dk.client().containers.list(all=True, filters={"label": "rearena.kind"}):
        labels = container.labels
        if labels.get("rearena.kind") == "trial" and labels.get("rearena.db") in scopes:
            try:
                trial = store.trial(int(labels.get("rearena.trial", "0")))
            except (TrialNotFound, ValueError):  # known missing (or a label no trial has): an orphan
                trial = None
            except Exception:  # noqa: BLE001 - the store could not say (locked, unreachable): keep it this time
                continue
            if trial is not None and trial.status != "ended" and str(trial.workdir) == labels.get("rearena.workdir"):
                continue
        elif labels.get("rearena.kind") == "scoring":
            who, _, pid = labels.get("rearena.owner", "").rpartition(":")
            if who != host or not pid.isdigit() or _pid_alive(int(pid)):
                continue
        else:
            continue
        dk.remove_container(container)
        removed.append(container.name)
    return removed
