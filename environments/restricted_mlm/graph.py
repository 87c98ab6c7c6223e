"""The forward pass as a graph of aten ops, checked and run by the scorer: what is checked is what computes.

The candidate's process runs its forward on a tracing batch under a dispatch mode that writes down every
aten op (checked_boot.py's grapher) and sends the graph as plain values. `program_of` checks every node: each op an aten overload whose packet is
in rules.ALLOWED_PACKETS (and not a refused overload), looked up in torch's registry by that name only;
arguments plain values, earlier nodes, known dtypes, the CPU, the strided layout and the memory formats;
size lists within MAX_ELEMENTS; constants well-formed tensors. `run` evaluates the program in this process
on the hidden batches, which the candidate's process never sees, with fresh copies of the constants each
time (an in-place op carries nothing from one batch to the next).

So nothing that runs in the candidate's process (a patched checker, a thread, numpy on a tensor's memory,
values computed outside torch) reaches the logits that are scored: the program can only compute with
allowed ops from its constants (the weights) and the masked tokens.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

DTYPES = {name: getattr(torch, name) for name in (
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")}
LAYOUTS = {"strided": torch.strided}
FORMATS = {name: getattr(torch, name) for name in ("contiguous_format", "preserve_format", "channels_last")}
MAX_NODES = 50_000
MAX_DEPTH = 4  # nesting of argument lists
MAX_ELEMENTS = 1 << 28  # a size list's product (1 GiB of float32): factories, views, expands, repeats


class GraphRefused(Exception):
    """The graph cannot be run: `reason` (a verdict's reason code), `message`, and what it names."""

    def __init__(self, reason: str, message: str, names: list[str] | None = None):
        super().__init__(message)
        self.reason, self.message, self.names = reason, message, names or []


class Program:
    """A checked graph: its nodes with ops resolved, its constants as tensors, and its op counts. (Not a
    dataclass: the scorer loads this file by path, outside sys.modules.)"""

    def __init__(self, nodes: list[tuple], constants: list[torch.Tensor], ops: dict[str, int]):
        self.nodes, self.constants, self.ops = nodes, constants, ops


def program_of(answer: Any, disallowed: Callable[[dict[str, int]], list[str]]) -> Program:
    """The checked program of the candidate's graph answer, its ops judged by `disallowed` (rules.py's
    disallowed_ops, which the recorder's ops are judged by too); GraphRefused naming what is wrong."""
    if not isinstance(answer, dict) or not isinstance(answer.get("nodes"), list) \
            or not isinstance(answer.get("constants"), list):
        raise GraphRefused("unchecked_forward", "the traced forward is not a graph (nodes and constants)")
    raw_nodes, raw_constants = answer["nodes"], answer["constants"]
    if not raw_nodes or len(raw_nodes) > MAX_NODES:
        raise GraphRefused("unchecked_forward", f"the traced forward has {len(raw_nodes)} nodes "
                                                f"(1 to {MAX_NODES:,} are accepted)")
    constants = [_constant(item, k) for k, item in enumerate(raw_constants)]
    nodes, ops, inputs = [], {}, 0
    for i, node in enumerate(raw_nodes):
        if not isinstance(node, (list, tuple)) or not node or not isinstance(node[0], str):
            raise GraphRefused("unchecked_forward", f"node {i} of the traced forward is malformed")
        kind = node[0]
        if kind == "input" and len(node) == 1:
            inputs += 1
            nodes.append(("input",))
        elif kind == "const" and len(node) == 2 and _index(node[1], len(constants)):
            nodes.append(("const", node[1]))
        elif kind == "item" and len(node) == 3 and _index(node[1], i) and _index(node[2], 1 << 16):
            nodes.append(("item", node[1], node[2]))
        elif kind == "op" and len(node) == 5 and isinstance(node[1], str) and isinstance(node[2], str) \
                and isinstance(node[4], dict):
            name = _op_name(node[1], node[2])
            ops[name] = ops.get(name, 0) + 1
            nodes.append(("op", name, _argument(node[3], i, 0), {
                _keyword(key, i): _argument(value, i, 0) for key, value in node[4].items()}))
        elif kind == "output" and len(node) == 2 and i == len(raw_nodes) - 1:
            nodes.append(("output", _argument(node[1], i, 0)))
        else:
            raise GraphRefused("unchecked_forward", f"node {i} of the traced forward is malformed: "
                                                    f"{str(node)[:200]}")
    refused = disallowed(ops)
    if refused:
        raise GraphRefused("disallowed_op", f"disallowed op in the traced forward: {', '.join(refused[:10])}",
                           refused)
    nodes = [("op", _resolved(node[1]), *node[2:]) if node[0] == "op" else node for node in nodes]
    if inputs != 1 or nodes[-1][0] != "output":
        raise GraphRefused("unchecked_forward", "the traced forward must take one input (the tokens) and end "
                                                "with its output")
    return Program(nodes, constants, ops)


def run(program: Program, tokens: torch.Tensor) -> Any:
    """The program's output for `tokens`, computed here with fresh copies of its constants."""
    values: list[Any] = []
    for node in program.nodes:
        kind = node[0]
        if kind == "input":
            values.append(tokens)
        elif kind == "const":
            values.append(program.constants[node[1]].clone())
        elif kind == "item":
            whole = values[node[1]]
            if not isinstance(whole, (list, tuple)) or node[2] >= len(whole):
                raise GraphRefused("unchecked_forward", f"an item of the traced forward names part {node[2]} of "
                                                        f"a {type(whole).__name__}")
            values.append(whole[node[2]])
        elif kind == "op":
            args = _resolve(node[2], values)
            kwargs = {key: _resolve(value, values) for key, value in node[3].items()}
            out = node[1](*args, **kwargs)
            if isinstance(out, torch.Tensor) and out.numel() > MAX_ELEMENTS:  # a chain of doublings stops here
                raise GraphRefused("unchecked_forward", f"an op of the traced forward made {out.numel():,} "
                                                        f"elements (at most {MAX_ELEMENTS:,})")
            values.append(out)
        else:
            return _resolve(node[1], values)
    raise GraphRefused("unchecked_forward", "the traced forward has no output")


# -- checks --------------------------------------------------------------------------------------


class _Ref:
    """An earlier node's value, in a checked argument."""

    __slots__ = ("node",)

    def __init__(self, node: int):
        self.node = node


def _index(value: Any, bound: int) -> bool:
    return type(value) is int and 0 <= value < bound


def _op_name(schema: str, overload: str) -> str:
    """'aten::mm', 'default' -> 'aten.mm.default' (the recorder's names)."""
    namespace, _, packet = schema.partition("::")
    return f"{namespace}.{packet}.{overload or 'default'}"


def _resolved(name: str):
    """The aten overload of an allowed name, from torch's registry (never a candidate's object)."""
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != "aten" or not all(part.isidentifier() for part in parts):
        raise GraphRefused("disallowed_op", f"the traced forward names an op that is not aten's: {name}", [name])
    found = getattr(torch.ops.aten, parts[1], None)
    overload = parts[2]
    if found is None or overload not in found.overloads():
        raise GraphRefused("disallowed_op", f"the traced forward names an op torch does not have: {name}", [name])
    return getattr(found, overload)


def _keyword(key: Any, node: int) -> str:
    if not isinstance(key, str) or not key.isidentifier():
        raise GraphRefused("unchecked_forward", f"node {node} of the traced forward has a keyword {str(key)[:60]!r}")
    return key


def _argument(value: Any, node: int, depth: int) -> Any:
    """A checked argument: plain values, lists of them, earlier nodes (_Ref) and the known torch tokens."""
    if value is None or type(value) in (bool, int, float, str):
        if type(value) is str and len(value) > 256:
            raise GraphRefused("unchecked_forward", f"node {node} of the traced forward has a string of "
                                                    f"{len(value)} characters")
        return value
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise GraphRefused("unchecked_forward", f"node {node} of the traced forward nests lists too deep")
        items = [_argument(item, node, depth + 1) for item in value]
        _within_elements(items, node)
        return items
    if isinstance(value, dict) and len(value) == 1:
        (key, item), = value.items()
        if key == "ref" and _index(item, node):
            return _Ref(item)
        known = {"dtype": DTYPES, "layout": LAYOUTS, "memory_format": FORMATS}.get(key)
        if known is not None and item in known:
            return known[item]
        if key == "device" and item == "cpu":
            return torch.device("cpu")
    raise GraphRefused("unchecked_forward", f"node {node} of the traced forward has an argument the scorer does "
                                            f"not run: {str(value)[:120]}")


def _within_elements(items: list, node: int) -> None:
    """A list of sizes may not ask for more than MAX_ELEMENTS (checked before any op allocates)."""
    if items and all(type(item) is int for item in items):
        product = 1
        for item in items:
            product *= max(abs(item), 1)
            if product > MAX_ELEMENTS:
                raise GraphRefused("unchecked_forward", f"node {node} of the traced forward asks for more than "
                                                        f"{MAX_ELEMENTS:,} elements: {items[:8]}")


def _constant(item: Any, k: int) -> torch.Tensor:
    if not (isinstance(item, (list, tuple)) and len(item) == 3 and item[0] in DTYPES
            and isinstance(item[1], list) and all(_index(n, MAX_ELEMENTS + 1) for n in item[1])
            and isinstance(item[2], bytes)):
        raise GraphRefused("unchecked_forward", f"constant {k} of the traced forward is malformed")
    dtype, shape, data = DTYPES[item[0]], item[1], item[2]
    numel = 1
    for n in shape:
        numel *= n
    size = numel * torch.empty((), dtype=dtype).element_size()
    if numel > MAX_ELEMENTS or len(data) != size:
        raise GraphRefused("unchecked_forward", f"constant {k} of the traced forward has {len(data)} bytes for "
                                                f"{shape} {item[0]}")
    if not numel:
        return torch.zeros(shape, dtype=dtype)
    raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    return (raw != 0 if dtype is torch.bool else raw.view(dtype)).reshape(shape)  # a bool is 0 or 1, nothing else


def _resolve(value: Any, values: list) -> Any:
    if isinstance(value, _Ref):
        return values[value.node]
    if isinstance(value, list):
        return [_resolve(item, values) for item in value]
    return value
