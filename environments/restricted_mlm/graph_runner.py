"""The process that runs a candidate's graph on the hidden batches: confined like a candidate, holding no secret.

The scorer (scorer.py) checks the graph first (graph.program_of: ops by name, arguments, sizes), then
starts this file with graph.py beside it in a folder of its own, as scoring.candidate starts a
candidate (its own namespaces, no capabilities, uid 65534, a memory limit). `execute("load", graph,
allowed, refused)` checks the graph again here and keeps it; `execute("run", tokens, batch, length)`
answers the logits of one batch of masked tokens as float32 bytes. Aten kernels take the graph's
sizes, strides and indices from the candidate: should one of them read or write out of bounds, it
does so in a process that holds only the masked tokens and the graph (never the true tokens, the
scorer's key or anything of the scorer's), and whose answers the scorer checks like a candidate's.
"""

import torch

from graph import program_of, run

_programs = []


def _disallowed_of(allowed: list, refused: list):
    allowed, refused = frozenset(allowed), frozenset(refused)

    def disallowed(ops: dict) -> list:
        return sorted(name for name in ops if name.split(".")[0] != "aten" or len(name.split(".")) != 3
                      or name.split(".")[1] not in allowed or name in refused)
    return disallowed


def execute(op: str, *args):
    """("load", graph, allowed packets, refused overloads) -> "loaded"; ("run", tokens, batch, length) ->
    {"shape", "dtype", "logits": float32 bytes (floating outputs only)} or {"type": name}."""
    if op == "load":
        graph, allowed, refused = args
        _programs[:] = [program_of(graph, _disallowed_of(allowed, refused))]
        return "loaded"
    data, batch, length = args
    tokens = torch.frombuffer(bytearray(data), dtype=torch.int64).reshape(batch, length)
    with torch.no_grad():
        out = run(_programs[0], tokens)
    if not isinstance(out, torch.Tensor):
        return {"type": type(out).__name__}
    answer = {"type": "Tensor", "shape": [int(n) for n in out.shape], "dtype": str(out.dtype)}
    if out.is_floating_point():
        answer["logits"] = out.detach().to(torch.float32).contiguous().numpy().tobytes()
    return answer
