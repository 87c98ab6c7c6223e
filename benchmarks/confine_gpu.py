"""Which confinement pieces does CUDA IPC work with between the scorer and a confined candidate? (root, a GPU)

    python benchmarks/confine_gpu.py

The runner answers this by itself before a GPU scoring (scoring/kernel/gpu_confine.py, once per boot,
cached in rearena's data folder). This script runs the same probe in this process and prints every level
it tried (the covers alone, each piece alone, the ones that worked alone together, then one at a time),
with what failed, the answer, and how long the probe took. A first line tries the child unconfined.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine_line  # noqa: E402


def main() -> int:
    import torch

    from scoring import confine
    from scoring.kernel import gpu_confine

    if not torch.cuda.is_available():
        print("benchmarks/confine_gpu.py needs a CUDA GPU", file=sys.stderr)
        return 2
    print(machine_line())
    print(f"CUDA IPC with a confined candidate (uid {os.geteuid()}, {torch.cuda.get_device_name()}); "
          f"GPU_PATH (without a probe): {gpu_confine.name(confine.GPU_PATH)}")
    print(f"   not confined: {gpu_confine.cuda_ipc_check(None)}", flush=True)
    if not confine.available():
        print("   confinement is not available here (not root, or no unshare/setpriv)")
        return 1
    started = time.monotonic()
    found, levels = gpu_confine.search(gpu_confine.cuda_ipc_check, confine.usable(confine.CPU_PATH))
    took = time.monotonic() - started
    for pieces, verdict in levels:
        print(f"   {gpu_confine.name(pieces)}: {verdict}")
    if found is None:
        print(f"CUDA IPC fails with the covers alone: GPU candidates cannot be confined here (probe {took:.1f} s)")
        return 1
    print(f"the pieces a GPU candidate gets here: {gpu_confine.name(found)} (probe {took:.1f} s, "
          f"{len(levels)} levels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
