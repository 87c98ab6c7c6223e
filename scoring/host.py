"""The scorer's process: loads the environment's scorer, runs it, and signs the result.

Started by scoring.runner with `python -I`; reads its configuration (with the run's
secret key) from stdin, and writes one signed line to the result pipe. The pipe is not
inherited by the candidate's processes and this process is made non-dumpable, so the
candidate can neither write to it nor read the key.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterable

from scoring.api import ScoringContext
from scoring.channel import sign
from scoring.confine import GPU_PIECES_KEY, GPU_PIECES_VARIABLE, PIECES_KEY, PIECES_VARIABLE
from scoring.cpu_group import remove_groups_of
from scoring.cpu_share import claim as claim_cpus
from scoring.cpu_usage import stat_fields
from scoring.errors import Invalid
from scoring.payload import as_dict, finite_number, safe_payload, text_of, unencodable

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None).prctl(option, value, 0, 0, 0)
    except Exception:
        pass


def _parents() -> dict[int, int]:
    """Every process's parent, from one pass over /proc."""
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = stat_fields(entry.name)
            if len(fields) > 1:
                found[int(entry.name)] = int(fields[1])
    return found


def _children_from_files(parent: int) -> list[int]:
    """The children of `parent` from /proc/<pid>/task/*/children (one small read per thread)."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{parent}/task")
    except OSError:  # the process is gone
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{parent}/task/{tid}/children", "rb") as f:
                found += [int(pid) for pid in f.read().split()]
        except OSError:  # this thread is gone; the others still count
            pass
    return found


# kernels built without CONFIG_PROC_CHILDREN have no children files: then one pass over /proc
_CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _child_lister():
    """A function from a pid to its children: the children files, or one pass over /proc taken now."""
    if _CHILDREN_FILES:
        return _children_from_files
    by_parent: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        by_parent.setdefault(ppid, []).append(pid)
    return lambda parent: by_parent.get(parent, [])


def _children(parent: int) -> list[int]:
    """The processes whose parent is `parent`."""
    return _child_lister()(parent)


def _below(root: int, keep: set[int]) -> list[int]:
    """Every process below `root`, except those in `keep` and the processes below them."""
    children = _child_lister()
    found, todo = [], [root]
    while todo:
        for pid in children(todo.pop()):
            if pid not in keep:
                found.append(pid)
                todo.append(pid)
    return found


_STOPPED = (b"T", b"t", b"Z", b"X")  # stopped, traced, zombie, dead: none of them runs


def _state(pid: int) -> bytes:
    """A process's state letter from /proc (b"X" once it is gone)."""
    return (stat_fields(pid) or [b"X"])[0]


# the processes pause_strays stopped, each held by a pidfd: the signals go to those very processes,
# even if one ended and its pid were given to another (os.kill is the fallback where pidfds are not)
_held: dict[int, int] = {}


def _stop_ours(pid: int, tree: set[int]) -> bool:
    """SIGSTOP pid if it is still a process of the tree (its parent in it) once a pidfd holds it;
    False when its pid names another process by now (left alone)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # gone, or no pidfds here
        fd = None
    fields = stat_fields(pid)
    if len(fields) > 1 and int(fields[1]) not in tree:  # the pid was given to another process
        if fd is not None:
            os.close(fd)
        return False
    try:
        if fd is None:
            os.kill(pid, signal.SIGSTOP)
        else:
            signal.pidfd_send_signal(fd, signal.SIGSTOP)
            _held[pid], fd = fd, None
    except (ProcessLookupError, PermissionError):  # gone: /proc says so below
        pass
    finally:
        if fd is not None and pid not in _held:
            os.close(fd)
    return True


def pause_strays(keep: Iterable[int] = (), limit_s: float = 2.0) -> tuple[list[int], bool]:
    """Stop (SIGSTOP) every process below this one but `keep` and theirs: (the stopped, whether all are).

    For the moments the scorer measures with its own peer while the candidate's processes are
    alive: stopped, they can neither signal nor slow it, nor queue GPU work. Each round signals the
    processes not yet stopped, waits until /proc shows every one of them stopped (a fork under way
    when its parent was signalled has then attached its child), and looks again; it is done when a
    look finds nothing new. resume_strays continues them.
    """
    me, keep, stopped = os.getpid(), set(keep), set()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        below = _below(me, keep)
        fresh = [pid for pid in below if pid not in stopped]
        if not fresh:
            return sorted(stopped), True
        tree = {me, *below}
        fresh = [pid for pid in fresh if _stop_ours(pid, tree)]
        stopped.update(fresh)
        pending = set(fresh)
        while pending and time.monotonic() < deadline:
            pending = {pid for pid in pending if _state(pid) not in _STOPPED}
            if pending:
                time.sleep(0.0002)
    return sorted(stopped), False


def resume_strays(pids: Iterable[int]) -> None:
    """Continue (SIGCONT) processes pause_strays stopped."""
    for pid in pids:
        fd = _held.pop(pid, None)
        try:
            if fd is None:
                os.kill(pid, signal.SIGCONT)
            else:
                signal.pidfd_send_signal(fd, signal.SIGCONT)
        except (ProcessLookupError, PermissionError):
            pass
        finally:
            if fd is not None:
                os.close(fd)


def reap_strays(keep: Iterable[int] = (), limit_s: float = 10.0) -> int:
    """Kill every process still below this one (but `keep`) and return how many there were.

    This process is a child subreaper: a candidate's grandchild that escaped its process group
    (double fork, setsid) is re-parented here when its parent dies, instead of to init, so it
    cannot outlive the scoring and interfere with later ones. Each round stops the children it
    finds (a stopped process cannot fork), then kills them; their own children come up here in
    the next round, until none is left (or `limit_s` has passed).
    """
    me, seen, keep = os.getpid(), set(), set(keep)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        children = [pid for pid in _children(me) if pid not in keep]
        if not children:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in children:  # a zombie among them dies again harmlessly, and is collected below
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        seen.update(children)
        time.sleep(0.002)
        for pid in children:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
    return len(seen)


def _on_term(signum, frame) -> None:  # the runner's timeout: leave nothing behind, then go
    reap_strays()
    os._exit(1)


def _watch_lifeline(fd: int) -> None:
    """Wait for EOF on the runner's lifeline (scoring.runner: nothing is written to it), which comes when the
    runner closes its end or dies (killed, Ctrl-C), then kill everything started here and go: a scoring
    nobody waits for would hold the CPUs or the GPU that the next one is timed on. A candidate started
    meanwhile from the main thread dies with this process (PR_SET_PDEATHSIG). The candidates' cgroups go
    too: os._exit runs no atexit, and the runner that would remove them is gone."""
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass
    reap_strays()
    remove_groups_of(os.getpid())
    os._exit(1)


def _load_scorer(path: Path):
    spec = importlib.util.spec_from_file_location("rearena_env_scorer", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "score", None)):
        raise Invalid(f"the environment's scorer {path.name} defines no score(ctx)", reason="scorer_error")
    return module


def _check_output(out: Any) -> dict[str, Any]:
    if not isinstance(out, dict) or "raw" not in out:
        got = "a dict without 'raw'" if isinstance(out, dict) else f"{text_of(repr(out))[:80]} ({type(out).__name__})"
        raise Invalid(f"the environment's scorer returned no raw score: got {got}; expected a dict with 'raw' "
                      f"(and 'message', 'details')", reason="scorer_error")
    raw = out["raw"]
    if raw is None:
        raise Invalid(str(out.get("message") or "the scorer gave no score"), reason="no_score")
    if not finite_number(raw):
        raise Invalid(f"the scorer produced a raw score that is not a finite number: {raw!r}", reason="no_score")
    details = as_dict(out.get("details"))
    return {"valid": True, "raw": float(raw), "message": text_of(out.get("message", "")), "details": details}


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Run the scorer described by the configuration and return the result payload."""
    candidate_dir = Path(config["candidate_dir"])
    ctx = ScoringContext(
        environment=config["environment"],
        variant=config["variant"],
        params=config["params"],
        candidate_dir=candidate_dir,
        deadline=time.monotonic() + config["timeout_s"],
        memory_mb=config["memory_mb"],
        output_cap_bytes=config["output_cap_bytes"],
        intermediate=config["intermediate"],
        python=config["python"],
        helper_python=config.get("helper_python"),
        cpus=claim_cpus(config.get("cpus")),  # the manifest's hardware.cpus: CPUs of this scoring's own
        reaper=True,
    )
    try:
        if config["kind"] == "metr":
            from environments.metr_score import score_family

            out = score_family(Path(config["scorer"]), config["variant"], candidate_dir, config["intermediate"])
        else:
            out = _load_scorer(Path(config["scorer"])).score(ctx)
        payload = _check_output(out)
    except Invalid as exc:
        payload = {"valid": False, "reason": exc.reason, "message": exc.message, "details": as_dict(exc.details)}
    except ModuleNotFoundError as exc:
        payload = {
            "valid": False,
            "reason": "missing_dependency",
            "message": f"the environment's scorer needs the Python package {exc.name!r}, which is not installed "
                       f"here: pip install -e '.[torch]' (torch and numpy; '.[triton]' adds Triton)",
            "details": {"traceback": traceback.format_exc()[-4000:]},
        }
    except Exception as exc:
        payload = {
            "valid": False,
            "reason": "scorer_error",
            "message": f"the environment's scorer failed: {type(exc).__name__}: {text_of(exc)}",
            "details": {"traceback": traceback.format_exc()[-4000:]},
        }
    finally:
        for proc in ctx.processes:
            proc.kill(by_us=False)
        strays = reap_strays()
        for proc in ctx.processes:
            if hasattr(proc, "drop_group"):  # its cgroup, once what it left has been reaped
                proc.drop_group()
    if strays:
        payload["details"]["stray_processes_killed"] = strays
    payload["details"]["candidate_seconds"] = ctx.candidate_seconds()
    payload["details"]["candidate_calls"] = sum(p.calls for p in ctx.processes)
    confined = sorted({getattr(p, "confinement", "unknown") for p in ctx.processes} - {"trusted"})
    if confined:  # how the candidate's processes were confined (scoring/confine.py's pieces, or none)
        payload["details"]["candidate_confinement"] = confined
    untrusted = [p for p in ctx.processes if getattr(p, "confinement", "") != "trusted"]
    pinned = {cpu for p in untrusted for cpu in getattr(p, "cpus", None) or ()}
    if pinned:  # the CPUs they ran on (ctx.cpus: hardware.cpus of the machine's), held by a cpuset or an affinity
        payload["details"]["candidate_cpus"] = sorted(pinned)
        held = {getattr(p, "cpus_held_by", "") for p in untrusted} - {""}
        payload["details"]["candidate_cpus_held_by"] = "+".join(sorted(held))
    output = ctx.candidate_output()
    if output:
        payload["details"]["candidate_output"] = output[-8000:]
    if ctx.log_lines:
        payload["details"]["scorer_log"] = ctx.log_lines[-200:]
    return safe_payload(payload)


def main() -> None:
    """Entry point of the scorer's process."""
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGTERM, _on_term)
    config = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    key = bytes.fromhex(config.pop("key"))
    pieces = config.pop(PIECES_KEY, None)
    if pieces:  # the runner's confinement probe: not run again here
        os.environ[PIECES_VARIABLE] = pieces
    gpu_pieces = config.pop(GPU_PIECES_KEY, None)
    if gpu_pieces:  # the runner's GPU probe (scoring/kernel/gpu_confine.py): the pieces CUDA IPC works with
        os.environ[GPU_PIECES_VARIABLE] = gpu_pieces
    result_fd = config.pop("result_fd")
    os.set_inheritable(result_fd, False)
    lifeline = config.pop("lifeline_fd", None)  # none in a scoring container (scoring.docker_runner)
    if lifeline is not None:
        os.set_inheritable(lifeline, False)
        threading.Thread(target=_watch_lifeline, args=(lifeline,), daemon=True, name="lifeline").start()
    payload = run(config)
    try:
        line = sign(key, config["nonce"], payload)
    except Exception as exc:  # safe_payload leaves nothing unencodable: a last resort, still a verdict
        line = sign(key, config["nonce"], unencodable(exc))
    view = memoryview(line)
    while view:
        view = view[os.write(result_fd, view):]
    os.close(result_fd)
