"""What restricted_mlm allows: the aten ops a forward pass may reach, and the static source check.

The runtime check (checked_boot.py records every aten op of each forward) is the authority; the
static check of model.py, and of the candidate's own modules it imports, is a first line that names
the file and line of an obvious violation before any candidate code runs. Training code that
model.py does not import (train.py) may use anything.
"""

from __future__ import annotations

import ast
import stat
from pathlib import Path

from scoring.api import parse_python

# aten op "packets" (the part of aten.<packet>.<overload> before the overload) a forward may use:
# matmul pieces, + - * and negation, ReLU-like clamps, max/min, comparisons and selection, sums,
# embedding/indexing, views, reshapes, joins, copies and constant factories. Nothing that divides
# (div, mean, var, norms, softmax...) or exponentiates (exp, log, pow, sqrt, sigmoid, tanh, gelu...).
ALLOWED_PACKETS = frozenset("""
mm bmm addmm addmv mv dot baddbmm addbmm matmul linear convolution _convolution
add add_ sub sub_ rsub mul mul_ neg neg_ abs sign sgn addcmul addcmul_
relu relu_ clamp clamp_ clamp_min clamp_min_ clamp_max clamp_max_ hardtanh hardtanh_ leaky_relu
leaky_relu_ threshold maximum minimum max min amax amin argmax argmin sort topk
gt ge lt le eq ne where logical_and logical_or logical_not logical_xor bitwise_and bitwise_or
bitwise_not bitwise_xor masked_fill masked_fill_ sum cumsum any all
embedding index_select gather index index_put index_put_ scatter scatter_ scatter_add scatter_add_
slice select narrow view _unsafe_view reshape _reshape_alias permute transpose transpose_ t expand
unsqueeze unsqueeze_ squeeze squeeze_ unflatten cat stack split split_with_sizes chunk unbind flip
roll repeat constant_pad_nd tril triu diagonal alias detach clone contiguous _to_copy to copy_
lift_fresh lift_fresh_copy as_strided unfold masked_select nonzero
zeros ones full zeros_like ones_like full_like new_zeros new_ones new_full arange eye scalar_tensor
fill fill_ zero_
""".split())
# Not the uninitialised factories (empty, empty_like, new_empty, empty_strided...): a red-team
# candidate read the bytes of a freed float buffer back through torch.empty of another dtype, a bit
# reinterpretation that no op records (the softmax bit tricks again); zeros does the same job.


def op_packet(name: str) -> str:
    """'aten.mm.default' -> 'mm'; other namespaces keep their name ('prims.x.default' -> 'prims.x')."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == "aten":
        return parts[1]
    return ".".join(parts[:2])


# Overloads refused although their packet is allowed: reinterpreting a tensor's bits as another dtype
# (x.view(torch.int32)) turns integer arithmetic into exp, division and rsqrt (the fast-exp and
# fast-reciprocal bit tricks), so it is as forbidden as those.
DISALLOWED_OVERLOADS = frozenset({"aten.view.dtype"})


def disallowed_ops(ops: dict[str, int]) -> list[str]:
    """The recorded op names that are not allowed, sorted."""
    return sorted(name for name in ops if op_packet(name) not in ALLOWED_PACKETS or name in DISALLOWED_OVERLOADS)


# -- the static check --------------------------------------------------------------------------

FORBIDDEN_NAMES = frozenset("""
div divide true_divide floor_divide truediv floordiv __truediv__ __rtruediv__ __itruediv__
__floordiv__ __rfloordiv__ __ifloordiv__ __mod__ __rmod__ remainder fmod reciprocal
pow __pow__ __rpow__ __ipow__ float_power square sqrt rsqrt exp exp2 expm1 ldexp log log2 log10 log1p
logsumexp logaddexp softmax log_softmax softmin Softmax LogSoftmax Softmin Softmax2d sigmoid logsigmoid
expit logit Sigmoid LogSigmoid tanh Tanh tanhshrink Tanhshrink hardsigmoid Hardsigmoid hardswish
Hardswish gelu GELU silu SiLU mish Mish elu ELU selu SELU celu CELU softplus Softplus softsign Softsign
glu GLU erf erfc erfinv sin cos tan atan asin acos sinh cosh
layer_norm LayerNorm group_norm GroupNorm batch_norm BatchNorm1d BatchNorm2d instance_norm
InstanceNorm1d rms_norm RMSNorm local_response_norm normalize norm vector_norm matrix_norm
mean nanmean var std var_mean std_mean cosine_similarity scaled_dot_product_attention
MultiheadAttention multi_head_attention_forward Transformer TransformerEncoderLayer
TransformerDecoderLayer TransformerEncoder
""".split())

ESCAPE_NAMES = frozenset("""
_C __torch_dispatch__ __torch_function__ _python_dispatch TorchDispatchMode TorchFunctionMode
_pop_mode _push_mode _disable_current_modes _DisableTorchDispatch _DisableTorchFunction
ctypes cffi eval exec compile __import__ importlib runpy __builtins__ builtins __main__
__globals__ __closure__ __code__ f_globals f_locals f_back _getframe settrace setprofile gc inspect
threading _thread multiprocessing subprocess concurrent asyncio fork forkpty system popen
signal setitimer
sys vars globals locals modules __dict__ __subclasses__ __mro__ __bases__ __base__ __getattribute__
attrgetter methodcaller
""".split())
# sys.modules["__main__"], vars(module)[...], __dict__ and the class graph reach the checked boot's and
# torch's objects by built names (a red-team candidate rebound the boot's forward wrapper through
# sys.modules["__" + "main__"], then called softmax as vars(torch)["soft" + "max"]).

BUILTIN_ONLY = frozenset(("eval", "exec", "__import__"))
ATTRIBUTE_FUNCTIONS = frozenset(("getattr", "setattr", "delattr", "hasattr"))


def _names_of(node: ast.AST) -> list[str]:
    """Identifiers a node spells: a name, an attribute, or the parts of an import."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names += node.module.split(".")
        for alias in node.names:
            names += alias.name.split(".")
        return names
    if isinstance(node, ast.FunctionDef):
        return [node.name]
    return []


def _folded_text(node: ast.AST) -> str | None:
    """The value of a string constant, or of a '+' of string constants ("soft" + "max"), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _folded_text(node.left), _folded_text(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, (ast.JoinedStr, ast.Constant)) and isinstance(getattr(node, "value", ""), str)


def findings_in_source(source: str, label: str) -> list[str]:
    """'file:line: what' for each forbidden operator, name or escape hatch in one file."""
    try:
        tree = parse_python(source, label)
    except SyntaxError as exc:
        return [f"{label}:{exc.lineno}: syntax error: {exc.msg}"]
    found: set[tuple[int, str]] = set()

    def add(node: ast.AST, what: str) -> None:
        found.add((getattr(node, "lineno", 0), what))

    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        op = getattr(node, "op", None)
        if isinstance(node, (ast.Constant, ast.BinOp)):
            text = _folded_text(node)
            if text in FORBIDDEN_NAMES and text != "__main__":
                add(node, f"the string {text!r} (the name of a disallowed primitive)")
            elif text in ESCAPE_NAMES and text != "__main__":
                add(node, f"the string {text!r} (the name of an escape hatch)")
        if isinstance(node, ast.Name) and node.id in ATTRIBUTE_FUNCTIONS and id(node) not in called:
            add(node, f"{node.id} used as a value (its attribute name can then be computed)")
        if isinstance(node, (ast.BinOp, ast.AugAssign)):
            if isinstance(op, ast.Div):
                add(node, "the division operator '/'")
            elif isinstance(op, ast.FloorDiv):
                add(node, "the division operator '//'")
            elif isinstance(op, ast.Pow):
                add(node, "the power operator '**'")
            elif isinstance(op, ast.Mod) and not (isinstance(node, ast.BinOp) and _is_text(node.left)):
                add(node, "the remainder operator '%' (a division)")
        for name in _names_of(node):
            if name in BUILTIN_ONLY and not isinstance(node, ast.Name):
                continue  # model.eval() is fine; the builtin eval() is not
            if name in FORBIDDEN_NAMES:
                add(node, f"the disallowed primitive {name!r}")
            elif name in ESCAPE_NAMES:
                add(node, f"the escape hatch {name!r}")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ATTRIBUTE_FUNCTIONS and len(node.args) >= 2:
                attr = node.args[1]
                if not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)):
                    add(node, f"{func.id}() with a computed attribute name")
                elif attr.value in FORBIDDEN_NAMES | ESCAPE_NAMES:
                    add(node, f"{func.id}() of the disallowed name {attr.value!r}")
            for keyword in node.keywords:
                if keyword.arg == "weights_only" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is True):
                    add(node, "torch.load without weights_only=True (unpickling can run code)")
    return [f"{label}:{line}: {what}" for line, what in sorted(found)]


def _local_imports(tree: ast.AST, folder: Path) -> list[Path]:
    """The candidate's own files (or packages) that a module imports."""
    paths = []
    for node in ast.walk(tree):
        heads = []
        if isinstance(node, ast.Import):
            heads = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            heads = [node.module.split(".")[0]] if node.module and not node.level else \
                [a.name for a in node.names]
        for head in heads:
            if (folder / f"{head}.py").is_file():
                paths.append(folder / f"{head}.py")
            elif (folder / head).is_dir():
                paths += sorted((folder / head).rglob("*.py"))
    return paths


# Files Python imports without source (a model.py of `from impl import load_model` beside impl.pyc), which
# the source check cannot read: refused wherever they lie in the folder (__pycache__ is never copied).
COMPILED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd")


def _compiled_files(folder: Path) -> list[str]:
    from scoring.tree_walk import named, walk

    return [f"{rel}:0: compiled code (a .pyc file or an extension module), which the source check cannot read"
            for rel, info in walk(folder, named(frozenset({"__pycache__"})), unreadable="skip")
            if rel.suffix in COMPILED_SUFFIXES and not stat.S_ISDIR(info.st_mode)]


def static_findings(folder: Path, entry_file: str) -> tuple[list[str], list[str]]:
    """(findings, files checked): the entry file and every local module it imports, transitively, and any
    compiled module in the folder."""
    folder = Path(folder)
    todo, seen, found = [folder / entry_file], [], _compiled_files(folder)
    while todo:
        path = todo.pop(0)
        if path in seen or not path.is_file():
            continue
        seen.append(path)
        label = str(path.relative_to(folder))
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            found.append(f"{label}:0: cannot be read as UTF-8 text ({exc})")
            continue
        found += findings_in_source(source, label)
        try:
            todo += _local_imports(parse_python(source), folder)
        except SyntaxError:
            pass
    return found, [str(p.relative_to(folder)) for p in seen]
