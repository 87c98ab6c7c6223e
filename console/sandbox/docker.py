"""The docker sandbox: one container per trial, commands as the non-root user `participant`.

The container (see scoring.containers for its limits) holds the participant's files in
/home/participant/workdir, a size-limited tmpfs: nothing of the host is mounted, no
scorer file, reference solution, database or docker socket is inside. The host keeps a
mirror of the workdir in the trial's folder, refreshed by `pull_workdir` (at every
snapshot; read in the container as the participant, never as root); a snapshot and the
official scorer (scoring.docker_runner) read a private copy of it (console.sandbox.mirror).
Nothing the participant had is lost by a pull: what they made unreadable to themselves
(`chmod -R 644 ~/workdir`, a 000 folder) keeps its last readable copy from the mirror
(named as kept, scoring.container_exec.fetch_folder), a workdir that cannot be read at all
keeps the whole mirror, and a container not yet filled (just restarted: its tmpfs empty, or
being filled: open_sandbox holds the mirror's lock meanwhile) is not copied out at all. So
the scored copy is what the participant has now where they can read it, and the last
readable version of the rest.

Each exec runs a small bash wrapper (WRAP) that leads its own process group, so the
group can be killed on a timeout or an output flood (by a second exec as the
participant: joining a container is allowed even when its pids limit is reached). The
wrapper reports the cgroup's OOM-kill and pids-limit counters before and after the
command; a command that fails or is stopped is also followed by a probe of the disks.
The limits a command ran into are reported in its output and in ExecResult.limit.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

from console.sandbox.base import COMMANDS_FILE, DEFAULT_OUTPUT_CAP, ExecResult
from console.sandbox.local import OutputBuffer
from scoring import containers as dk
from scoring.container_exec import ContainerError, fetch_folder, put_folder, run_exec

STATE_DIR = f"{dk.HOME}/.rearena"  # the shell's rcfile, history and command log (the participant's own)
# Written last when a container is filled with the workdir (console.sandbox.docker_trials): its tmpfs holds the
# whole copy. FILLED as root in /tmp (sticky: the participant can neither remove nor replace it); MARKER, the
# participant's own, is what containers filled before FILLED existed have.
MARKER, FILLED = ".rearena/created", "/tmp/.rearena-filled"
PID_MARK, EXIT_MARK = b"@@rearena-pid ", b"@@rearena-exit "
# A helper exec (kill, probe) that a sandbox at its process limit refuses is tried again after this pause.
EXEC_RETRY_S = 0.5
# `bash -c WRAP COMMAND`. A docker exec's process leads its own session and process group (else it
# re-runs itself under setsid), so the group is killed as a whole on a limit. The wrapper reports on
# the exec's stderr its group and the cgroup's OOM-kill and pids-limit counters (bash builtins only:
# no fork, so it works at the pids limit), before the command and after it with the exit status.
# The command's output (stdout and stderr merged) goes through a relay (cat) that is stopped 0.2 s
# after the command exits: something it left running in the background cannot hold the exec's stream
# open (dockerd would then hold this exec, and the next ones, for seconds).
WRAP = r"""read -r _ _ _ _ g _ < /proc/$$/stat
if [ "$g" != "$$" ]; then exec setsid -w bash --noprofile --norc -c "$BASH_EXECUTION_STRING" "$0"; fi
c() { local f k v; o=0 m=0
  for f in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; do
    [ -r $f ] && while read -r k v; do [ "$k" = oom_kill ] && o=$v; done < $f; done
  for f in /sys/fs/cgroup/pids.events /sys/fs/cgroup/pids/pids.events; do
    [ -r $f ] && while read -r k v; do [ "$k" = max ] && m=$v; done < $f; done; }
c; echo "@@rearena-pid $$ $o $m" >&2
exec 3>&2 2>/dev/null 5<> <(:) 6> >(exec cat)
r=$!
bash --noprofile --norc -c "$0" >&6 2>&1 </dev/null 3>&- 5>&- 6>&-
code=$?
exec 6>&-
for i in {1..40}; do kill -0 $r 2>/dev/null || break; read -t 0.005 -u 5; done
kill -KILL $r 2>/dev/null
c; echo "@@rearena-exit $code $o $m" >&3; exit $code"""
PROBE = r"""
import os
out = {"oom_kill": 0, "max": 0}
for path, key in (("/sys/fs/cgroup/memory.events", "oom_kill"),
                  ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
                  ("/sys/fs/cgroup/pids.events", "max"), ("/sys/fs/cgroup/pids/pids.events", "max")):
    try:
        for line in open(path):
            name, _, value = line.partition(" ")
            if name == key:
                out[key] += int(value)
    except (OSError, ValueError):
        pass
for mount in ("/home/participant", "/tmp"):
    st = os.statvfs(mount)
    out[mount] = [st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize]
print(out)
"""


def flood_limit(output_cap: int) -> int:
    """Bytes of output after which a command is stopped as a flood."""
    return max(64 << 20, 64 * int(output_cap))


class DockerSandbox:
    """A trial's container: exec, shell and editor as `participant`, files in and out."""

    kind = "docker"
    isolates = True
    warning = ""

    def __init__(self, container, workdir: Path, trial_dir: Path, *, trial_id: int = 0, entry_point: str = "",
                 memory_gb: float = 0.0, pids: int = 0, disk_gb: float = 0.0):
        self.container = container
        self.workdir = Path(workdir)  # the host mirror; the live files are in the container
        self.trial_dir = Path(trial_dir)
        self.trial_id = trial_id
        self.entry_point = entry_point
        self.limits = {"memory_gb": memory_gb, "pids": pids, "disk_gb": disk_gb}

    def __repr__(self) -> str:
        return f"DockerSandbox({self.container.short_id}, trial {self.trial_id})"

    @property
    def api(self):
        """The low-level docker API client."""
        return self.container.client.api

    def exec_env(self) -> dict[str, str]:
        """What every command gets on top of the image's environment (its PATH, LANG...): no rearena secrets."""
        return {"HOME": dk.HOME, "USER": dk.PARTICIPANT, "LOGNAME": dk.PARTICIPANT, "TMPDIR": "/tmp",
                "REARENA_SANDBOX": "docker", "REARENA_TRIAL": str(self.trial_id)}

    # -- commands ------------------------------------------------------------------------

    def exec(self, command: str, timeout: float, output_cap: int = DEFAULT_OUTPUT_CAP, retried: bool = False,
             stop=None) -> ExecResult:
        """Run `bash -c command` as the participant in the workdir; timeout, output cap, limits reported.

        The exit status is the one bash reports (128 + n for a command killed by signal n); -9 when the
        sandbox stopped the command (timeout, output flood, `stop`: a threading.Event, set). A command that
        cannot start because the sandbox is at its process limit stops every participant process and is run
        once more.
        """
        out = OutputBuffer(output_cap)
        marks: dict[bytes, list[int]] = {}

        def stderr_line(line: bytes) -> None:
            for mark in (PID_MARK, EXIT_MARK):
                if line.startswith(mark) and mark not in marks:
                    try:
                        marks[mark] = [int(x) for x in line[len(mark):].split()]
                        return
                    except ValueError:
                        break
            if not line.startswith(b"setsid: child "):  # "did not exit normally": we killed it
                out.add(line + b"\n")

        stopping: list[threading.Thread] = []

        def kill(_kind: str) -> None:  # in a thread: the stream is read on meanwhile (docker reports an exec's
            # end only once its output is read, so a flood not read would hold the kill's exec until its timeout)
            thread = threading.Thread(target=self.kill_group, args=(marks.get(PID_MARK, [None])[0],), daemon=True)
            thread.start()
            stopping.append(thread)

        started = time.monotonic()
        try:
            outcome = run_exec(self.api, self.container.id, ["bash", "--noprofile", "--norc", "-c", WRAP, command],
                               user=dk.PARTICIPANT, workdir=dk.WORKDIR, env=self.exec_env(),
                               timeout=max(0.0, timeout), on_stdout=out.add, on_stderr_line=stderr_line,
                               on_limit=kill, flood_bytes=flood_limit(output_cap), is_done=lambda: EXIT_MARK in marks,
                               stop=None if stop is None else stop.is_set)
        finally:  # a kill under way ends before the next command can start (it would kill that too)
            for thread in stopping:
                thread.join()
        ended = marks.get(EXIT_MARK)
        code = ended[0] if ended else outcome.exit_code
        if outcome.timed_out or outcome.flooded or outcome.stopped or code is None:
            code = -9
        limits, notes = self._limits_hit(outcome, code, marks, timeout, output_cap)
        if "pids" in limits and not (outcome.timed_out or outcome.flooded or outcome.stopped):
            if PID_MARK in marks and EXIT_MARK in marks:  # a fork bomb outlives its command: stop what it left
                self.kill_group(marks[PID_MARK][0])
                notes.append("[rearena: what the command left running was stopped]")
            elif not retried:  # the command could not start: free the sandbox, then run it (once more)
                self.kill_all()
                again = self.exec(command, max(1.0, timeout - (time.monotonic() - started)), output_cap, retried=True,
                                  stop=stop)
                note = ("[rearena: the sandbox was at its process limit, so every process of the participant "
                        "was stopped before this command ran]\n")
                return ExecResult(exit_code=again.exit_code, output=note + again.output, timed_out=again.timed_out,
                                  duration_s=time.monotonic() - started,
                                  limit=",".join(["pids", again.limit]).strip(","))
        text = out.text()
        if notes:
            text = text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(notes) + "\n"
        return ExecResult(exit_code=code, output=text, timed_out=outcome.timed_out,
                          duration_s=time.monotonic() - started, limit=",".join(limits))

    def kill_group(self, pgid: int | None) -> None:
        """SIGKILL a process group of the participant (every participant process if it is unknown).

        Waits (up to 15 s, builtins only) until the group is gone, so that a fork bomb's processes are
        reaped and the next command can start.
        """
        target = f"-{pgid}" if pgid and pgid > 1 else "-1"
        script = (f"kill -KILL -- {target} 2>/dev/null; while kill -0 -- {target} 2>/dev/null && (( SECONDS < 15 )); "
                  f"do kill -KILL -- {target} 2>/dev/null; done; true")
        self._helper(["bash", "--noprofile", "--norc", "-c", script], seconds=20)

    def kill_all(self) -> None:
        """SIGKILL every process of the participant (shells included), e.g. after a runaway fork bomb."""
        self.kill_group(None)

    def probe(self) -> dict:
        """The container's OOM-kill and pids-limit counters and free disk (one process: works at the pids limit)."""
        import ast

        text = self._helper(["python3", "-I", "-S", "-c", PROBE], seconds=15)
        try:
            found = ast.literal_eval((text or b"").decode().strip() or "{}")
        except (ValueError, SyntaxError, UnicodeDecodeError):
            found = {}
        return found if isinstance(found, dict) else {}

    def _helper(self, argv: list[str], seconds: float) -> bytes | None:
        """The output of a helper command (kill, probe) run as the participant to a 0 status within `seconds`;
        None where it did not (it failed, or ran out of time).

        An exec refused because the sandbox is at its process limit (dockerd writes its error into the
        exec's output and ends it with status 126; or the API call fails) is tried again until then,
        unless the container is no longer running.
        """
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            chunks: list[bytes] = []
            try:
                outcome = run_exec(self.api, self.container.id, argv, user=dk.PARTICIPANT, timeout=left,
                                   on_stdout=chunks.append)
                if outcome.timed_out:
                    return None
                if outcome.exit_code == 0:
                    return b"".join(chunks)
            except ContainerError:
                pass
            if not self._running():
                return None
            time.sleep(EXEC_RETRY_S)
        return None

    def _running(self) -> bool:
        try:
            return bool(self.api.inspect_container(self.container.id)["State"]["Running"])
        except Exception:  # noqa: BLE001 - gone, or docker unreachable: nothing to retry
            return False

    def _limits_hit(self, outcome, code: int, marks: dict, timeout: float, output_cap: int
                    ) -> tuple[list[str], list[str]]:
        limits, notes = [], []
        if outcome.timed_out:
            limits.append("timeout")
            notes.append(f"[rearena: timeout: the command was stopped after {timeout:g} s]")
        if outcome.flooded:
            limits.append("output")
            notes.append(f"[rearena: output flood: more than {flood_limit(output_cap) >> 20} MB of output; "
                         "the command was stopped]")
        if outcome.stopped:  # asked for (the agent's run stopping): no limit of the sandbox
            notes.append("[rearena: the command was stopped before it finished]")
        start = marks.get(PID_MARK, [0, 0, 0])[1:] or [0, 0]
        probe = self.probe() if (limits or code != 0 or EXIT_MARK not in marks) else {}
        if EXIT_MARK not in marks and not probe:
            notes.append("[rearena: the sandbox's memory and process counters could not be read, so a limit "
                         "this command hit may be missing from this report]")
        end = marks.get(EXIT_MARK, [0])[1:] if EXIT_MARK in marks else [probe.get("oom_kill", 0), probe.get("max", 0)]
        if len(start) == 2 and len(end) == 2 and end[0] > start[0]:
            limits.append("memory")
            notes.append(f"[rearena: out of memory: a process was killed at the sandbox's memory limit "
                         f"({self.limits['memory_gb']:g} GB)]")
        if len(start) == 2 and len(end) == 2 and end[1] > start[1]:
            limits.append("pids")
            notes.append(f"[rearena: process limit: {self.limits['pids']} processes and threads reached; "
                         "new ones were refused]")
        for mount in (dk.HOME, "/tmp"):
            if mount not in probe:
                continue
            free, total = probe[mount]
            if total and free < max(1 << 20, total // 200):
                limits.append("disk")
                notes.append(f"[rearena: disk full: {mount} is full ({total / (1 << 30):.2g} GB)]")
        return limits, notes

    # -- files ---------------------------------------------------------------------------

    def copy_in(self, src: Path, dest: str = dk.WORKDIR) -> None:
        """Copy a host folder's contents into the container (owned by the participant)."""
        from scoring.container_exec import tar_folder

        put_folder(self.api, self.container.id, tar_folder(Path(src)), dest, user=dk.PARTICIPANT)

    def copy_out(self, dest: Path, src: str = dk.WORKDIR, last_copy: Path | None = None) -> list[str]:
        """Copy a container folder's contents into a new host folder, read as the participant (nothing they
        could not read comes out; what they cannot read now is taken from last_copy, where given); returns
        what was unsafe to copy, not readable, or kept from last_copy."""
        cap = int((self.limits["disk_gb"] or 64) * (1 << 30)) + (64 << 20)
        return fetch_folder(self.api, self.container.id, src, Path(dest), max_bytes=cap, user=dk.PARTICIPANT,
                            last_copy=last_copy)

    def filled(self) -> bool:
        """Whether the container holds the whole workdir copied in (its fill ended: FILLED, or MARKER)."""
        script = f'[ -e {FILLED} ] && [ ! -O {FILLED} ] || [ -e {dk.HOME}/{MARKER} ]'  # FILLED: root's
        return run_exec(self.api, self.container.id, ["/bin/sh", "-c", script], user=dk.PARTICIPANT,
                        timeout=30).exit_code == 0

    def require_filled(self) -> None:
        """ContainerError when the container does not hold the whole workdir (restarted, not filled again)."""
        if not self.filled():
            raise ContainerError(f"the container {self.container.name} does not hold the whole workdir (it was "
                                 "restarted, its files not copied in again): nothing copied out of it")

    def pull_workdir(self) -> list[str]:
        """Replace the host mirror of the workdir with the container's workdir (swapped by renames, under the
        mirror's lock: console.sandbox.mirror); what the participant cannot read now is kept from the mirror;
        returns what was not copied or was kept, named, with why. ContainerError (the mirror kept) when the
        container is not filled (open_sandbox fills under the mirror's lock: a pull waits for it) or its
        workdir cannot be read."""
        import tempfile

        from console.sandbox.mirror import locked

        parent = self.workdir.parent
        parent.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix=".workdir-incoming-", dir=parent))
        old = None
        try:
            with locked(self.workdir, exclusive=False):  # no fill meanwhile (it holds the lock exclusive), and the
                self.require_filled()  # mirror, the last copy, stays as it is while it is read
                skipped = self.copy_out(fresh, last_copy=self.workdir if self.workdir.is_dir() else None)
                self.require_filled()  # not restarted (emptied) while it was copied
            with locked(self.workdir, exclusive=True):  # another process may be pulling or reading the mirror
                old = Path(tempfile.mkdtemp(prefix=".workdir-previous-", dir=parent))
                if self.workdir.exists():
                    self.workdir.rename(old / "w")
                fresh.rename(self.workdir)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return skipped

    def read_file(self, path: str, max_bytes: int = 16 << 20) -> bytes:
        """A file of the workdir (relative path), read as the participant."""
        chunks: list[bytes] = []
        outcome = run_exec(self.api, self.container.id, ["head", "-c", str(max_bytes), "--", path],
                           user=dk.PARTICIPANT, workdir=dk.WORKDIR, timeout=30, on_stdout=chunks.append)
        if outcome.exit_code != 0:
            raise FileNotFoundError(outcome.stderr.decode("utf-8", "replace").strip() or path)
        return b"".join(chunks)

    def write_file(self, path: str, data: bytes) -> None:
        """Write a file of the workdir (relative path, folders created), as the participant."""
        script = 'mkdir -p -- "$(dirname -- "$0")" && cat > "$0"'
        outcome = run_exec(self.api, self.container.id, ["bash", "--noprofile", "--norc", "-c", script, path],
                           user=dk.PARTICIPANT, workdir=dk.WORKDIR, timeout=60, stdin=data)
        if outcome.exit_code != 0:
            raise OSError(outcome.stderr.decode("utf-8", "replace").strip() or f"cannot write {path}")

    # -- interactive ---------------------------------------------------------------------

    def _attach_argv(self, mode: str) -> list[str]:
        return [sys.executable, "-m", "console.sandbox.docker_shell", mode, self.container.id,
                str(self.trial_dir), self.entry_point.split(":")[0]]

    def shell_argv(self) -> list[str]:
        """A host command that opens the recorded bash in the container, then copies the command log out."""
        return self._attach_argv("shell")

    def shell_env(self) -> dict[str, str]:
        """The host-side environment of that command (the container's own is set by docker exec)."""
        return {"REARENA_TRIAL": str(self.trial_id), "REARENA_SANDBOX": "docker"}

    def editor_argv(self) -> list[str]:
        """The container's editor (vi, or $EDITOR if the image has it) on the entry point or the workdir."""
        return self._attach_argv("editor")

    def commands_path(self) -> Path:
        """The host copy of the shell's command log."""
        return self.trial_dir / COMMANDS_FILE

    def remove(self) -> None:
        """Remove the container (its files are gone; pull_workdir first to keep them)."""
        dk.remove_container(self.container)
