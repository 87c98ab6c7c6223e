"""Which process holds a trial's pause (a scoring, an agent's wait on a failing API) or runs its agent, written
into the pause's note or the trial's settings, so that a console that opens the trial later can tell work still
under way (another console, `rearena task score`, `rearena agent`) from work whose process died (killed, a crash,
the machine rebooted) and left the clock paused, or the trial running, for ever. The process is named as the run
file systems name their runner (scoring.process_owner), and its machine by its machine-id and host name: on the
same machine, a process of an earlier boot is gone."""

from __future__ import annotations

import socket

from scoring.process_owner import gone, of_earlier_boot, owner_line

_IN = " in process "
_ON = " on machine "
OWNED = ("scoring", "api_wait", "agent")  # what an owner note may name as the owner's work
AGENT_OWNER_KEY = "agent_owner"  # in an agent trial's settings: the note of the process running its agent


def machine() -> str:
    """This machine: /etc/machine-id and the host name (cloned virtual machines may share a machine-id);
    "" where there is no machine-id."""
    try:
        with open("/etc/machine-id") as found:
            machine_id = found.read().strip()
    except OSError:
        return ""
    return f"{machine_id}@{socket.gethostname()}".replace(" ", "_") if machine_id else ""


def owner_note(what: str = "scoring") -> str:
    """The note naming this process as the owner of `what` (a scoring's pause, an api_wait pause, an agent
    run); "" where the process cannot be named (never told gone)."""
    line = owner_line()
    if not line:
        return ""
    here = machine()
    return f"{what}{_IN}{line}{_ON}{here}" if here else f"{what}{_IN}{line}"


def owner_pid(note: str) -> str:
    """The process id an owner note names (digits, as written), "" where it names none."""
    _, found, rest = (note or "").partition(_IN)
    pid = rest.split()[0] if found and rest.split() else ""
    return pid if pid.isdigit() else ""


def owner_gone(note: str) -> bool:
    """True only when the note names a process that is no longer running: one of this boot and namespaces
    that has exited, or one of this machine's earlier boot; False where it cannot be told (another machine
    or namespace, an older note, a note that names no owner)."""
    head, found, rest = (note or "").partition(_IN)
    if not found or not head.split() or head.split()[-1] not in OWNED:
        return False
    line, _, noted_machine = rest.partition(_ON)
    return gone(line) or (bool(noted_machine) and noted_machine == machine() and of_earlier_boot(line))


def agent_owner_gone(settings: dict | None) -> bool:
    """True when a trial's settings name the process that runs its agent and that process is gone."""
    note = (settings or {}).get(AGENT_OWNER_KEY)
    return isinstance(note, str) and owner_gone(note)


def end_gone_agent_trial(service, trial):
    """End, with reason "agent_gone" at its last event's time, a running agent trial whose settings name the
    process running its agent and that process is gone (killed, a crash, a reboot: nothing ended the trial);
    the ended trial, else None. `service` is the trial service (console.trials.service.TrialService), `trial`
    the trial's record as just read (its limits check reads it: no read of its own)."""
    if trial.status == "ended" or not agent_owner_gone(trial.settings):
        return None
    store = service.store
    last = store.events(trial.id, after_id=store.last_event_id(trial.id) - 1, limit=1)
    at = last[0].at if last else service.clock()
    service.event(trial.id, "agent_gone", {"note": "the process running this trial's agent ended without ending "
                                                   "the trial; it ends at its last event"}, at=at)
    return service.end(trial.id, "agent_gone", at=at)
