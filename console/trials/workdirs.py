"""A trial's workdir for the trial service: making it with the starting files, bringing it out of its sandbox
into a folder no one replaces while it is read, and snapshotting it (console.trials.service.TrialService).

The functions that take `service` use its store, clock and private helpers (_event), as its own methods would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from console.store.records import TrialRecord
from console.trials.errors import TrialError
from environments.model import Environment


def make_workdir(folder: Path, env: Environment, variant: str) -> None:
    """Make an empty or new folder the workdir, with the starting files; TrialError says why it cannot."""
    from environments.registry import materialize_candidate

    try:
        if folder.exists() and not folder.is_dir():
            raise TrialError(f"workdir {folder} is not a folder")
        if folder.exists() and any(folder.iterdir()):
            raise TrialError(f"workdir {folder} is not empty")
        folder.mkdir(parents=True, exist_ok=True)
        materialize_candidate(env, variant, folder)
    except OSError as exc:
        raise TrialError(f"cannot make the workdir {folder}: {exc.strerror or exc}") from None


def snapshot(service, trial_id: int, reason: str) -> str:
    """Snapshot the trial's workdir; a "snapshot" event only when it changed since the last one."""
    trial = service.store.trial(trial_id)
    if not trial.workdir or not Path(trial.workdir).is_dir():
        raise TrialError(f"trial {trial_id} has no workdir to snapshot ({trial.workdir or 'none recorded'})")
    digest = snapshot_workdir(service, trial)
    last = service.store.events(trial_id, kinds=["snapshot"])
    if not last or last[-1].data.get("hash") != digest:
        service._event(trial, "snapshot", {"hash": digest, "reason": reason})
    return digest


def snapshot_workdir(service, trial: TrialRecord) -> str:
    """The snapshot of the trial's workdir, brought out of its sandbox first; "" where it has none."""
    with workdir_copy(service, trial) as folder:
        if not trial.workdir or not folder.is_dir():
            return ""
        return service.store.snapshot_dir(folder, trial_id=trial.id, at=service.clock())


@contextmanager
def workdir_copy(service, trial: TrialRecord) -> Iterator[Path]:
    """The trial's workdir, brought out of its sandbox first (docker: copied out of the container; what could
    not be copied, or why nothing could, recorded), as a folder that no other process replaces while it is
    read (docker: a private copy of the host mirror, gone when the block ends; console.sandbox.mirror)."""
    from console.sandbox import SandboxError, reading_copy, sync_workdir

    try:
        skipped = sync_workdir(trial, service.store.data_dir)
        if skipped:
            service._event(trial, "not_copied", {"count": len(skipped), "entries": skipped[:50], "note": (
                "entries of the workdir not read from the sandbox this time: those marked 'kept from the last "
                "copy' are in the snapshot and scored as they were last read; the others are neither")})
    except SandboxError as exc:
        service._event(trial, "sandbox_error", {"error": str(exc)})
    with reading_copy(trial) as folder:
        yield folder


def snapshot_or_note(service, trial: TrialRecord, folder: Path | None = None) -> str:
    """The snapshot of `folder` (the workdir's copy a scoring reads, or a folder `rearena score --record`
    scored), else of the trial's workdir, brought out of its sandbox first; "" where it cannot be taken
    (past the snapshot cap, unreadable), recorded as a snapshot_failed event: a scoring or the trial's end
    goes on without one."""
    from console.store.errors import StoreError

    try:
        if folder is None:
            return snapshot_workdir(service, trial)
        return service.store.snapshot_dir(Path(folder), trial_id=trial.id, at=service.clock())
    except (StoreError, OSError) as exc:
        service._event(trial, "snapshot_failed", {"error": str(exc)[:2000],
                                                  **({"folder": str(folder)} if folder is not None else {})})
        return ""
