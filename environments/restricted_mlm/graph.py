"""The forward pass as a graph of aten ops, checked by the scorer and run apart: what is checked is what scores.

The candidate's process runs its forward on a tracing batch under a dispatch mode that writes down every
aten op (checked_boot.py's grapher) and sends the graph as plain values. `check` (plain Python, in the
scorer's process) checks every node: each op named aten.<packet>.<overload> and allowed by the rules
(rules.disallowed_ops); arguments plain values, earlier nodes, known dtypes, the CPU, the strided layout
and the memory formats; size lists within MAX_ELEMENTS; constants of the right number of bytes.
`program_of` (graph_runner.py's process) checks the graph again, looks each op up in torch's registry by
that name only (never an object of the candidate's) and makes the constants tensors; `run` evaluates the
program on a batch, with fresh copies of the constants each time (an in-place op carries nothing from
one batch to the next).

So nothing that runs in the candidate's process (a patched checker, a thread, numpy on a tensor's memory,
answers written straight to its pipe) reaches the logits that are scored: the program computes with
allowed ops only, from its constants (the weights) and the masked tokens.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any, Callable

ITEM_BYTES = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2,
              "int8": 1, "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8, "bool": 1}
TOKENS = {"dtype": frozenset(ITEM_BYTES), "layout": frozenset({"strided"}), "device": frozenset({"cpu"}),
          "memory_format": frozenset({"contiguous_format", "preserve_format", "channels_last"})}
MAX_NODES = 50_000
# an op's name as the recorder writes it (namespace.packet.overload), whatever the namespace
OP_NAME = re.compile(r"[a-z_][a-z0-9_]{0,30}\.[A-Za-z_][A-Za-z0-9_]{0,80}\.[A-Za-z_][A-Za-z0-9_]{0,40}")
MAX_DEPTH = 4  # nesting of argument lists
MAX_ELEMENTS = 1 << 28  # elements of one tensor (1 GiB of float32), a constant's or an op's output
MAX_CONSTANT_BYTES = 256 << 20  # all constants together: the scorer holds them, then sends them on
# Overloads run as a checked equivalent: _reshape_alias makes a view of any size and strides over its
# input's storage without checking that it stays inside (a view of 65,536 floats over 4 read the heap
# beyond them); as_strided, with the input's own storage offset, is the same view, checked.
CHECKED_INSTEAD = {"aten._reshape_alias.default": "aten.as_strided.default"}


class GraphRefused(Exception):
    """The graph cannot be run: `reason` (a verdict's reason code), `message`, and what it names."""

    def __init__(self, reason: str, message: str, names: list[str] | None = None):
        super().__init__(message)
        self.reason, self.message, self.names = reason, message, names or []


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 80
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = 6
_BRIEF.maxlevel = 3


def brief(value: Any) -> str:
    """A short repr of a value from the candidate: only its first items and characters are ever formatted
    (str() of a list of 100,000 references to one 1 MB string would build 100 GB)."""
    try:
        return _BRIEF.repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is shown by its type
        return f"a {type(value).__name__}"


class Ref:
    """An earlier node's value, in a checked argument."""

    __slots__ = ("node",)

    def __init__(self, node: int):
        self.node = node


class Token:
    """A dtype, layout, device or memory format, by name, in a checked argument."""

    __slots__ = ("kind", "name")

    def __init__(self, kind: str, name: str):
        self.kind, self.name = kind, name


class Program:
    """A checked graph ready to run: nodes with ops resolved, constants as tensors, op counts. (Not a
    dataclass: the scorer loads this file by path, outside sys.modules.)"""

    def __init__(self, nodes: list[tuple], constants: list, ops: dict[str, int]):
        self.nodes, self.constants, self.ops = nodes, constants, ops


def check(answer: Any, disallowed: Callable[[dict[str, int]], list[str]]) -> tuple[list[tuple], dict[str, int]]:
    """The graph's nodes, checked (arguments with Ref and Token), and its op counts; GraphRefused naming
    what is wrong (any other error of a malformed graph too). `disallowed` is rules.disallowed_ops (which
    the recorder's ops are judged by too)."""
    try:
        return _checked(answer, disallowed)
    except GraphRefused:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        raise GraphRefused("unchecked_forward", f"the traced forward is malformed: {type(exc).__name__}: "
                                                f"{brief(str(exc))}") from None


def _checked(answer: Any, disallowed: Callable[[dict[str, int]], list[str]]) -> tuple[list[tuple], dict[str, int]]:
    if not isinstance(answer, dict) or not isinstance(answer.get("nodes"), list) \
            or not isinstance(answer.get("constants"), list):
        raise GraphRefused("unchecked_forward", "the traced forward is not a graph (nodes and constants)")
    raw_nodes, constants = answer["nodes"], answer["constants"]
    if not raw_nodes or len(raw_nodes) > MAX_NODES:
        raise GraphRefused("unchecked_forward", f"the traced forward has {len(raw_nodes)} nodes "
                                                f"(1 to {MAX_NODES:,} are accepted)")
    total = sum(_check_constant(item, k) for k, item in enumerate(constants))
    if total > MAX_CONSTANT_BYTES:
        raise GraphRefused("unchecked_forward", f"the traced forward's constants hold {total:,} bytes (at most "
                                                f"{MAX_CONSTANT_BYTES:,})")
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
            if not OP_NAME.fullmatch(name):
                raise GraphRefused("unchecked_forward", f"node {i} of the traced forward names an op not as aten "
                                                        f"does: {brief(name)}")
            ops[name] = ops.get(name, 0) + 1
            nodes.append(("op", name, _argument(node[3], i, 0), {
                _keyword(key, i): _argument(value, i, 0) for key, value in node[4].items()}))
        elif kind == "output" and len(node) == 2 and i == len(raw_nodes) - 1:
            nodes.append(("output", _argument(node[1], i, 0)))
        else:
            raise GraphRefused("unchecked_forward", f"node {i} of the traced forward is malformed: {brief(node)}")
    refused = disallowed(ops)
    if refused:
        raise GraphRefused("disallowed_op", f"disallowed op in the traced forward: {', '.join(refused[:10])}",
                           refused)
    if inputs != 1 or nodes[-1][0] != "output":
        raise GraphRefused("unchecked_forward", "the traced forward must take one input (the tokens) and end "
                                                "with its output")
    return nodes, ops


def program_of(answer: Any, disallowed: Callable[[dict[str, int]], list[str]]) -> Program:
    """The graph checked (check), its ops looked up in torch's registry and its constants made tensors."""
    nodes, ops = check(answer, disallowed)
    built = []
    for i, node in enumerate(nodes):
        if node[0] == "op":
            op = _resolved(node[1])
            _bound(op, node[1], node[2], node[3], i)
            node = ("op", op, _torch_values(node[2]), _torch_values(node[3]))
        elif node[0] == "output":
            node = ("output", _torch_values(node[1]))
        built.append(node)
    return Program(built, [_tensor(item) for item in answer["constants"]], ops)


def run(program: Program, tokens: Any) -> Any:
    """The program's output for `tokens`, with fresh copies of its constants."""
    import torch

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
            out = node[1](*_values(node[2], values), **_values(node[3], values))
            if isinstance(out, torch.Tensor) and out.numel() > MAX_ELEMENTS:  # a chain of doublings stops here
                raise GraphRefused("unchecked_forward", f"an op of the traced forward made {out.numel():,} "
                                                        f"elements (at most {MAX_ELEMENTS:,})")
            values.append(out)
        else:
            return _values(node[1], values)
    raise GraphRefused("unchecked_forward", "the traced forward has no output")


# -- checks (plain Python) -------------------------------------------------------------------------


def _index(value: Any, bound: int) -> bool:
    return type(value) is int and 0 <= value < bound


def _op_name(schema: str, overload: str) -> str:
    """'aten::mm', 'default' -> 'aten.mm.default' (the recorder's names)."""
    namespace, _, packet = schema.partition("::")
    return f"{namespace}.{packet}.{overload or 'default'}"


def _keyword(key: Any, node: int) -> str:
    if not isinstance(key, str) or not key.isidentifier():
        raise GraphRefused("unchecked_forward", f"node {node} of the traced forward has a keyword {brief(key)}")
    return key


def _argument(value: Any, node: int, depth: int) -> Any:
    """A checked argument: plain values, lists of them, earlier nodes (Ref) and the known tokens (Token)."""
    if value is None or type(value) in (bool, int, float, str):
        if type(value) is str and len(value) > 256:
            raise GraphRefused("unchecked_forward", f"node {node} of the traced forward has a string of "
                                                    f"{len(value)} characters")
        return value
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise GraphRefused("unchecked_forward", f"node {node} of the traced forward nests lists too deep")
        return [_argument(item, node, depth + 1) for item in value]
    if isinstance(value, dict) and len(value) == 1:
        (key, item), = value.items()
        if key == "ref" and _index(item, node):
            return Ref(item)
        if type(key) is str and key in TOKENS and type(item) is str and item in TOKENS[key]:
            return Token(key, item)
    raise GraphRefused("unchecked_forward", f"node {node} of the traced forward has an argument the scorer does "
                                            f"not run: {brief(value)}")


def _check_constant(item: Any, k: int) -> int:
    """The constant's size in bytes, once its dtype, shape and bytes agree."""
    if not (isinstance(item, (list, tuple)) and len(item) == 3 and type(item[0]) is str and item[0] in ITEM_BYTES
            and isinstance(item[1], list) and all(_index(n, MAX_ELEMENTS + 1) for n in item[1])
            and isinstance(item[2], bytes)):
        raise GraphRefused("unchecked_forward", f"constant {k} of the traced forward is malformed")
    numel = 1
    for n in item[1]:
        numel = min(numel * n, MAX_ELEMENTS + 1)
    if numel > MAX_ELEMENTS or len(item[2]) != numel * ITEM_BYTES[item[0]]:
        raise GraphRefused("unchecked_forward", f"constant {k} of the traced forward has {len(item[2])} bytes for "
                                                f"{brief(item[1])} {item[0]}")
    return len(item[2])


# -- the program (torch) ---------------------------------------------------------------------------


def _resolved(name: str):
    """The aten overload of an allowed name, from torch's registry (never a candidate's object)."""
    import torch

    name = CHECKED_INSTEAD.get(name, name)
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != "aten" or not all(part.isidentifier() for part in parts):
        raise GraphRefused("disallowed_op", f"the traced forward names an op that is not aten's: {name}", [name])
    found = getattr(torch.ops.aten, parts[1], None)
    if found is None or parts[2] not in found.overloads():
        raise GraphRefused("disallowed_op", f"the traced forward names an op torch does not have: {name}", [name])
    return getattr(found, parts[2])


# Where an op's schema takes a dtype, layout, memory format or device, torch also takes a plain int (or a
# string for a device): an int outside its table of dtypes read past it (a segfault with dtype -100, or
# an excluded dtype). Such an argument must be a Token of its kind, or None.
SCHEMA_TOKENS = {"ScalarType": "dtype", "Layout": "layout", "MemoryFormat": "memory_format", "Device": "device"}


def _bound(op: Any, name: str, args: list, kwargs: dict, node: int) -> None:
    """Refuse arguments that do not fit the op's schema: too many, unknown keywords, and anything but a Token
    of its kind (or None) where the schema takes a dtype, layout, memory format or device."""
    arguments = op._schema.arguments
    positional = [a for a in arguments if not a.kwarg_only]
    if len(args) > len(positional):
        raise GraphRefused("unchecked_forward", f"node {node} ({name}) has {len(args)} arguments for "
                                                f"{len(positional)}")
    given = dict(zip((a.name for a in positional), args))
    for key, value in kwargs.items():
        if key in given or key not in {a.name for a in arguments}:
            raise GraphRefused("unchecked_forward", f"node {node} ({name}) has an unknown or repeated argument "
                                                    f"{brief(key)}")
        given[key] = value
    for argument in arguments:
        kind = next((token for word, token in SCHEMA_TOKENS.items() if word in str(argument.real_type)), None)
        value = given.get(argument.name)
        if kind and value is not None and not (isinstance(value, Token) and value.kind == kind):
            raise GraphRefused("unchecked_forward", f"node {node} ({name}): its argument {argument.name} must be a "
                                                    f"{kind} such as {{'{kind}': ...}}, got {brief(value)}")


def _torch_values(value: Any) -> Any:
    """A checked argument with its Tokens made torch's objects."""
    import torch

    if isinstance(value, Token):
        return torch.device(value.name) if value.kind == "device" else getattr(torch, value.name)
    if isinstance(value, list):
        return [_torch_values(item) for item in value]
    if isinstance(value, dict):
        return {key: _torch_values(item) for key, item in value.items()}
    return value


def _tensor(item: tuple) -> Any:
    import torch

    dtype, shape, data = getattr(torch, item[0]), item[1], item[2]
    if not data:
        return torch.zeros(shape, dtype=dtype)
    raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    return (raw != 0 if dtype is torch.bool else raw.view(dtype)).reshape(shape)  # a bool is 0 or 1, nothing else


def _values(value: Any, values: list) -> Any:
    """An argument with its Refs replaced by the nodes' values."""
    if isinstance(value, Ref):
        return values[value.node]
    if isinstance(value, list):
        return [_values(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _values(item, values) for key, item in value.items()}
    return value
