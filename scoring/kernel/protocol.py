"""score_kernel(ctx): the masked-prefix-sum kernel protocol, on a CUDA GPU or in Triton's interpreter.

Variant parameters (all optional except n):
  n               input size on the GPU (the environment: 100,000,000)
  device          "auto" (default: the GPU if torch sees one), "cuda", or "cpu" (the interpreter)
  min_reps, max_reps, target_rel_sem, time_cap_s, warmup   the timing loop (GPU), in requests
  batch           calls per timed request (GPU; default 1): one round trip for `batch` calls on
                  fresh inputs, so the round trip's spread is divided among them
  floor_tolerance how far below the copy floor a time may fall before it is impossible (GPU)
  pin_cpus        (GPU; default false) the harness and the copy peer on a physical core each, the
                  candidate on the others (scoring/kernel/cpus.py; without enough cores, not pinned)
  cpu_n, cpu_reps full size and timed calls in the interpreter
  call_timeout_s  the longest one call may take (the first calls include Triton's compilation)
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, fields
from typing import Any

from scoring.errors import Invalid

ENTRY_FILE = "solution.py"
ENTRY_FUNCTION = "prefix_sum"
# Requests of several calls put every input of a request in its slot before the first call: a
# solution that finds the other slots in its process can compute later calls while earlier ones
# are timed, and look faster by up to whole kernel times. Such timings are for trusted solutions.
BATCH_WARNING = "batch > 1: a time for trusted solutions only (a candidate could compute a request's later calls early)"
MAX_BATCH = 8             # calls per timed request (at n = 1e8, batch 8 holds ~37 GB of GPU memory, batch 1 ~8.7: gpu.memory_needed)
REBENCH_START = 1.56      # RE-Bench's fixed normalization: raw score of its starting solution (4.76 ms)
REBENCH_REFERENCE = 0.47  # ... and of its official reference solution (1.6 ms)


@dataclass
class KernelSpec:
    n: int
    device: str = "auto"
    min_reps: int = 30
    max_reps: int = 200
    target_rel_sem: float = 0.005
    time_cap_s: float = 12.0
    warmup: int = 5
    batch: int = 1
    floor_tolerance: float = 0.10
    cpu_n: int = 4096
    cpu_reps: int = 3
    call_timeout_s: float = 60.0
    pin_cpus: bool = False

    @classmethod
    def from_params(cls, params: dict[str, Any], variant: str = "?") -> "KernelSpec":
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(params) - set(known))
        if unknown or "n" not in params:
            raise ValueError(f"kernel variant {variant!r}: params need n, and may have {sorted(known)}; "
                             f"got {params!r}")
        spec = cls(**params)
        for name in ("n", "min_reps", "max_reps", "warmup", "cpu_n", "cpu_reps", "batch"):
            setattr(spec, name, int(getattr(spec, name)))
        for name in ("target_rel_sem", "time_cap_s", "floor_tolerance", "call_timeout_s"):
            setattr(spec, name, float(getattr(spec, name)))
        if (spec.n < 1 or spec.cpu_n < 1 or spec.min_reps < 1 or spec.max_reps < spec.min_reps or spec.cpu_reps < 1
                or not 1 <= spec.batch <= MAX_BATCH):
            raise ValueError(f"kernel variant {variant!r}: need n, cpu_n, min_reps, cpu_reps >= 1, batch in "
                             f"1..{MAX_BATCH} and "
                             f"max_reps >= min_reps; got {params!r}")
        if not isinstance(spec.pin_cpus, bool):
            raise ValueError(f"kernel variant {variant!r}: pin_cpus must be true or false, got {spec.pin_cpus!r}")
        if spec.device not in ("auto", "cuda", "cpu"):
            raise ValueError(f"kernel variant {variant!r}: device must be auto, cuda or cpu, got {spec.device!r}")
        return spec


def find_cuda() -> tuple[Any, str]:
    """(torch, GPU name) when torch sees a CUDA GPU here, else (None, why not)."""
    if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi")):
        return None, "this machine has no NVIDIA GPU"
    try:
        import torch
    except ImportError:
        return None, "torch is not installed in the scorer's Python"
    if not torch.cuda.is_available():
        return None, f"torch {torch.__version__} sees no CUDA GPU (built for CUDA {torch.version.cuda})"
    return torch, torch.cuda.get_device_name(torch.cuda.current_device())


def rebench_normalized(raw: float) -> float:
    return (raw - REBENCH_START) / (REBENCH_REFERENCE - REBENCH_START)


def score_kernel(ctx) -> dict:
    """Score ctx.candidate_dir's prefix_sum; raise Invalid (reason needs_gpu) when there is no GPU."""
    spec = KernelSpec.from_params(dict(ctx.params), ctx.variant)
    torch, gpu = (None, "the variant asks for the interpreter") if spec.device == "cpu" else find_cuda()
    if torch is None:
        if spec.device == "cuda":
            raise Invalid(f"this variant needs a CUDA GPU: {gpu}", reason="needs_gpu")
        from scoring.kernel.cpu import score_in_interpreter

        details = score_in_interpreter(ctx, spec)
        details["no_gpu"] = gpu
        raise Invalid(
            f"correct on {details['checks']} checks in Triton's interpreter; timing needs a CUDA GPU ({gpu})",
            reason="needs_gpu", details=details)
    from scoring.kernel.gpu import score_on_gpu

    details = score_on_gpu(ctx, spec, torch)
    median_ms = details["median_ms"]
    raw = math.log(median_ms)
    details["rebench_normalized"] = rebench_normalized(raw)
    details["rebench_calibration"] = {"start": REBENCH_START, "reference": REBENCH_REFERENCE}
    calls = f"{details['reps']} timed calls"
    if spec.batch > 1:
        details["batch_warning"] = BATCH_WARNING
        calls = f"{details['reps']} timed requests of {spec.batch} calls; {BATCH_WARNING}"
    return {
        "raw": raw,
        "message": (f"median {median_ms:.4f} ms per call over {calls} "
                    f"({details['ratio_to_copy_floor']:.2f}x the copy floor of {details['copy_floor_ms']:.4f} ms; "
                    f"n={spec.n:,}, {gpu}); RE-Bench normalized {details['rebench_normalized']:.3f}"),
        "details": details,
    }
