"""The scorer runner: scores a candidate folder in a separate, limited process.

    result = score_candidate(env, "tiny", Path("my_solution"), calibration)

The candidate is copied to a private folder; the environment's scorer runs in a
child process (scoring.host) that starts the candidate in a grandchild process. The
result comes back on a private pipe, signed with a key only the runner and the
scorer's process know, so nothing the candidate prints, writes or forges counts.
The runner returns within the timeout plus a few seconds, whatever the candidate does.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path, PurePosixPath

from environments.model import Calibration, Environment
from scoring import stopping
from scoring.candidate import OutputSink
from scoring.channel import ChannelTampered, verify
from scoring.confine import (GPU_PIECES_KEY, OFF_VARIABLE, PIECES_KEY, PIECES_VARIABLE, clean_search_paths,
                             pieces_word, tool)
from scoring.cpu_group import remove_groups_of
from scoring.off_limits import DB_FILE_VARIABLE, ORIGIN_VARIABLE, TRITON_DIRS_VARIABLE, data_dir, sqlite_file, triton_dirs
from scoring.normalize import normalize_or_refuse
from scoring.result import ScoreResult
from scoring.run_disk import RUN_PREFIX, candidate_folder
from scoring.tree_walk import FolderReader, LinkBudget, TreeRefused, kind, link_escapes, named

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from scoring.host import main; main()"
STOP_POLL_S = 0.2  # how often a wait for the scorer's result looks whether the scoring was stopped
HOST_GRACE_S = 2.0  # the scorer's process gets this long beyond its own deadline to report
DEFAULT_OUTPUT_CAP = 10 * 1024 * 1024
RESULT_CAP = 64 * 1024 * 1024  # bytes read from the result channel; past them the verdict is result_too_large
# what the private copy of a candidate's folder may hold (a sparse file counts at its full size): the
# environment's participant disk (hardware.disk_gb, what the docker sandbox allows), at least this
COPY_CAP_BYTES = 1 << 30
COPY_CAP_ENTRIES = 200_000  # files, folders and links
NOT_COPIED = ("__pycache__", ".git")
logger = logging.getLogger(__name__)


def integrity_hash(env: Environment) -> str:
    """Hash of the scorer's files: the environment's folder (starting/ included: scorers may read the pristine
    starting files, e.g. a model definition or frozen weights) and the scoring package."""
    digest = hashlib.sha256()
    roots = [env.path, REPO_ROOT / "scoring"]
    if env.scorer.parent not in roots:
        roots.append(env.scorer.parent)
    for root in roots:
        for path in tree_files(root):
            digest.update(str(path).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def tree_files(root: Path) -> list[Path]:
    """The files under root, sorted, outside __pycache__ folders."""
    return [p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.relative_to(root).parts]


CopyRefused = TreeRefused  # the candidate's folder cannot be scored as it is: reason and message, the verdict


def _copy_candidate(src: Path, dest: Path, cap_bytes: int | None = None) -> list[str]:
    """Copy the candidate's folder to dest: its folders, regular files and symbolic links within it (as
    links, as they are), walked without recursion (tree_walk), within cap_bytes and COPY_CAP_ENTRIES in
    all. Pipes, sockets, devices, links out of the folder and link loops are left out and returned, named; a file
    that cannot be read, or too much, raises CopyRefused. Nothing is read from outside the folder, however the
    candidate changes it meanwhile (tree_walk: a folder swapped for a link raises CopyRefused)."""
    cap = COPY_CAP_BYTES if cap_bytes is None else cap_bytes
    skipped, total, largest, count, part, links = [], 0, (0, ""), 0, Path(), []
    os.mkdir(dest)
    try:
        # the folder opened once: walked and read through it, nothing below it followed (tree_walk)
        with FolderReader(src) as reader:
            for rel, info in reader.walk(named(frozenset(NOT_COPIED))):
                part, count = Path(rel), count + 1
                if count % 1000 == 0:  # a large folder: the console's quit need not wait for the whole copy
                    stopping.check()
                if count > COPY_CAP_ENTRIES:
                    raise CopyRefused("folder_too_large", f"folder too large: the candidate's folder holds more "
                                      f"than {COPY_CAP_ENTRIES:,} files, folders and links, the cap")
                if stat.S_ISLNK(info.st_mode):
                    os.symlink(reader.read_link(rel), dest / part)
                    links.append(part)
                elif stat.S_ISDIR(info.st_mode):
                    os.mkdir(dest / part)
                elif stat.S_ISREG(info.st_mode):
                    largest, room = max(largest, (info.st_size, str(part))), cap - total
                    total += info.st_size if info.st_size > room else _copy_file(reader, rel, dest / part, room)
                    if total > cap:
                        raise CopyRefused("folder_too_large", f"folder too large: the candidate's folder holds "
                                          f"more than {cap / (1 << 30):g} GiB of files, the cap (the largest: "
                                          f"{largest[1]}, {largest[0] / (1 << 20):.1f} MiB; a sparse file counts "
                                          f"at its full size)")
                else:
                    skipped.append(f"{part} ({kind(info.st_mode)})")
        # a link out of the folder would let trusted readers (the judge, rule checkers) read any file: judged
        # in the copy, which the participant cannot change meanwhile, once it is whole
        budget = LinkBudget()
        wrong = [(link, link_escapes(dest, link, budget)) for link in links]
        for link, what in wrong:
            if what:
                os.unlink(dest / link)
                skipped.append(f"{link} ({what})")
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        where = str(_relative(exc.filename, src, dest) if getattr(exc, "filename", None) else part)
        where = where if len(where) <= 200 else f"{where[:80]}...{where[-80:]} ({where.count('/') + 1} levels deep)"
        raise CopyRefused("copy_failed", f"the candidate's folder could not be copied: {where}: "
                                         f"{getattr(exc, 'strerror', None) or exc}") from None
    return skipped


def copy_cap(env: Environment) -> int:
    """The most bytes of files a copy of a candidate's folder for env may hold."""
    return max(COPY_CAP_BYTES, int(env.hardware.disk_gb * (1 << 30)))


def _relative(path: str | Path, *folders: Path) -> Path:
    """path within the first of folders (the candidate's, its copy) that holds it: a message names the
    candidate's path, not rearena's temporary copy."""
    for folder in folders:
        if Path(path).is_relative_to(folder):
            return Path(path).relative_to(folder)
    return Path(path)


def _copy_file(reader: FolderReader, rel: PurePosixPath, dest: Path, room: int) -> int:
    """Copy the regular file rel of reader's folder (its mode too, without set-id bits); the bytes copied,
    stopping past `room`."""
    with reader.open(rel) as inp:
        info = os.fstat(inp.fileno())
        copied = 0
        with open(dest, "xb") as out:
            while copied <= room and (chunk := inp.read(1 << 20)):  # it may grow while being copied
                copied += len(chunk)
                out.write(chunk)
    os.chmod(dest, stat.S_IMODE(info.st_mode) & 0o777)
    os.utime(dest, ns=(info.st_atime_ns, info.st_mtime_ns))
    return copied


def remove_tree(path: Path) -> str:
    """Remove a folder and everything in it, however deep (rm, not a recursive walk), never raising;
    "" when it is gone, else what was left behind (also logged)."""
    error = ""
    for attempt in range(3):
        if not os.path.lexists(path):
            return ""
        try:
            if attempt == 2:  # no rm that works here: what shutil.rmtree can do (it recurses)
                shutil.rmtree(path)
                continue
            if attempt == 1 and os.geteuid() != 0:
                _allow_removal(path)  # not root: a folder of mode 000 inside stops rm (root ignores modes)
            done = subprocess.run([tool("rm"), "-rf", "--one-file-system", "--", str(path)], capture_output=True,
                                  timeout=300)
            error = done.stderr.decode("utf-8", "replace").strip()[-500:]
        except Exception as exc:  # RecursionError from shutil.rmtree too
            error = f"{type(exc).__name__}: {str(exc)[:500]}"
    if not os.path.lexists(path):
        return ""
    left = f"could not remove {path}: {error or 'unknown error'}"
    logger.warning("%s", left)
    return left


def _allow_removal(path: Path) -> None:
    """Give the owner rwx on every folder under path (without following links), where possible."""
    todo = [str(path)]
    while todo:
        folder = todo.pop()
        try:
            os.chmod(folder, 0o700)
            with os.scandir(folder) as found:
                todo += [entry.path for entry in found if entry.is_dir(follow_symlinks=False)]
        except OSError:
            pass


_probing: threading.Thread | None = None
_probing_lock = threading.Lock()


def start_probe() -> None:
    """Start this process's confinement probe (once: its answer is cached) in a thread, so that it runs
    while the candidate is copied and the scorer's process starts."""
    global _probing
    with _probing_lock:
        if _probing is None:
            _probing = threading.Thread(target=_probe_quietly, name="rearena-confine-probe", daemon=True)
            _probing.start()


def _probe_quietly() -> None:
    try:
        pieces_word()
    except Exception:  # noqa: BLE001  (asked again in _probed_pieces, which raises where the scoring can say so)
        pass


def _probed_pieces() -> str:
    """The probe's answer as PIECES_VARIABLE carries it: probed once here (per console), passed to each
    scorer's process in its configuration (PIECES_KEY), which does not probe again."""
    start_probe()
    _probing.join()
    return pieces_word()


def _has_gpu() -> bool:
    """Whether this machine has an NVIDIA GPU (its device nodes)."""
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def _gpu_pieces(env: Environment, python: str, host_env: dict[str, str]) -> str | None:
    """For an environment on a GPU, where this machine has an NVIDIA GPU and candidates are confined: the
    confinement pieces CUDA IPC and a Triton kernel work with here (scoring/kernel/gpu_confine.py: cached for
    this boot, probed the first time, tens of seconds). None otherwise, or where the probe gives no answer."""
    if not env.hardware.gpu or env.kind == "metr" or not _has_gpu():
        return None
    word = _probed_pieces()
    if word == "none" or host_env.get(OFF_VARIABLE) == "1":
        return None
    from scoring.kernel import gpu_confine

    return gpu_confine.pieces_word(python, data_dir(), env={**host_env, PIECES_VARIABLE: word})


def _host_env(tmp: Path) -> dict[str, str]:
    from scoring.candidate import CANDIDATE_ENV_KEEP  # the GPU variables too, or the scorer sees no GPU

    env = {k: os.environ[k] for k in CANDIDATE_ENV_KEEP if k in os.environ}
    # the rubric judge's endpoint and key reach the scorer's process only (never the candidate's)
    judge = [k for k in os.environ if k.startswith("REARENA_JUDGE_")]
    key_var = os.environ.get("REARENA_JUDGE_API_KEY_ENV", "")
    env.update({k: os.environ[k] for k in judge + ([key_var] if key_var in os.environ else [])})
    if os.environ.get(OFF_VARIABLE) == "1":  # confinement turned off (tests of the unconfined checks)
        env[OFF_VARIABLE] = "1"
    env = clean_search_paths(env)  # no empty or relative entries: they name the working directory
    # the Triton folders of the user who runs rearena, found here where HOME and TRITON_* are still theirs
    env[TRITON_DIRS_VARIABLE] = os.pathsep.join(str(folder) for folder in triton_dirs())
    env.update(HOME=str(tmp), TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1")
    data = data_dir()  # found here, where HOME is the user's: the scorer's process covers it for candidates
    if data is not None:
        env["REARENA_DATA_DIR"] = str(data)
    database = sqlite_file(os.environ.get("REARENA_DB"))  # --db naming a SQLite file outside the data folder
    if database is not None:
        env[DB_FILE_VARIABLE] = os.path.realpath(database)
    return env


def _kill_group(proc: subprocess.Popen, grace_s: float = 0.0) -> None:
    """Kill the scorer's process group; with a grace, SIGTERM first (the scorer then kills what it started)."""
    if grace_s > 0 and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace_s)
        except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _close(open_fds: set[int], *fds: int) -> None:
    """Close those of fds still in open_fds (each once: a number closed twice may be another thread's file)."""
    for fd in fds:
        if fd in open_fds:
            open_fds.discard(fd)
            os.close(fd)


def _read_until_eof(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Read a pipe until EOF, the deadline or RESULT_CAP bytes; return (data, reached_eof or the cap).
    ScoringStopped if the scoring is stopped meanwhile (scoring.stopping)."""
    chunks, total = [], 0
    while True:
        stopping.check()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"".join(chunks), False
        readable, _, _ = select.select([fd], [], [], min(remaining, STOP_POLL_S))
        if not readable:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        total += len(chunk)
        if total > RESULT_CAP:
            return b"".join(chunks), True


def _invalid(reason: str, message: str, **details) -> dict:
    return {"valid": False, "reason": reason, "message": message, "details": details}


def resolve_request(env: Environment, variant: str | None, candidate_dir: Path, calibration: Calibration | None,
                    timeout_s: float | None):
    """(variant, calibration, timeout, folder) of a scoring request, with the environment's defaults."""
    var = env.variant(variant)
    calibration = calibration or env.calibration_for(var.name)
    timeout_s = timeout_s if timeout_s is not None else env.timeout_for(var.name)
    candidate_dir = Path(candidate_dir)
    if not candidate_dir.is_dir():
        raise FileNotFoundError(f"candidate folder not found: {candidate_dir}")
    return var, calibration, timeout_s, candidate_dir


def score_candidate(
    env: Environment,
    variant: str | None,
    candidate_dir: Path,
    calibration: Calibration | None = None,
    *,
    intermediate: bool = True,
    timeout_s: float | None = None,
    memory_mb: int | None = None,
    output_cap_bytes: int = DEFAULT_OUTPUT_CAP,
    python: str | None = None,
) -> ScoreResult:
    """Score a candidate folder against an environment variant and return the verdict."""
    started = time.monotonic()
    start_probe()
    var, calibration, timeout_s, candidate_dir = resolve_request(env, variant, candidate_dir, calibration, timeout_s)
    stopping.check()
    tmp = Path(tempfile.mkdtemp(prefix=RUN_PREFIX))
    try:
        payload = _run_host(env, var.name, var.params, candidate_dir, tmp, timeout_s, memory_mb, output_cap_bytes,
                            intermediate, python or sys.executable)
    finally:
        left = remove_tree(tmp)  # the candidate may have left a tree too deep for shutil.rmtree
    if left and isinstance(payload.get("details"), dict):
        payload["details"]["left_behind"] = left
    return result_from_payload(payload, env, var.name, calibration, started)


def result_from_payload(payload: dict, env: Environment, variant: str, calibration: Calibration,
                        started: float) -> ScoreResult:
    """The ScoreResult of a scorer's verified payload, normalized with the calibration if valid."""
    result = ScoreResult(
        valid=bool(payload["valid"]),
        raw=payload.get("raw"),
        normalized=None,
        message=payload.get("message", ""),
        details=payload.get("details", {}),
        duration_s=time.monotonic() - started,
        calibration=calibration.as_dict(),
        reason=payload.get("reason", ""),
        environment=env.name,
        variant=variant,
    )
    if result.valid:
        normalize_or_refuse(result, calibration)
    return result


def _run_host(env, variant, params, candidate_dir, tmp, timeout_s, memory_mb, output_cap_bytes, intermediate,
              python) -> dict:
    cap = copy_cap(env)
    with candidate_folder(tmp, cap) as work:  # a file system of its own where one can be made
        try:
            skipped = _copy_candidate(candidate_dir, work, cap)
        except CopyRefused as exc:
            return _invalid(exc.reason, exc.message)
        payload = _scored(env, variant, params, work, tmp, timeout_s, memory_mb, output_cap_bytes, intermediate,
                          python, origin=candidate_dir)
    if skipped and isinstance(payload.get("details"), dict):
        payload["details"]["not_copied"] = skipped[:20]
    return payload


def _scored(env, variant, params, work, tmp, timeout_s, memory_mb, output_cap_bytes, intermediate, python,
            origin: Path | None = None) -> dict:
    """The verified payload of the scorer's process run on the copy `work`, or the runner's verdict."""
    before = integrity_hash(env)
    key, nonce = secrets.token_bytes(32), secrets.token_hex(16)
    config = {
        "key": key.hex(),
        "nonce": nonce,
        "environment": env.name,
        "variant": variant,
        "params": params,
        "kind": env.kind,
        "scorer": str(Path(env.scorer).resolve()),
        "candidate_dir": str(work),
        "timeout_s": timeout_s,
        "memory_mb": memory_mb or env.scoring_memory_mb,
        "cpus": env.hardware.cpus,  # pinned to that many (scoring.cpu_share), as a container's quota limits them
        "output_cap_bytes": output_cap_bytes,
        "intermediate": intermediate,
        "python": python,
    }
    argv = [python, "-I", "-B", "-c", HOST_BOOT, str(REPO_ROOT)]
    host_env = _host_env(tmp)
    if origin is not None:  # where the participant's folder is: not covered when it lies in the data folder
        host_env[ORIGIN_VARIABLE] = os.path.realpath(origin)
    if env.kind == "metr":
        from environments.agent_home import HOME_VARIABLE, agent_home_argv, isolation_available
        from environments.metr import metr_task_name

        config["variant"] = metr_task_name(env, variant)
        argv, home = agent_home_argv(work, argv, isolation_available())
        host_env.update(HOME=home, **{HOME_VARIABLE: home})
    if not os.path.isabs(argv[0]):
        argv = [tool(argv[0]), *argv[1:]]
    read_fd, write_fd = os.pipe()  # the result's channel (made here: nothing above may leave it open)
    fds, proc = {read_fd, write_fd}, None
    try:
        # the lifeline: nothing is ever written to it, so the scorer's process reads EOF from its end when
        # this process closes the other, or dies (killed, interrupted); it then kills what it started and ends
        life_read, life_write = os.pipe()
        fds.update((life_read, life_write))
        config.update(result_fd=write_fd, lifeline_fd=life_read)
        proc = subprocess.Popen(
            argv,
            # not in the candidate's folder (a METR family's scorer works in /home/agent, which it is)
            cwd=str(work if env.kind == "metr" else tmp),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd, life_read),
            start_new_session=True,
            env=host_env,
        )
        _close(fds, write_fd, life_read)
        scorer_output = OutputSink(proc.stdout, output_cap_bytes, on_flood=lambda: None)
        config[PIECES_KEY] = _probed_pieces()  # waited for only now, while the scorer's process was starting
        gpu_pieces = _gpu_pieces(env, python, host_env)  # the scorer's process waits for its configuration
        if gpu_pieces:
            config[GPU_PIECES_KEY] = gpu_pieces
        try:
            proc.stdin.write(json.dumps(config).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        data, eof = _read_until_eof(read_fd, time.monotonic() + timeout_s + HOST_GRACE_S)
        _close(fds, read_fd)
        too_large = len(data) > RESULT_CAP
        if not eof or too_large:
            _kill_group(proc, grace_s=0.0 if too_large else 1.0)
        try:
            code = proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            code = proc.wait()
    except BaseException:  # interrupted (Ctrl-C) or failed here: the scorer's process and its candidates go too
        if proc is not None:
            _close(fds, life_write)  # the scorer's process kills its candidates (theirs is not this group)
            try:
                _kill_group(proc, grace_s=1.0)
            finally:  # a second Ctrl-C during the grace still kills the group and removes its cgroups
                _kill_group(proc)
                proc.wait()
                remove_groups_of(proc.pid)
        raise
    finally:
        _close(fds, *list(fds))
    _kill_group(proc)
    remove_groups_of(proc.pid)  # the candidates' cgroups, where the scorer died before removing them
    scorer_output.join(1.0)
    log = scorer_output.text()[-4000:]
    if integrity_hash(env) != before:
        return _invalid("scorer_tampered", "scorer tampering: the scorer's files changed while the candidate ran",
                        scorer_output=log)
    if too_large:
        return _invalid("result_too_large", f"result too large: the scorer's result passed the {RESULT_CAP >> 20} MB "
                                            "cap of its channel and was not read", scorer_output=log)
    try:
        payload = verify(key, nonce, data)
    except ChannelTampered as exc:
        return _invalid("result_forged", f"forged result: {exc}", scorer_output=log)
    if payload is not None:
        return payload
    if not eof:
        return _invalid("timeout", f"timeout: scoring did not finish within {timeout_s:g} s and was stopped",
                        scorer_output=log)
    how = f"killed by {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
    return _invalid("scorer_died", f"the scorer's process ended without a result ({how})", scorer_output=log)
