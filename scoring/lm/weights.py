"""Model weights that come from a candidate: bytes written by `torch.save(state_dict, buffer)`.

They are decoded with `torch.load(weights_only=True)` (tensors and plain containers only, no code)
and checked against the names, shapes and dtype the scorer expects before anything uses them.
"""

from __future__ import annotations

import io
import math
from typing import Mapping

import torch

from scoring.errors import Invalid

BAD_WEIGHTS = "bad_weights"


def state_bytes(state: Mapping[str, torch.Tensor]) -> bytes:
    """What a candidate returns: its state dict saved into memory (used by tests and reference code)."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, buffer)
    return buffer.getvalue()


def load_state(data: object, expected: Mapping[str, tuple[int, ...]], what: str = "the weights",
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Decode and check a candidate's weights; raise Invalid("bad_weights") naming the first problem.

    `expected` maps every parameter name to its shape: missing, extra, misshapen, wrongly typed
    or non-finite tensors are each refused with their name.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise Invalid(f"{what} must be the bytes of torch.save(state_dict), got {type(data).__name__}",
                      reason=BAD_WEIGHTS)
    try:
        state = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses anything but tensors and plain containers
        raise Invalid(f"{what} could not be loaded safely (torch.load, weights_only): {str(exc)[:300]}",
                      reason=BAD_WEIGHTS) from None
    if not isinstance(state, dict):
        raise Invalid(f"{what} must be a state dict (name -> tensor), got {type(state).__name__}",
                      reason=BAD_WEIGHTS)
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:5])}"] if missing else []) + (
            [f"unexpected {', '.join(map(str, extra[:5]))}"] if extra else [])
        raise Invalid(f"{what} do not match the model: {'; '.join(parts)}", reason=BAD_WEIGHTS,
                      details={"missing": missing, "unexpected": [str(k) for k in extra]})
    out = {}
    for name, shape in expected.items():
        tensor = state[name]
        if not isinstance(tensor, torch.Tensor) or type(tensor) is not torch.Tensor:
            raise Invalid(f"{what}: {name} is not a plain tensor ({type(tensor).__name__})", reason=BAD_WEIGHTS)
        if tuple(tensor.shape) != tuple(shape):
            raise Invalid(f"{what}: {name} has shape {tuple(tensor.shape)}, expected {tuple(shape)}",
                          reason=BAD_WEIGHTS)
        if tensor.dtype != dtype:
            raise Invalid(f"{what}: {name} has dtype {tensor.dtype}, expected {dtype}", reason=BAD_WEIGHTS)
        if not bool(torch.isfinite(tensor).all()):
            raise Invalid(f"{what}: {name} contains NaN or infinite values", reason=BAD_WEIGHTS)
        out[name] = tensor.contiguous()
    return out


def shapes_of(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """The names and shapes of a module's state dict (what load_state expects)."""
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def mean_abs_difference(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """Mean |a - b| over every parameter (an L1 distance per weight, as RE-Bench's bound)."""
    total, count = 0.0, 0
    for name, tensor in a.items():
        total += float((tensor.double() - b[name].double()).abs().sum())
        count += tensor.numel()
    return total / count if count else math.nan
