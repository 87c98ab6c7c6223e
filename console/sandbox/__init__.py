"""Where participants' commands run: the Sandbox protocol and its implementations (local and docker)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from console.sandbox.base import COMMANDS_FILE, ExecResult, Sandbox, commands_path, trial_dir_of

SANDBOX_KINDS = ("local", "docker")

__all__ = ["COMMANDS_FILE", "SANDBOX_KINDS", "ExecResult", "Sandbox", "SandboxError", "SandboxStopped",
           "cleanup_orphans", "commands_path", "get_sandbox", "reading_copy", "release_sandbox", "scorer_for",
           "sync_workdir", "trial_dir_of"]


class SandboxError(Exception):
    """No sandbox of that kind, or a trial that cannot have one."""


class SandboxStopped(SandboxError):
    """Opening the sandbox was stopped (get_sandbox's `stop`, the console's quit) before it finished."""


def _stop_asked(stop) -> Callable[[], bool]:
    """Whether to give up: `stop` (a threading.Event or a callable) says so, or the console is quitting
    (scoring.stopping: a stoppable block this thread is in, as scoring.docker_runner's builds heed)."""
    from scoring import stopping

    if stop is None:
        return stopping.requested
    asked = stop.is_set if hasattr(stop, "is_set") else stop
    return lambda: asked() or stopping.requested()


def get_sandbox(trial, data_dir: Path, db_url: str | None = None, env=None, *, stop=None) -> Sandbox:
    """The sandbox named by trial.sandbox, set up for this trial's workdir and data folder.

    For docker, the trial's container is found, or created from `env` (default: the installed
    environment of that name) with the host workdir copied in. `stop` (a threading.Event or a callable,
    e.g. an agent's stop), or the console's quit (scoring.stopping), ends the image build and the copy in:
    SandboxStopped, and no container is left half made.
    """
    kind = trial.sandbox or "local"
    if kind not in SANDBOX_KINDS:
        raise SandboxError(f"trial {trial.id} asks for sandbox {kind!r}; choices: {', '.join(SANDBOX_KINDS)}")
    if not trial.workdir:
        raise SandboxError(f"trial {trial.id} has no workdir")
    if kind == "docker":
        from console.sandbox.docker_trials import open_sandbox
        from scoring.container_exec import describe_error, docker_errors

        asked = _stop_asked(stop)
        try:
            return open_sandbox(trial, data_dir, env, stop=asked)
        except docker_errors() as exc:  # ContainerError, the SDK's errors, the daemon gone
            error = SandboxStopped if asked() else SandboxError
            raise error(f"docker sandbox of trial {trial.id}: {describe_error(exc)}") from None
    env_vars = {
        "REARENA_TRIAL": str(trial.id),
        "REARENA_DATA_DIR": str(Path(data_dir).expanduser().absolute()),
        "REARENA_WORKDIR": str(trial.workdir),
    }
    if db_url:
        env_vars["REARENA_DB"] = db_url
    from console.sandbox.local import LocalSandbox

    workdir = Path(trial.workdir)
    return LocalSandbox(workdir, workdir.parent, env_vars, label=f"rearena trial {trial.id} {trial.environment}")


def sync_workdir(trial, data_dir: Path) -> list[str] | None:
    """Bring the live workdir out of a docker trial's container into trial.workdir (its host mirror); returns
    what was not copied (named, with why: a path too long for this host, a link that leads outside...); None
    for a local trial (it works in trial.workdir itself: nothing to do).

    SandboxError when the container is gone or stopped (killed, a reboot): trial.workdir then holds the last
    copy taken from it, which is what gets snapshotted and scored; the caller records that it was.
    """
    if (trial.sandbox or "local") != "docker" or not trial.workdir:
        return None
    from console.sandbox.docker_trials import _sandbox, find_container
    from scoring.container_exec import describe_error, docker_errors

    try:
        container = find_container(trial, data_dir)
        if container is None or container.status != "running":
            state = "is gone" if container is None else f"is not running ({container.status})"
            raise SandboxError(f"the container of trial {trial.id} {state}: the last copy of its workdir taken from "
                               f"it is used, without what changed in the container since; opening the trial in "
                               f"the console starts a new container from that copy")
        return _sandbox(container, trial).pull_workdir()
    except docker_errors() as exc:  # ContainerError, the SDK's errors, the daemon gone
        raise SandboxError(f"cannot copy the workdir of trial {trial.id} out of its container: "
                           f"{describe_error(exc)}; the last copy taken from it is used") from None


@contextmanager
def reading_copy(trial) -> Iterator[Path]:
    """The folder to snapshot and score for the trial: a local trial's workdir itself; a docker trial's, a private
    copy of its host mirror (console.sandbox.mirror), which no other process's pull replaces while it is read,
    removed when the block ends."""
    if (trial.sandbox or "local") != "docker" or not trial.workdir:
        yield Path(trial.workdir)
        return
    from console.sandbox.mirror import private_copy

    with private_copy(Path(trial.workdir)) as folder:
        yield folder


def release_sandbox(trial, data_dir: Path) -> bool:
    """Remove a docker trial's container (when the trial ends); False if there was none."""
    if (trial.sandbox or "local") != "docker":
        return False
    from console.sandbox.docker_trials import release
    from scoring.container_exec import ContainerError

    try:
        return release(trial, data_dir)
    except ContainerError:
        return False


def scorer_for(kind: str):
    """The official scorer for a sandbox kind: a separate container for docker, processes for local."""
    if kind == "docker":
        from scoring.docker_runner import score_in_container

        return score_in_container
    from scoring.runner import score_candidate

    return score_candidate


def cleanup_orphans(store) -> list[str]:
    """Remove docker containers left behind (ended or unknown trials, dead scorers); call at start-up.

    Returns at once when docker is not installed or not running.
    """
    from console.sandbox.docker_trials import cleanup_orphans as cleanup

    try:
        return cleanup(store)
    except Exception:  # start-up goes on whatever docker says
        return []
