"""Does CUDA IPC work between the scorer and a confined candidate? (root, a CUDA GPU)

    python benchmarks/confine_gpu.py

The kernel scorer shares input slots with the candidate's process and opens its outputs through
CUDA IPC (torch.multiprocessing's reduce_tensor / rebuild_cuda_tensor). scoring/confine.py gives
a GPU candidate only a mount namespace and no capabilities, because a PID namespace and the
read-only file system with a private /dev/shm (what a CPU candidate gets) were not known to let
IPC work. This probe tries each level: a child started through confine.wrap opens a tensor this
process exported, checks it, and exports one of its own that this process opens and checks.
Prints one line per level: works, or what failed.
"""

from __future__ import annotations

import os
import pickle
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

LEVELS = [
    ("not confined", None),
    ("mount namespace, no capabilities (the GPU path now)", False),
    ("+ PID and network namespaces, read-only fs, private /tmp /dev/shm /run (the CPU path)", True),
]


def probe(torch, confined: bool | None) -> str:
    from torch.multiprocessing.reductions import rebuild_cuda_tensor, reduce_tensor

    from scoring import confine

    n = 1 << 20
    x = torch.arange(n, dtype=torch.int64, device="cuda")
    torch.cuda.synchronize()
    argv = [sys.executable, "-c", CHILD]
    with tempfile.TemporaryDirectory(prefix="rearena-ipc-probe-") as folder:
        if confined is not None:
            if not confine.available():
                return "confinement not available here (not root, or no unshare/setpriv)"
            argv = confine.wrap(argv, [str(REPO / "reference_solutions")], pid_namespace=confined)
        proc = subprocess.Popen(argv, cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            data = pickle.dumps(reduce_tensor(x)[1])
            proc.stdin.write(b"%d\n" % len(data) + data)
            proc.stdin.flush()
            size = proc.stdout.readline()
            if not size:
                proc.stdin.close()
                return "FAILED in the child: " + proc.stderr.read().decode(errors="replace").strip()[-400:]
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


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("benchmarks/confine_gpu.py needs a CUDA GPU", file=sys.stderr)
        return 2
    print(f"CUDA IPC with a confined candidate (uid {os.geteuid()}, {torch.cuda.get_device_name()}):")
    for label, level in LEVELS:
        try:
            verdict = probe(torch, level)
        except Exception as exc:  # noqa: BLE001
            verdict = f"FAILED: {type(exc).__name__}: {exc}"
        print(f"   {label}: {verdict}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
