"""Commands and files in a running container, through the docker SDK's raw exec socket.

`run_exec` starts a command with `docker exec`, feeds it optional stdin, and reads its
multiplexed stdout/stderr frames against a deadline, handing stdout to a callback (so
output can be capped or streamed into a file) and calling back once when the deadline
passes or the output grows past a flood limit (the caller kills what it started). It
returns within the deadline plus a short grace, whatever the command does.

`put_folder` / `fetch_folder` copy a folder in and out as a tar stream through `tar`
inside the container; this also works for tmpfs mounts, which `docker cp` cannot see.
Archives that come out of a container are untrusted: fetch_folder hands the stream to
scoring.tar_extract (only plain files, folders and relative symlinks that stay inside are
extracted; the rest is named). The copy out reads as the participant what they can read now; entries
they made unreadable (Permission denied: `chmod -R 644 ~/workdir`, a 000 folder) are taken from the last copy
(`last_copy`, the host mirror) and named as kept, so nothing they had is lost: the scored copy is what they
have now where readable and, for the rest, the last readable version, better than nothing (the container,
the only other copy, is removed at the trial's end). A src that cannot be read, or whose own entries cannot,
is not copied at all (ContainerError): the last copy stays whole. A copy out stops (its tar killed) at its cap. A copy in can be
stopped (run_exec's `stop`). `tar_folder` / `write_tar` make the archives sent in.

ContainerError and the error helpers live in scoring.container_errors, extract_untrusted in
scoring.tar_extract; both are imported here too, where most code takes them from.
"""

from __future__ import annotations

import io
import os
import re
import select
import socket
import stat
import struct
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from scoring.container_errors import ContainerError, daemon_unreachable, describe_error, docker_errors
from scoring.tar_extract import Unreadable, extract_untrusted, unescape
from scoring.tree_walk import FolderReader, LinkBudget, TreeRefused, kind, link_escapes, named

DRAIN_GRACE_S = 2.5  # after a kill: how long to keep reading (dockerd waits 2 s for streams it cannot close)
EXIT_GRACE_S = 0.2  # after the command says it is done: how long to wait for output of what it left running
STDOUT, STDERR = 1, 2

# the names other code imports from here, those of scoring.container_errors and scoring.tar_extract included
__all__ = ["MKDIR", "TAR", "ContainerError", "ExecOutcome", "TailBuffer", "add_bytes", "check", "daemon_unreachable",
           "describe_error", "docker_errors", "extract_untrusted", "fetch_folder", "put_folder", "run_exec",
           "tar_folder", "write_tar"]


@dataclass
class ExecOutcome:
    """What one exec did: exit code (None while still running), stderr, limits hit, time."""

    exit_code: int | None
    stderr: bytes
    timed_out: bool
    flooded: bool
    stdout_bytes: int
    duration_s: float
    stopped: bool = False  # its `stop` said so before it ended


def _send(raw, stdin: bytes | BinaryIO, deadline: float | None, stop: Callable[[], bool] | None) -> None:
    """Write stdin to the exec, then end it; the write gives up at the deadline or when `stop` says so (the
    command then reads a cut stream: tar fails on it), asked between slices of at most 0.25 s."""
    source = io.BytesIO(stdin) if isinstance(stdin, bytes) else stdin  # a file: streamed, not read at once
    raw.settimeout(0.25)  # each send() waits at most this long and sends what fits
    try:
        while chunk := source.read(1 << 20):
            view = memoryview(chunk)
            while view:
                if (stop is not None and stop()) or (deadline is not None and time.monotonic() >= deadline):
                    return
                try:
                    view = view[raw.send(view):]
                except TimeoutError:
                    continue
    except OSError:
        pass  # the command ended early: the reader reports it
    finally:
        try:
            raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        raw.settimeout(None)


def _raw_socket(sock):
    return getattr(sock, "_sock", sock)


def run_exec(api, container_id: str, argv: list[str], *, user: str = "", workdir: str | None = None,
             env: dict[str, str] | None = None, timeout: float | None = None, stdin: bytes | BinaryIO | None = None,
             on_stdout: Callable[[bytes], None] | None = None, on_stderr_line: Callable[[bytes], None] | None = None,
             on_limit: Callable[[str], None] | None = None, flood_bytes: int | None = None,
             stderr_cap: int = 65536, is_done: Callable[[], bool] | None = None,
             stop: Callable[[], bool] | None = None) -> ExecOutcome:
    """Run argv in the container; on_limit("timeout"|"output"|"stopped") is called once when a limit is hit.

    is_done, when given, says that the command has finished (e.g. it printed an end marker): reading
    then stops after a short grace even if something it left running keeps the stream open. stop, when
    given, is asked while stdin is written and the output read (in this thread): once it says so, the
    rest of stdin is not sent and the command is treated as at a limit ("stopped": the caller kills it).
    """
    started = time.monotonic()
    try:
        created = api.exec_create(container_id, argv, stdout=True, stderr=True, stdin=stdin is not None,
                                  user=user, workdir=workdir, environment=env)
        raw = _raw_socket(api.exec_start(created["Id"], socket=True))
    except Exception as exc:
        raise ContainerError(f"docker exec in container {container_id[:12]} failed: {describe_error(exc)}") from None
    deadline = started + timeout if timeout is not None else None
    timed_out = flooded = stopped = False
    stdout_bytes = 0
    stderr = bytearray()
    line = bytearray()
    buf = bytearray()
    limit_hit_at = done_at = None
    try:
        if stdin is not None:
            _send(raw, stdin, deadline, stop)
        while True:
            now = time.monotonic()
            if limit_hit_at is None and deadline is not None and now >= deadline:
                timed_out, limit_hit_at = True, now
                if on_limit:
                    on_limit("timeout")
            if limit_hit_at is None and done_at is None and stop is not None and stop():
                stopped, limit_hit_at = True, now
                if on_limit:
                    on_limit("stopped")
            if limit_hit_at is not None and now - limit_hit_at > DRAIN_GRACE_S:
                break
            if done_at is None and is_done is not None and is_done():
                done_at = now
            if done_at is not None and now - done_at > EXIT_GRACE_S:
                break
            wait = 0.25 if deadline is None else max(0.0, min(0.25, deadline - now))
            if limit_hit_at is not None or done_at is not None:
                wait = 0.05
            if not select.select([raw], [], [], wait)[0]:
                continue
            chunk = raw.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 8:
                kind, size = buf[0], struct.unpack(">I", buf[4:8])[0]
                if len(buf) < 8 + size:
                    break
                payload = bytes(buf[8:8 + size])
                del buf[:8 + size]
                if kind == STDERR:
                    if len(stderr) < stderr_cap:
                        stderr += payload[: stderr_cap - len(stderr)]
                    if on_stderr_line:
                        line += payload
                        while b"\n" in line:
                            first, _, rest = bytes(line).partition(b"\n")
                            on_stderr_line(first)
                            line = bytearray(rest)
                    continue
                stdout_bytes += len(payload)
                if flooded:
                    continue
                if flood_bytes is not None and stdout_bytes > flood_bytes:
                    flooded = True
                    if on_limit and limit_hit_at is None:  # once: not again for a flood after a timeout
                        on_limit("output")
                    limit_hit_at = limit_hit_at or time.monotonic()
                    continue
                if on_stdout:
                    on_stdout(payload)
    finally:
        try:
            raw.close()
        except OSError:
            pass
    exit_code = None
    try:
        if is_done is None or not is_done():  # else the caller has the exit status from the command itself
            info = api.exec_inspect(created["Id"])
            if not info.get("Running"):
                exit_code = info.get("ExitCode")
    except Exception:
        pass
    return ExecOutcome(exit_code, bytes(stderr), timed_out, flooded, stdout_bytes, time.monotonic() - started,
                       stopped)


class TailBuffer:
    """Keeps the last `keep` bytes of a stream."""

    def __init__(self, keep: int = 64 * 1024):
        self.keep = keep
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        """Take one chunk."""
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > self.keep:
            del self.data[: len(self.data) - self.keep]

    def text(self) -> str:
        """The kept tail as text."""
        return bytes(self.data).decode("utf-8", "replace")


def check(outcome: ExecOutcome, what: str) -> None:
    """Raise ContainerError unless the exec exited 0."""
    if outcome.exit_code != 0:
        why = "timed out" if outcome.timed_out else f"exit code {outcome.exit_code}"
        raise ContainerError(f"{what} failed ({why}): {outcome.stderr.decode('utf-8', 'replace')[-2000:]}")


# -- tar streams -------------------------------------------------------------------------


def tar_folder(src: Path, prefix: str = "", skip: Callable[[Path], bool] | None = None,
               mode: Callable[[tarfile.TarInfo], tarfile.TarInfo] | None = None) -> bytes:
    """A tar archive of src's contents (under `prefix`), owners cleared, symlinks kept as links."""
    data = io.BytesIO()
    write_tar(src, data, prefix=prefix, skip=skip, mode=mode)
    return data.getvalue()


def write_tar(src: Path, out: BinaryIO, *, prefix: str = "", skip: Callable[[Path], bool] | None = None,
              mode: Callable[[tarfile.TarInfo], tarfile.TarInfo] | None = None, cap_bytes: int | None = None,
              what: str = "the folder", links_inside: bool = False) -> list[str]:
    """Write a tar of src's folders, regular files and symlinks (as links) to `out`, walked without recursion,
    owners cleared; returns the rest (pipes, sockets, devices; with links_inside, links that reach outside
    src, and loops: tree_walk.link_escapes), named. TreeRefused: past cap_bytes of files (folder_too_large) or something
    unreadable (copy_failed); `what` names src in its message."""
    total, largest, skipped, budget = 0, (0, ""), [], LinkBudget()
    tree: dict[tuple[str, ...], str | None] = {}  # what the tar holds: a link's text, None for the rest
    links: list[tuple[PurePosixPath, os.stat_result, str]] = []  # with links_inside: judged once all is read
    try:
        with ExitStack() as stack, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            if prefix:
                top = tarfile.TarInfo(prefix)
                top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
                tar.addfile(top)
            # the folder opened once: walked and read through it, nothing below it followed (tree_walk)
            reader = stack.enter_context(FolderReader(Path(src)))
            for rel, info in reader.walk(named(frozenset({"__pycache__"}))):
                if skip and skip(Path(rel)):
                    continue
                if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                    skipped.append(f"{rel} ({kind(info.st_mode)})")
                    continue
                link = reader.read_link(rel) if stat.S_ISLNK(info.st_mode) else None
                tree[PurePosixPath(rel).parts] = link
                if link is not None and links_inside:
                    links.append((rel, info, link))
                    continue
                if not stat.S_ISREG(info.st_mode):
                    member = _member(rel, prefix, info, link)
                    tar.addfile(mode(member) if mode else member)
                    continue
                with reader.open(rel) as fh:
                    info = os.fstat(fh.fileno())  # the size tarfile copies: what is there now
                    total, largest = total + info.st_size, max(largest, (info.st_size, str(rel)))
                    if cap_bytes is not None and total > cap_bytes:
                        raise TreeRefused("folder_too_large", f"folder too large: {what} holds more than "
                                          f"{cap_bytes / (1 << 30):g} GiB of files, the cap (the largest: "
                                          f"{largest[1]}, {largest[0] / (1 << 20):.1f} MiB; a sparse file counts "
                                          f"at its full size)")
                    member = _member(rel, prefix, info)
                    tar.addfile(mode(member) if mode else member, fh)
            # each link judged against what the tar holds, not the live folder: the texts read once are
            # the ones judged and written, whatever changed in the folder meanwhile
            for rel, info, link in links:
                wrong = link_escapes(Path(src), rel, budget, target=link, tree=tree)
                if wrong:
                    skipped.append(f"{rel} ({wrong})")
                    continue
                member = _member(rel, prefix, info, link)
                tar.addfile(mode(member) if mode else member)
    except OSError as exc:
        raise TreeRefused("copy_failed", f"{what} could not be copied: {exc.filename or src}: "
                                         f"{exc.strerror or exc}") from None
    return skipped


def _member(rel: PurePosixPath, prefix: str, info: os.stat_result, link: str | None = None) -> tarfile.TarInfo:
    member = tarfile.TarInfo(str(PurePosixPath(prefix, rel)))
    member.mode, member.mtime = stat.S_IMODE(info.st_mode), int(info.st_mtime)
    if stat.S_ISDIR(info.st_mode):
        member.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(info.st_mode):
        member.type, member.linkname = tarfile.SYMTYPE, link
    else:
        member.size = info.st_size
    return member


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    """Add one in-memory file to an open tar archive."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    tar.addfile(info, io.BytesIO(data))


# by absolute path: these run in containers where a participant has worked (its PATH is the image's)
TAR, MKDIR = "/bin/tar", "/bin/mkdir"


def put_folder(api, container_id: str, archive: bytes | BinaryIO, dest: str, user: str,
               timeout: float = 120.0, stop: Callable[[], bool] | None = None) -> None:
    """Extract a tar archive (bytes, or a file read from where it stands) into dest (created if missing) inside
    the container, as `user`. ContainerError once `stop` (asked in this thread, between slices of the
    archive) says so: the rest is not sent, tar ends on the cut archive, what it extracted stays."""
    argv = [TAR, "-x", "--no-same-owner", "-m", "-C", dest, "-f", "-"]
    outcome = run_exec(api, container_id, [MKDIR, "-p", dest], user=user, timeout=timeout)
    check(outcome, f"creating {dest}")
    outcome = run_exec(api, container_id, argv, user=user, timeout=timeout, stdin=archive, stop=stop)
    if outcome.stopped:
        raise ContainerError(f"copying files into {dest} was stopped before it finished")
    check(outcome, f"copying files into {dest}")


# the tar that copies a folder out leads with its pid (to be killed on a limit: dockerd leaves an exec running
# when its stream is closed), then runs as `sh -c SCRIPT tar ARGS...`
TAR_PID = b"@@rearena-tar "
TAR_SCRIPT = 'echo "@@rearena-tar $$" >&2; exec "$0" "$@"'
SPARSE_NOTE = "sizes count each file at its full length: a sparse file counts at its full size"
# what tar (with --ignore-failed-read) says of an entry it could not read, e.g.
# "/bin/tar: workdir/x: Warning: Cannot open: Permission denied"
UNREADABLE = re.compile(rb"^\S*tar: (.+): Warning: Cannot (\w+): (.+)$")


def fetch_folder(api, container_id: str, src: str, dest: Path, *, max_bytes: int, user: str,
                 timeout: float = 120.0, last_copy: Path | None = None) -> list[str]:
    """Copy src's contents out of the container into dest (a new folder); returns what it skipped, named.

    The tar runs as `user` (the participant, for a workdir): it reads nothing that user cannot, whatever
    lies in src (a link to a root-only file, a file root left there); what it cannot read (Permission denied)
    is taken from `last_copy` (the last copy of src taken, e.g. the host mirror: what the participant made
    unreadable, e.g. `chmod -R 644`, is not lost), named as kept; where that has nothing, it is left out and
    named. ContainerError (nothing copied: keep the last copy whole) when src itself, or its entries, cannot
    be read. It archives src by its name from its parent folder, so a src that was replaced by a symlink is
    archived as that link and refused (ContainerError), never followed; hard links are archived as separate
    files. The tar is killed as soon as its stream passes max_bytes (or the timeout). The archive is
    untrusted (that user may have tampered with the tar): extract_untrusted."""
    where = PurePosixPath(src)
    spool = tempfile.SpooledTemporaryFile(max_size=64 << 20)
    pid: list[int] = []
    errors: list[bytes] = []
    unreadable = Unreadable(f"by {user}", last_copy)
    killers: list[threading.Thread] = []

    def stderr_line(line: bytes) -> None:
        found = UNREADABLE.match(line)
        if line.startswith(TAR_PID) and not pid and line[len(TAR_PID):].strip().isdigit():
            pid.append(int(line[len(TAR_PID):]))
        elif found:
            name, verb, why = found.groups()
            unreadable.add(unescape(name), verb.decode("utf-8", "replace"), why.decode("utf-8", "replace"))
        elif len(errors) < 50:
            errors.append(line)

    def stop(_why: str) -> None:  # in a thread: the stream is read on until the tar is gone
        if pid:
            killer = threading.Thread(target=_kill, args=(api, container_id, pid[0], user), daemon=True)
            killer.start()
            killers.append(killer)

    # --ignore-failed-read: an entry `user` cannot read is a warning (named above), not a failed copy
    argv = ["/bin/sh", "-c", TAR_SCRIPT, TAR, "-c", "--hard-dereference", "--ignore-failed-read",
            "--quoting-style=escape", "-C", str(where.parent), "--", where.name]
    try:
        outcome = run_exec(api, container_id, argv, user=user, timeout=timeout, on_stdout=spool.write,
                           on_stderr_line=stderr_line, on_limit=stop, flood_bytes=max_bytes)
    finally:
        for killer in killers:
            killer.join()
    with spool:
        if outcome.flooded:
            raise ContainerError(f"{src} holds more than {max_bytes / (1 << 20):.0f} MB of files, the cap ("
                                 f"{SPARSE_NOTE}); not copied out")
        if outcome.timed_out:
            raise ContainerError(f"copying {src} out did not finish within {timeout:g} s; not copied out")
        if unreadable.src_problem:  # an archive without its entries would read as an empty folder
            raise ContainerError(f"{src} is not readable by {user} ({unreadable.src_problem}); not copied out")
        if outcome.exit_code not in (0, 1):  # 1: a file changed while it was read
            said = b"\n".join(errors).decode("utf-8", "replace")[-2000:]
            raise ContainerError(f"copying {src} out failed (exit code {outcome.exit_code}): {said}")
        spool.seek(0)
        skipped = extract_untrusted(spool, Path(dest), top=where.name, what=src)
    return unreadable.keep(Path(dest), where.name) + skipped


def _kill(api, container_id: str, pid: int, user: str) -> None:
    """SIGKILL one process of the container (the tar that copies files out), as the user it runs as."""
    try:
        run_exec(api, container_id, ["/bin/sh", "-c", 'kill -KILL "$0"', str(pid)], user=user, timeout=15)
    except ContainerError:
        pass  # the container is gone: so is the tar
