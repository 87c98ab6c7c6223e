"""The GPU confinement probe's child: what a GPU candidate does, confined with the pieces being tried.

gpu_confine.cuda_ipc_check copies this file into the child's folder (the candidate's, where scoring/
is covered) and runs it there with a candidate's environment. It reads one CUDA IPC handle on stdin,
opens the tensor, checks it, doubles it with a Triton kernel compiled here (Triton's JIT needs this
source file, its cache under HOME, a C compiler and the driver library: as a candidate's solution does)
or, where Triton is not installed or fails, with torch, and writes back (read_ok, how, handle).
"""

from __future__ import annotations

import pickle
import sys


def double(x):
    """2 * x, computed by a Triton kernel where Triton imports (else by torch), and how: "triton", "torch",
    or "triton failed: ..." (then torch computed it, so that CUDA IPC is still checked)."""
    import torch

    try:
        import triton
        import triton.language as tl
    except ImportError:
        return x * 2, "torch"

    try:
        @triton.jit
        def double_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
            offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            mask = offsets < n
            tl.store(y_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) * 2, mask=mask)

        y = torch.empty_like(x)
        double_kernel[(triton.cdiv(x.numel(), 1024),)](x, y, x.numel(), BLOCK=1024)
        return y, "triton"
    except Exception as exc:  # noqa: BLE001 - a compiler missing, a cache not writable: reported
        return x * 2, f"triton failed: {type(exc).__name__}: {str(exc).strip()[-300:]}"


def main() -> None:
    import torch
    from torch.multiprocessing.reductions import rebuild_cuda_tensor, reduce_tensor

    args = pickle.loads(sys.stdin.buffer.read(int(sys.stdin.buffer.readline())))
    x = rebuild_cuda_tensor(*args)
    ok = int(x.sum().item()) == int(x.numel() * (x.numel() - 1) // 2)
    y, how = double(x)
    torch.cuda.synchronize()
    data = pickle.dumps((ok, how, reduce_tensor(y)[1]))
    sys.stdout.buffer.write(b"%d\n" % len(data) + data)
    sys.stdout.flush()
    sys.stdin.buffer.readline()  # keep y alive until the parent has read it


if __name__ == "__main__":
    main()
