"""Does CUDA IPC work between the scorer and a confined candidate? (root, a CUDA GPU)

    python benchmarks/confine_gpu.py

The kernel scorer shares input slots with the candidate's process and opens its outputs through
CUDA IPC (torch.multiprocessing's reduce_tensor / rebuild_cuda_tensor). scoring/confine.py always
gives a candidate a mount namespace (the off-limits folders covered) and no capabilities, then
pieces: PID (its own PID namespace and /proc), NET (its own network namespace), FILES (read-only
file system, private /tmp and /run), SHM (private /dev/shm), USER (an unprivileged uid owning its
folder), DEV (a private /dev of the usual character devices and the GPU's). The CPU path takes them all;
with the first four CUDA failed to start on an H100 (cudaGetDeviceCount error 304), so the GPU path takes
confine.GPU_PATH. This probe tries the covers alone, each piece alone, the pieces that worked alone
together, added one at a time and kept while CUDA still works, and all of them: a child started through confine.wrap opens a tensor this process exported,
checks it, and exports one of its own that this process opens and checks. Prints one line per
level (works, or what failed) and the GPU_PATH that the results support.
"""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHILD = r"""
import pickle, sys
import torch
from torch.multiprocessing.reductions import reduce_tensor, rebuild_cuda_tensor
args = pickle.loads(sys.stdin.buffer.read(int(sys.stdin.buffer.readline())))
x = rebuild_cuda_tensor(*args)
ok = int(x.sum().item()) == int(x.numel() * (x.numel() - 1) // 2)
y = x * 2
torch.cuda.synchronize()
data = pickle.dumps((ok, reduce_tensor(y)[1]))
sys.stdout.buffer.write(b"%d\n" % len(data) + data)
sys.stdout.flush()
sys.stdin.buffer.readline()  # keep y alive until the parent has read it
"""

CHILD_TIMEOUT_S = 45  # a child's CUDA start-up and IPC take seconds


def name(pieces) -> str:
    return "+".join(sorted(pieces)) or "covers only"


def probe(torch, pieces: frozenset[str] | None) -> str:
    """`works` or what failed, for a child confined with `pieces` (None: not confined)."""
    from torch.multiprocessing.reductions import rebuild_cuda_tensor, reduce_tensor

    from scoring import confine

    n = 1 << 20
    x = torch.arange(n, dtype=torch.int64, device="cuda")
    torch.cuda.synchronize()
    argv = [sys.executable, "-c", CHILD]
    with tempfile.TemporaryDirectory(prefix="rearena-ipc-probe-") as folder:
        if pieces is not None:
            if not confine.available():
                return "confinement not available here (not root, or no unshare/setpriv)"
            argv = confine.wrap(argv, [str(REPO / "reference_solutions")], pieces=pieces, folder=folder, gpu=True)
        errors = open(os.path.join(folder, "stderr"), "w+b")  # a file: a chatty child never blocks on it
        proc = subprocess.Popen(argv, cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                env=dict(os.environ, HOME=folder))  # as a candidate's: its folder (USER: it owns it)

        def stderr_tail() -> str:
            errors.seek(0)
            return errors.read().decode(errors="replace").strip()[-400:]

        try:
            data = pickle.dumps(reduce_tensor(x)[1])
            try:
                proc.stdin.write(b"%d\n" % len(data) + data)
                proc.stdin.flush()
            except BrokenPipeError:  # it died starting (its error is in its stderr)
                proc.wait(timeout=10)
                return "FAILED in the child: " + stderr_tail()
            if not select.select([proc.stdout], [], [], CHILD_TIMEOUT_S)[0]:
                proc.kill()
                proc.wait(timeout=10)
                return f"FAILED: the child did not answer within {CHILD_TIMEOUT_S} s: {stderr_tail()}"
            size = proc.stdout.readline()
            if not size:
                proc.stdin.close()
                proc.wait(timeout=10)
                return "FAILED in the child: " + stderr_tail()
            ok, args = pickle.loads(proc.stdout.read(int(size)))
            try:
                y = rebuild_cuda_tensor(*args)
                back = torch.equal(y, x * 2)
                del y
            except Exception as exc:  # noqa: BLE001 - the point is to report it
                return f"the child read the slot ({ok}), but this process could not open its output: {exc}"
            proc.stdin.write(b"done\n")
            proc.stdin.close()
            proc.wait(timeout=60)
            return "works" if ok and back else f"opened but wrong data (child read {ok}, parent read {back})"
        finally:
            if proc.poll() is None:
                proc.kill()
            errors.close()


def main() -> int:
    import torch

    from scoring import confine

    if not torch.cuda.is_available():
        print("benchmarks/confine_gpu.py needs a CUDA GPU", file=sys.stderr)
        return 2
    print(f"CUDA IPC with a confined candidate (uid {os.geteuid()}, {torch.cuda.get_device_name()}); "
          f"GPU_PATH now: {name(confine.GPU_PATH)}")

    def level(label: str, pieces: frozenset[str] | None) -> bool:
        try:
            verdict = probe(torch, pieces)
        except Exception as exc:  # noqa: BLE001
            verdict = f"FAILED: {type(exc).__name__}: {exc}"
        print(f"   {label}: {verdict}", flush=True)
        return verdict == "works"

    level("not confined", None)
    if not level("covers only (mount namespace, no capabilities)", frozenset()):
        print("   CUDA IPC fails with the covers alone: the GPU path cannot be confined here")
        return 1
    alone = [piece for piece in sorted(confine.CPU_PATH) if level(f"+ {piece} alone", frozenset({piece}))]
    # then greedily: each piece that worked alone is kept only if CUDA still works with it added to
    # those kept so far, so the answer is always a set that was probed and worked
    supported: frozenset[str] = frozenset()
    for piece in alone:
        trial = supported | {piece}
        if len(trial) == 1 or level(f"+ {name(trial)} together", trial):
            supported = trial
    if supported != confine.CPU_PATH and level(f"+ {name(confine.CPU_PATH)} (the CPU path)", confine.CPU_PATH):
        supported = confine.CPU_PATH  # all at once worked (the first four failed on an H100 before)
    print(f"GPU_PATH these results support: {name(supported)}"
          + ("" if supported == confine.GPU_PATH else " (set scoring/confine.py's GPU_PATH to it)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
