"""Which confinement pieces CUDA IPC and Triton work with on this machine: probed once per boot, then cached.

The kernel scorer hands input slots to a candidate's process and opens its outputs through CUDA IPC
(torch.multiprocessing's reduce_tensor / rebuild_cuda_tensor). scoring/confine.py always gives a
candidate a mount namespace with the off-limits folders covered and no capabilities; on a CPU it adds
every piece (PID, NET, FILES, SHM, USER, DEV). On an H100, CUDA failed to start with the first four
(cudaGetDeviceCount error 304). Which pieces break it depends on the driver and the kernel, so the
runner asks `pieces_word` before a GPU scoring instead of trusting a constant set by hand:

- the answer cached for this boot, NVIDIA driver, kernel and python (`machine_key`), in rearena's data
  folder, which candidates never reach (scoring.off_limits);
- else a probe: this file run as a program with the scorer's python. A CUDA parent exports a tensor; a
  child (gpu_probe_child.py, copied into its folder) started through confine.wrap (gpu=True) with a
  candidate's environment opens it, checks it, doubles it with a Triton kernel it compiles (as a
  candidate's solution does; torch where Triton is not installed) and exports the result, which the
  parent opens and checks. `search` tries every piece set at once, the covers alone
  and each piece alone (concurrently), then the pieces that worked alone together, then, where that
  fails, adds them one at a time and keeps each while CUDA still works: the answer is always a set
  that was probed and worked. Where the Triton kernel fails even with the covers alone (no C
  compiler, say: no candidate's Triton kernel can run here, whatever the pieces), the search runs
  again on CUDA IPC alone. Each child compiles its kernel anew (its own cache): tens of seconds,
  once per boot.

Where the probe cannot answer (no CUDA GPU, a crash, its time limit) `pieces_word` gives None and the
GPU path keeps confine.GPU_PATH; a failure is remembered for this process only (the next one tries
again). `benchmarks/confine_gpu.py` prints every level the probe tried.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import pickle
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # run as a program (the probe, python -I: no script folder on the path)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scoring import confine  # noqa: E402

logger = logging.getLogger(__name__)

PROBE_VERSION = 2  # part of the cache's key: a change to the probe or to the pieces probes again
CACHE_FILE = "gpu_confinement.json"
CACHE_ENTRIES = 16  # machines (boots, drivers, pythons) kept in the cache file
PROBE_TIMEOUT_S = 300.0  # the whole probe (a CUDA parent, rounds of children, each compiling a Triton kernel)
CHILD_TIMEOUT_S = 60.0  # one child's CUDA start-up and IPC take seconds
CHECKS = ("cuda", "start")  # what the probe checks: CUDA IPC; or only that a confined python starts (tests)

CHILD_FILE = Path(__file__).with_name("gpu_probe_child.py")  # copied into the child's folder

START_CHILD = "import sys; sys.stdout.write('started'); sys.stdout.flush()"


name = confine.word_of  # a piece set as the runner passes it on: "dev+files+...", or "covers"


def search(check: Callable[[frozenset[str]], str], pieces: frozenset[str]) -> tuple[frozenset[str] | None, list]:
    """The largest set of `pieces` found to work with `check` (its verdict "works", else what failed), and
    every level tried as (piece set, verdict). None where even the covers alone fail."""
    levels: list[tuple[frozenset[str], str]] = []

    def tried(sets: list[frozenset[str]]) -> list[bool]:
        with ThreadPoolExecutor(max_workers=max(1, len(sets))) as pool:
            verdicts = list(pool.map(_verdict_of(check), sets))
        levels.extend(zip(sets, verdicts))
        return [verdict == "works" for verdict in verdicts]

    if not pieces:
        return (frozenset() if tried([frozenset()])[0] else None), levels
    whole, covers, *alone = tried([pieces, frozenset(), *(frozenset({piece}) for piece in sorted(pieces))])
    if whole:
        return pieces, levels
    if not covers:
        return None, levels
    kept = [piece for piece, works in zip(sorted(pieces), alone) if works]
    if len(kept) <= 1:
        return frozenset(kept), levels
    if tried([frozenset(kept)])[0]:
        return frozenset(kept), levels
    supported = frozenset(kept[:1])
    for piece in kept[1:]:  # one at a time, kept while it still works
        trial = supported | {piece}
        if tried([trial])[0]:
            supported = trial
    return supported, levels


def search_with_triton(check: Callable[..., str], pieces: frozenset[str]) -> tuple[frozenset[str] | None, list]:
    """search with check(pieces, triton=True); where even the covers alone fail that way (Triton cannot run
    here whatever the pieces: no C compiler, say), search again with check(pieces, triton=False)."""
    found, levels = search(lambda tried: check(tried, triton=True), pieces)
    if found is None:
        found, more = search(lambda tried: check(tried, triton=False), pieces)
        levels += [(tried, f"{verdict} (CUDA IPC alone: Triton failed with the covers alone)")
                   for tried, verdict in more]
    return found, levels


def _verdict_of(check: Callable[[frozenset[str]], str]) -> Callable[[frozenset[str]], str]:
    def verdict(pieces: frozenset[str]) -> str:
        try:
            return check(pieces)
        except Exception as exc:  # noqa: BLE001 - a level that raised failed; the others still count
            return f"FAILED: {type(exc).__name__}: {exc}"
    return verdict


def _confined(argv: list[str], folder: str, pieces: frozenset[str] | None) -> list[str]:
    """argv as a GPU candidate runs (pieces None: not confined, for benchmarks/confine_gpu.py)."""
    if pieces is None:
        return argv
    from scoring.off_limits import off_limits

    return confine.wrap(argv, off_limits(), pieces=pieces, folder=folder, gpu=True, check=False)  # a candidate's covers


def start_check(pieces: frozenset[str] | None) -> str:
    """Whether a python confined with `pieces` starts and answers (no GPU needed)."""
    with tempfile.TemporaryDirectory(prefix="rearena-gpu-probe-") as folder:
        os.chmod(folder, 0o755)
        argv = _confined([sys.executable, "-c", START_CHILD], folder, pieces)
        done = subprocess.run(argv, cwd=folder, capture_output=True, timeout=CHILD_TIMEOUT_S,
                              env=dict(os.environ, HOME=folder))
        if done.stdout == b"started":
            return "works"
        return f"FAILED (exit {done.returncode}): {done.stderr.decode(errors='replace').strip()[-400:]}"


def cuda_ipc_check(pieces: frozenset[str] | None, triton: bool = True) -> str:
    """"works", or what failed, for a child confined with `pieces` that opens a tensor this process
    exported, doubles it with a Triton kernel (where Triton is installed and `triton`) and exports the
    result, which this process opens (None: not confined)."""
    import torch
    from torch.multiprocessing.reductions import rebuild_cuda_tensor, reduce_tensor

    from scoring.kernel.peer import peer_env

    x = torch.arange(1 << 20, dtype=torch.int64, device="cuda")
    torch.cuda.synchronize()
    expected = "triton" if triton and importlib.util.find_spec("triton") else None  # what the child must run
    with tempfile.TemporaryDirectory(prefix="rearena-gpu-probe-") as folder:
        os.chmod(folder, 0o755)
        child = os.path.join(folder, CHILD_FILE.name)
        shutil.copyfile(CHILD_FILE, child)
        os.chmod(child, 0o644)
        errors = open(os.path.join(folder, "stderr"), "w+b")  # a file: a chatty child never blocks on it
        argv = _confined([sys.executable, "-I", "-B", child], folder, pieces)
        proc = subprocess.Popen(argv, cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                env=peer_env(Path(folder), "cuda"))  # a GPU candidate's (HOME: its folder)

        def failed(what: str) -> str:
            errors.seek(0)
            return f"FAILED {what}: " + errors.read().decode(errors="replace").strip()[-400:]

        try:
            data = pickle.dumps(reduce_tensor(x)[1])
            try:
                proc.stdin.write(b"%d\n" % len(data) + data)
                proc.stdin.flush()
            except BrokenPipeError:  # it died starting (its error is in its stderr)
                proc.wait(timeout=10)
                return failed("in the child")
            if not select.select([proc.stdout], [], [], CHILD_TIMEOUT_S)[0]:
                return failed(f"(no answer within {CHILD_TIMEOUT_S:.0f} s)")
            size = proc.stdout.readline()
            if not size:
                return failed("in the child")
            ok, how, args = pickle.loads(proc.stdout.read(int(size)))
            try:
                y = rebuild_cuda_tensor(*args)
                back = torch.equal(y, x * 2)
                del y
            except Exception as exc:  # noqa: BLE001 - the point is to report it
                return f"FAILED: the child read the tensor ({ok}), but its output could not be opened here: {exc}"
            proc.stdin.write(b"done\n")
            proc.stdin.close()
            proc.wait(timeout=60)
            if expected and how != expected:
                return f"FAILED: the child's Triton kernel: {how if how != 'torch' else 'Triton did not import'}"
            return "works" if ok and back else f"FAILED: wrong data (the child read {ok}, this process {back})"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            errors.close()


def machine_key(python: str, check: str = "cuda") -> str:
    """What the probe's answer depends on: this boot, the NVIDIA driver, the kernel, the python, Triton, the
    pieces and the probe itself (a short hash)."""
    parts = [str(PROBE_VERSION), check, platform.release(), os.path.realpath(python), name(confine.CPU_PATH),
             _triton_stamp()]
    for path in ("/proc/sys/kernel/random/boot_id", "/proc/driver/nvidia/version"):
        try:
            parts.append(Path(path).read_text().strip())
        except OSError:
            parts.append("")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _triton_stamp() -> str:
    """Where Triton is installed and when (as this process finds it): installing or updating it probes again."""
    try:
        spec = importlib.util.find_spec("triton")
        origin = spec.origin if spec is not None else None
        return f"{origin}:{os.stat(origin).st_mtime_ns}" if origin else ""
    except (OSError, ImportError, ValueError):
        return ""


_failed: dict[str, str] = {}  # machine keys whose probe failed in this process (tried again by the next)
_lock = threading.Lock()


def pieces_word(python: str, data: Path | None, env: dict[str, str] | None = None, check: str = "cuda",
                timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """The pieces a GPU candidate gets here, as confine.pieces_word writes them: cached for this machine
    (machine_key) in `data`'s CACHE_FILE, else probed with `python` (in `env`) and cached. None where the
    probe could not answer (the GPU path then keeps confine.GPU_PATH)."""
    key = machine_key(python, check)
    with _lock:  # one probe at a time (a console scoring two candidates at once)
        if key in _failed:
            return None
        cached = _read_cache(data).get(key)
        if isinstance(cached, str):
            return cached
        word, error = _probe(python, env, check, timeout_s)
        if word is None:
            logger.warning("the GPU confinement probe gave no answer (%s): GPU candidates get %s", error,
                           name(confine.GPU_PATH))
            _failed[key] = error
            return None
        _write_cache(data, key, word)
        return word


def _probe(python: str, env: dict[str, str] | None, check: str, timeout_s: float) -> tuple[str | None, str]:
    logger.warning("probing which confinement pieces CUDA IPC and Triton work with on this machine (once per boot)")
    try:
        done = subprocess.run([python, "-I", "-B", os.path.abspath(__file__), check], capture_output=True,
                              timeout=timeout_s, env=env, cwd="/")
    except subprocess.TimeoutExpired:
        return None, f"no answer within {timeout_s:.0f} s"
    except OSError as exc:
        return None, f"it could not start: {exc}"
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1])
        pieces = answer["pieces"]
    except (IndexError, ValueError, KeyError, TypeError):
        return None, f"exit {done.returncode}: {done.stderr.decode(errors='replace').strip()[-300:]}"
    if pieces is None:
        return None, str(answer.get("error", "no answer"))
    if not isinstance(pieces, list) or not set(pieces) <= confine.CPU_PATH:
        return None, f"an unknown answer: {str(pieces)[:200]}"
    for pieces_tried, verdict in answer.get("levels", []):
        logger.info("GPU confinement probe: %s: %s", "+".join(pieces_tried) or "covers", verdict)
    return name(frozenset(pieces)), ""


def _read_cache(data: Path | None) -> dict:
    """The cache, where this user wrote it and no one else may (else it is probed again and rewritten)."""
    if data is None:
        return {}
    try:
        with open(data / CACHE_FILE, "rb") as file:
            info = os.fstat(file.fileno())
            if info.st_uid != os.geteuid() or info.st_mode & 0o022:
                logger.warning("the GPU confinement cache %s is not this user's alone: not read", data / CACHE_FILE)
                return {}
            cache = json.loads(file.read())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _write_cache(data: Path | None, key: str, word: str) -> None:
    if data is None:
        return
    cache = _read_cache(data)
    cache.pop(key, None)
    cache[key] = word  # the newest last; the oldest dropped first
    kept = dict(list(cache.items())[-CACHE_ENTRIES:])
    try:
        data.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=data, prefix=".gpu-confinement-", delete=False) as out:
            json.dump(kept, out)
        os.replace(out.name, data / CACHE_FILE)
    except OSError as exc:  # an unwritable data folder: probed again next time, nothing else lost
        logger.warning("the GPU confinement probe's answer could not be cached in %s: %s", data, exc)


def main(argv: list[str]) -> int:
    """The probe as a program: one JSON line {"pieces": [...] or null, "error", "levels"} on stdout."""
    check = argv[0] if argv else "cuda"
    if check not in CHECKS:
        print(f"usage: gpu_confine.py [{'|'.join(CHECKS)}]", file=sys.stderr)
        return 2
    if check == "cuda":
        try:
            import torch
        except ImportError:
            print(json.dumps({"pieces": None, "error": "torch is not installed"}))
            return 0
        if not torch.cuda.is_available():
            print(json.dumps({"pieces": None, "error": "no CUDA GPU"}))
            return 0
    if not confine.available():
        print(json.dumps({"pieces": None, "error": "confinement is not available here"}))
        return 0
    pieces = confine.usable(confine.CPU_PATH)
    if check == "cuda":
        found, levels = search_with_triton(cuda_ipc_check, pieces)
    else:
        found, levels = search(start_check, pieces)
    print(json.dumps({"pieces": None if found is None else sorted(found),
                      "error": "CUDA IPC fails with the covers alone" if found is None else "",
                      "levels": [[sorted(pieces), verdict] for pieces, verdict in levels]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
