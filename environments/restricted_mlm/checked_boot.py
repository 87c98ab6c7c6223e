"""The boot of the candidate's process in restricted_mlm: it watches every forward pass.

CHECKED_BOOT is passed to `python -I -c` by scoring.candidate.CandidateProcess (the same framing,
pipes and tripwire as the generic boot). Before the candidate's model.py is imported it imports
torch and defines two recorders, so that later monkey-patching by the candidate cannot replace them:

- a TorchDispatchMode that sees every aten op the forward reaches (aliases, getattr, custom autograd
  Functions and nn.functional all end there) and records its name, the tensors it produced and
  where its inputs came from (an output of a recorded op, or a tensor that existed before the call:
  parameters, buffers, tensor attributes of the model, the tokens);
- a TorchFunctionMode that records data leaving torch (Tensor.numpy, tolist, item, __array__...);
- a memory check: the byte ranges each recorded op touches and the dtype they are used as (the
  same bytes as two dtypes is a bit reinterpretation), and a SHA-256 of memory that no recorded op
  allocated, verified at every later read (changed by something unrecorded: numpy, an alias).

Before each forward the model's tensors are given fresh copies (aliases made in load_model no
longer reach them) and their old memory is hashed (if it changes during the forward, such an alias
was used); see SCORING.md.

The entry function (load_model) is called once at start-up, outside the recorders. Each call then
runs model(tokens) under both recorders and torch.no_grad(), and answers a plain dict: the op
counts, the escapes, the problems found ("unchecked"), and the logits as float32 bytes with their
shape. The scorer, in its own process, decides what is allowed; nothing here is trusted by itself.
"""

from scoring.candidate_boot import ENTRY, FRAMING, TRIPWIRE

CHECKED_BOOT = r'''
import os, sys, pickle, struct, traceback, importlib, zlib

IN_FD, OUT_FD = int(sys.argv[1]), int(sys.argv[2])
FILE, FUNC = sys.argv[3], sys.argv[4]
DENY = tuple(p for p in sys.argv[5:] if p)
''' + TRIPWIRE + FRAMING + ENTRY + r'''

def _make_checker():
    """Everything the checks need, captured now (before the candidate's code runs) in a closure.

    Nothing the returned forward (or anything it calls) runs is looked up later through a global of
    __main__, a module attribute or a class attribute that the candidate could rebind after its import
    (sys.modules["__main__"]._forward, torch.Tensor.untyped_storage, builtins.isinstance,
    OpOverload._op...): builtins, C functions, torch's functions and dtypes, and the C descriptors of
    Tensor's methods are bound to locals of this function here, before the candidate's model.py is
    imported. The tests check that no nested function of this closure reads a global."""
    import builtins, ctypes, gc, hashlib
    import torch
    import torch._ops
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.overrides import TorchFunctionMode

    (isinstance, issubclass, type, len, id, str, list, tuple, dict, set, range, enumerate, getattr,
     bool, Exception, bytearray, int, any) = (builtins.isinstance, builtins.issubclass, builtins.type, builtins.len, builtins.id,
                         builtins.str, builtins.list, builtins.tuple, builtins.dict, builtins.set,
                         builtins.range, builtins.enumerate, builtins.getattr, builtins.bool, builtins.Exception,
                         builtins.bytearray, builtins.int, builtins.any)
    plain_str = str.__str__           # an exact str copy of a str subclass, without calling its methods
    crc32, C = zlib.crc32, torch._C
    Tensor, Parameter, Module = torch.Tensor, torch.nn.Parameter, torch.nn.Module
    TensorBase, OpOverload, FunctionSchema = C.TensorBase, torch._ops.OpOverload, C.FunctionSchema
    plain_types = (Tensor, Parameter)
    no_grad, frombuffer = torch.no_grad, torch.frombuffer
    uint8, int64, float32 = torch.uint8, torch.int64, torch.float32
    # Tensor's methods and properties as their C descriptors: a later `torch.Tensor.untyped_storage = ...`
    # or `torch.Tensor.dtype = property(...)` does not reach the checker.
    to_numpy, t_detach, t_contiguous, t_reshape, t_view, t_clone, t_to, t_dim, t_numel, t_is_float, t_storage = (
        TensorBase.numpy, TensorBase.detach, TensorBase.contiguous, TensorBase.reshape, TensorBase.view,
        TensorBase.clone, TensorBase.to, TensorBase.dim, TensorBase.numel, TensorBase.is_floating_point,
        TensorBase.untyped_storage)
    t_dtype, t_shape, t_device, t_requires_grad = (
        TensorBase.__dict__[n].__get__ for n in ("dtype", "shape", "device", "requires_grad"))
    s_ptr, s_nbytes = C.StorageBase.data_ptr, C.StorageBase.nbytes
    # The mode stacks, read and checked with torch's C functions (the Python helpers around them,
    # torch.utils._python_dispatch._push_mode and friends, are module globals the candidate can replace).
    dispatch_len, dispatch_at = C._len_torch_dispatch_stack, C._get_dispatch_stack_at
    function_len, function_at = C._len_torch_function_stack, C._get_function_stack_at
    # An aten op as the C++ registry has it, by the name of its schema: the recorder runs that, never the
    # OpOverload's own `_op`, `__call__` or `__str__` (plain Python attributes the candidate could replace
    # to run its own code, unrecorded, inside an allowed op, or to rename a forbidden one).
    get_overload = C._get_operation_overload
    op_dict = next(k.__dict__["__dict__"] for k in OpOverload.__mro__ if "__dict__" in k.__dict__).__get__
    schema_name = FunctionSchema.__dict__["name"].__get__
    schema_overload = FunctionSchema.__dict__["overload_name"].__get__
    schema_arguments = FunctionSchema.__dict__["arguments"].__get__
    resolved = {}              # id(OpOverload) -> (the OpOverload, its name, the C++ op, its schema)
    instance_dict = Module.__dict__["__dict__"].__get__   # a module's own dict, whatever its class says
    dict_items, dict_get, dict_set = dict.items, dict.get, dict.__setitem__
    list_iter, list_set = list.__iter__, list.__setitem__
    c_char, sha256 = ctypes.c_char, hashlib.sha256
    from_address = type(c_char * 1).from_address   # the metaclass's method: no array class attribute consulted
    gc_enable, gc_disable = gc.enable, gc.disable
    escapes_watched = frozenset((
        "numpy", "tolist", "item", "__array__", "__array_wrap__", "__float__", "__int__", "__index__",
        "__complex__", "data_ptr", "untyped_storage", "storage", "_typed_storage", "__dlpack__",
        "__reduce_ex__", "__setstate__", "__getstate__", "set_"))
    max_scalar_inputs = 4096   # 0-dim tensors made by torch from Python numbers, per forward
    max_fresh_numel = 4096     # torch.tensor([...]) constants: lift_fresh of a small unknown tensor
    page = 12                  # the memory index of the bit-reinterpretation check: 4 KiB pages
    quiet = [True]
    st = {}
    written_args = {}          # op -> ((position, name), ...) of the arguments its schema says it writes

    def fingerprint(t):
        was, quiet[0] = quiet[0], True
        try:
            flat = t_view(t_reshape(t_contiguous(t_detach(t)), -1), uint8)
            return (t_dtype(t), tuple(t_shape(t)), crc32(to_numpy(flat)))
        except Exception:
            return None
        finally:
            quiet[0] = was

    def problem(text):
        if len(st["unchecked"]) < 20 and text not in st["unchecked"]:
            st["unchecked"].append(text)

    def tensors_in(value, out, depth=0):
        if isinstance(value, Tensor):
            out.append(value)
        elif depth < 3 and isinstance(value, (list, tuple)):
            for v in value:
                tensors_in(v, out, depth + 1)
        elif depth < 3 and isinstance(value, dict):
            for v in value.values():
                tensors_in(v, out, depth + 1)
        return out

    # -- memory: the bytes under every tensor a recorded op touches ---------------------------------
    # Each storage (address, size) is noted with the dtype it is used as: bytes used with two dtypes in
    # one forward are a bit reinterpretation (a dtype view made outside the recorder). Memory that no
    # recorded op of this forward allocated (the model's tensors and their views, lift_fresh and scalar
    # inputs) could have an alias outside torch made before the forward: a SHA-256 of its bytes is taken
    # when it is first seen and after every recorded op that writes it, and a recorded op that reads it
    # later must find the same bytes. Memory a recorded op allocated ("fresh") is reachable from outside
    # torch only through an escape (watched) or raw memory access, so it is not hashed (the cost).
    # Every tensor noted stays referenced until the end of the forward, so no address is reused.

    def storage_of(t):
        try:
            if t_device(t).type != "cpu":
                return None
            s = t_storage(t)
            ptr, size = s_ptr(s), s_nbytes(s)
        except Exception:
            return None
        return (ptr, size) if ptr and size > 0 else None

    def digest(key):
        return sha256(from_address(c_char * key[1], key[0])).digest()

    def describe(key):
        return st["labels"].get(key) or "a tensor"

    def note_memory(key, t, label):
        mem = st["memory"]
        seen = mem.get(key)
        dtype = t_dtype(t)
        if seen is not None:
            if seen[0] != dtype:
                bitcast(key, seen[0], dtype, label)
            return False
        mem[key] = (dtype, t)
        st["labels"].setdefault(key, label)
        lo, hi = key[0], key[0] + key[1]
        pages = st["pages"]
        for number in range(lo >> page, ((hi - 1) >> page) + 1):
            others = pages.get(number)
            if others is None:
                pages[number] = [key]
                continue
            for other in others:
                if other[0] < hi and lo < other[0] + other[1] and mem[other][0] != dtype:
                    bitcast(other, mem[other][0], dtype, label)
            others.append(key)
        return True

    def bitcast(key, first, then, label):
        text = ("%s is %s over the memory of %s, which is also used as %s (a dtype view made outside the "
                "recorder)" % (label, str(then).replace("torch.", ""), describe(key),
                               str(first).replace("torch.", "")))
        if len(st["bitcasts"]) < 10 and text not in st["bitcasts"]:
            st["bitcasts"].append(text)

    def check_reads(name, tensors):
        """Verify the bytes of every storage this op reads; return their keys."""
        keys = set()
        for t in tensors:
            key = storage_of(t)
            if key is None or key in keys:
                continue
            keys.add(key)
            if note_memory(key, t, "a tensor first read by %s" % name):
                st["digests"][key] = digest(key)
            elif key in st["fresh"]:
                continue
            elif st["digests"].get(key) != digest(key):
                problem("%s read %s, whose bytes changed after the last recorded op without any recorded "
                        "op writing them (numpy, or another alias of the memory made outside the forward?)"
                        % (name, describe(key)))
                st["digests"][key] = digest(key)
        return keys

    def writes_of(name, schema, args, kwargs):
        spec = written_args.get(name)
        if spec is None:
            try:
                spec = tuple((i, a.name) for i, a in enumerate(schema_arguments(schema))
                             if a.alias_info is not None and a.alias_info.is_write)
            except Exception:
                spec = ()
            written_args[name] = spec
        found = []
        for position, arg_name in spec:
            tensors_in(args[position] if position < len(args) else kwargs.get(arg_name), found)
        return found

    def note_writes(name, read_keys, outs, written):
        for t in outs + written:
            key = storage_of(t)
            if key is None:
                continue
            if note_memory(key, t, "the output of %s" % name) and key not in read_keys:
                st["fresh"].add(key)            # allocated by this op
            elif written and key in st["digests"]:
                st["digests"][key] = digest(key)  # older memory that this op wrote

    def check_inputs(name, args, kwargs):
        inputs = tensors_in((args, kwargs), [])
        for t in inputs:
            if type(t) not in plain_types:
                problem("%s got a tensor of class %s (tensor subclasses run code the recorder cannot see)"
                        % (name, type(t).__name__))
                continue
            key = id(t)
            if key in st["produced"]:
                continue
            if key in st["known"]:
                tensor, before = st["known"][key]
                if before is not None and fingerprint(tensor) != before:
                    problem("%s read %s, which changed during the forward without a recorded op"
                            % (name, st["names"].get(key, "a parameter")))
                continue
            st["keep"].append(t)
            if t_dim(t) == 0 and st["scalars"] < max_scalar_inputs:
                st["scalars"] += 1
                continue
            if name.startswith("aten.lift_fresh") and t_numel(t) <= max_fresh_numel:
                continue
            problem("%s used a tensor of shape %s that no recorded op produced and that is not part of "
                    "the model (computed with the recorder off?)" % (name, list(t_shape(t))))
        return inputs

    def resolve(func):
        """(name, C++ op, schema) of the op the dispatcher handed over: the name and the op to run both
        come from the schema in the OpOverload's own instance dict, never from its Python attributes."""
        found = resolved.get(id(func))
        if found is not None and found[0] is func:
            return found[1:]
        if type(func) is not OpOverload:
            return None
        schema = dict_get(op_dict(func), "_schema")
        if type(schema) is not FunctionSchema:
            return None
        qualified, overload = schema_name(schema), schema_overload(schema)
        if type(qualified) is not str or type(overload) is not str or "::" not in qualified:
            return None
        op = get_overload(qualified, overload)[0]
        name = "%s.%s" % (qualified.replace("::", "."), overload or "default")
        resolved[id(func)] = (func, name, op, schema)
        return name, op, schema

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            found = resolve(func)
            if found is None:
                name, op, schema = "an operator of class %s" % plain_str(type(func).__name__), func, None
                if not quiet[0]:
                    problem("the dispatcher handed the recorder %s, not an aten OpOverload" % name)
            else:
                name, op, schema = found
            if quiet[0]:
                return op(*args, **kwargs)
            st["ops"][name] = st["ops"].get(name, 0) + 1
            inputs = check_inputs(name, args, kwargs)
            read_keys = check_reads(name, [t for t in inputs if type(t) in plain_types])
            out = op(*args, **kwargs)
            outs = tensors_in(out, [])
            for t in outs:
                if type(t) not in plain_types:
                    problem("%s returned a tensor of class %s" % (name, type(t).__name__))
                st["produced"][id(t)] = t
            note_writes(name, read_keys, [t for t in outs if type(t) in plain_types],
                        [t for t in writes_of(name, schema, args, kwargs) if type(t) in plain_types])
            return out

    class EscapeWatch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if not quiet[0]:
                name = getattr(func, "__name__", "")
                if type(name) is not str:
                    name = plain_str(name) if isinstance(name, str) else ""
                if name in escapes_watched and name not in st["escapes"]:
                    st["escapes"].append(name)
            return func(*args, **(kwargs or {}))

    # -- the model's own tensors, found without running any method of the candidate's classes --------

    def modules_of(model):
        found, todo, seen = [], [("", model)], set()
        while todo:
            prefix, module = todo.pop(0)
            if id(module) in seen or not issubclass(type(module), Module):
                continue
            seen.add(id(module))
            own = instance_dict(module)
            if not issubclass(type(own), dict):
                continue
            found.append((prefix, module, own))
            children = dict_get(own, "_modules")
            if issubclass(type(children), dict):
                for name, child in list(dict_items(children)):
                    todo.append((join(prefix, name), child))
        return found

    def join(prefix, *parts):
        return ".".join(p if type(p) is str else str(p) if type(p) is int else "?"
                        for p in (prefix,) + parts if p not in (None, ""))

    def tensor_slots(model):
        """(label, tensor, put) for every tensor of the module tree: parameters, buffers, tensor
        attributes and the tensors directly inside list, tuple or dict attributes; put(new) replaces it."""
        slots = []
        for prefix, module, own in modules_of(model):
            for attr, value in list(dict_items(own)):
                if attr in ("_parameters", "_buffers", "_modules"):
                    continue
                if type(value) in plain_types:
                    slots.append((join(prefix, attr), value, lambda new, d=own, a=attr: dict_set(d, a, new)))
                elif issubclass(type(value), dict):
                    for k, v in list(dict_items(value)):
                        if type(v) in plain_types:
                            slots.append((join(prefix, attr, k), v, lambda new, d=value, k=k: dict_set(d, k, new)))
                elif issubclass(type(value), list):
                    for i, v in enumerate(list(list_iter(value))):
                        if type(v) in plain_types:
                            slots.append((join(prefix, attr, i), v, lambda new, l=value, i=i: list_set(l, i, new)))
                elif type(value) is tuple:
                    for i, v in enumerate(value):
                        if type(v) in plain_types:
                            def put(new, d=own, a=attr, i=i):
                                items = list(dict_get(d, a))
                                items[i] = new
                                dict_set(d, a, tuple(items))
                            slots.append((join(prefix, attr, i), v, put))
            for group in ("_buffers", "_parameters"):
                table = dict_get(own, group)
                if issubclass(type(table), dict):
                    for k, v in list(dict_items(table)):
                        if type(v) in plain_types:
                            slots.append((join(prefix, k), v, lambda new, d=table, k=k: dict_set(d, k, new)))
        return slots

    def rematerialize(slots):
        """Give every tensor of the model fresh memory (a copy), so that no alias made before the
        forward (a numpy array, a view of another dtype) points at what the forward reads. Returns the
        old tensors, to be released while the recorders watch. Shared tensors stay shared."""
        copies, old = {}, []
        for label, tensor, put in slots:
            new = copies.get(id(tensor))
            if new is None:
                new = t_clone(t_detach(tensor))
                if type(tensor) is Parameter:
                    new = Parameter(new, requires_grad=t_requires_grad(tensor))
                copies[id(tensor)] = new
                old.append(tensor)
            put(new)
        return old

    def known_tensors(model, tokens):
        found = {id(tokens): (tokens, "the tokens")}
        for label, tensor, _ in tensor_slots(model):
            found[id(tensor)] = (tensor, label)   # parameters and buffers come last: their names win
        return found

    def release(things):
        """Drop the references in `things` while the recorders watch (finalizers run observed)."""
        quiet[0] = False
        gc_enable()
        try:
            things.clear()
        finally:
            gc_disable()
            quiet[0] = True

    def forward(model, data, batch, length):
        gc_disable()   # cyclic garbage (and any finalizer in it) is collected only while watched
        st.clear()
        st.update(ops={}, escapes=[], unchecked=[], produced={}, scalars=0, bitcasts=[], memory={},
                  pages={}, digests={}, fresh=set(), keep=[], labels={}, names={})
        # The model's tensors as load_model (or the last call) left them: memory shared under two dtypes
        # is a prepared bit reinterpretation. Then every tensor gets a fresh copy; the old memory, which
        # only an alias made outside the forward can still reach, must stay as it is.
        slots = tensor_slots(model)
        for label, t, _ in slots:
            key = storage_of(t)
            if key is not None:
                note_memory(key, t, label)
        old = rematerialize(slots)
        slots = None
        before = {}
        for t in old:
            key = storage_of(t)
            if key is not None and key not in before:
                before[key] = (digest(key), st["labels"].get(key, "a tensor of the model"))
        st.update(memory={}, pages={}, labels={})
        garbage = [old]
        old = None
        hold = [t_clone(t_reshape(frombuffer(bytearray(data), dtype=int64), (batch, length)))]
        found = known_tensors(model, hold[0])
        st["names"] = {k: label for k, (_, label) in found.items()}
        for t, label in found.values():
            key = storage_of(t)
            if key is not None:
                st["labels"].setdefault(key, label)
        st["known"] = {k: (t, fingerprint(t)) for k, (t, _) in found.items()}
        found = None
        recorder, watch = Recorder(), EscapeWatch()
        out = answer = None
        with no_grad():
            watch.__enter__()
            recorder.__enter__()
            # entered by torch's Python code (its flags), verified with its C functions
            if not (is_on_top(dispatch_len, dispatch_at, recorder) and is_on_top(function_len, function_at, watch)):
                problem("the recorder's modes could not be installed on top of torch's mode stacks before "
                        "the forward (torch's mode functions replaced?)")
            quiet[0] = False
            gc_enable()
            try:
                out = model(hold[0])
            finally:
                gc_disable()
                quiet[0] = True
                dispatch_stack = [dispatch_at(i) for i in range(dispatch_len())]
                function_stack = [function_at(i) for i in range(function_len())]
                on_top = bool(dispatch_stack and dispatch_stack[-1] is recorder
                              and function_stack and function_stack[-1] is watch)
                if not (dispatch_stack and dispatch_stack[-1] is recorder):
                    problem("the dispatch mode that records the forward's ops was removed or covered "
                            "during the forward (stack after the call: %s)"
                            % [plain_str(type(m).__name__) for m in dispatch_stack])
                if not (function_stack and function_stack[-1] is watch):
                    problem("the torch function mode that watches for data leaving torch was removed or "
                            "covered during the forward")
                try:
                    answer = finish(out, batch, length)
                    for key, (was, label) in before.items():
                        if digest(key) != was:
                            problem("the memory that %s had before this call (now a fresh copy) was written "
                                    "during the forward without a recorded op: an alias of it made outside "
                                    "the forward (a numpy array?) was used" % label)
                finally:
                    # what the forward made is freed while the recorders still watch (if they are on top)
                    garbage += [out, hold, st["produced"], st["keep"], st["memory"], st["known"]]
                    out = hold = None
                    st.update(produced={}, keep=[], memory={}, known={}, pages={}, digests={}, fresh=set())
                    if on_top:
                        release(garbage)
                    garbage = None
                    for mode, stack in ((recorder, dispatch_stack), (watch, function_stack)):
                        if any(m is mode for m in stack):
                            try:
                                mode.__exit__(None, None, None)
                            except Exception:
                                pass
        answer.update(ops=dict(st["ops"]), escapes=list(st["escapes"]), unchecked=list(st["unchecked"]),
                      bitcasts=list(st["bitcasts"]))
        st.clear()
        return answer

    def is_on_top(length_of, item_at, mode):
        n = length_of()
        return n > 0 and item_at(n - 1) is mode

    def finish(out, batch, length):
        for key, (tensor, before) in st["known"].items():
            if before is not None and fingerprint(tensor) != before:
                problem("%s changed during the forward" % st["names"].get(key, "a parameter"))
        answer = {"type": plain_str(type(out).__name__)}
        if issubclass(type(out), Tensor):
            if id(out) not in st["produced"] or st["produced"][id(out)] is not out:
                problem("the returned logits were not produced by any op the recorder saw (computed "
                        "outside torch, or with the recorder off)")
            if type(out) not in plain_types:
                return answer
            key = storage_of(out)
            if key is not None and key in st["digests"] and st["digests"][key] != digest(key):
                problem("the returned logits (%s) changed after the last recorded op that wrote them, "
                        "without a recorded op (numpy, or another alias made outside the forward?)"
                        % describe(key))
            shape = [int(n) for n in t_shape(out)]
            answer["shape"] = shape
            answer["dtype"] = str(t_dtype(out))
            if t_is_float(out) and shape == [batch, length, 48]:
                answer["logits"] = to_numpy(t_contiguous(t_to(t_detach(out), "cpu", float32))).tobytes()
        return answer

    return forward


def _make_grapher():
    """graph(model, data, batch, length): the forward pass run again, under torch.no_grad(), with a dispatch
    mode that writes down every aten op it reaches (the ops the recorder sees) as a graph of plain values
    for the scorer, which checks every op and runs the graph itself on the hidden batches (graph.py): nodes
    ("input",), ("const", k) (a tensor no op of the graph made: a weight, a buffer, a constant), ("op",
    schema name, overload, args, kwargs), ("item", node, index) (one output of an op that makes several),
    ("output", value); a node's value in an argument is {"ref": node}, a dtype {"dtype": name}, a device,
    layout or memory format likewise; constants (dtype, shape, bytes). Nothing here is trusted: what it
    sends is what the scorer checks and runs."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    kinds = (("dtype", torch.dtype), ("device", torch.device), ("layout", torch.layout),
             ("memory_format", torch.memory_format))

    def constant(tensor):
        flat = tensor.detach().contiguous().reshape(-1)
        data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        return (str(tensor.dtype).replace("torch.", ""), [int(n) for n in tensor.shape], data)

    class Tracer(TorchDispatchMode):
        def __init__(self, x):
            super().__init__()
            self.nodes, self.constants, self.index, self.keep = [("input",)], [], {id(x): 0}, [x]

        def named(self, tensor, node):
            self.index[id(tensor)] = node
            self.keep.append(tensor)  # alive until the end: no other tensor takes its id meanwhile

        def value(self, value):
            if isinstance(value, torch.Tensor):
                if id(value) not in self.index:
                    self.constants.append(constant(value))
                    self.nodes.append(("const", len(self.constants) - 1))
                    self.named(value, len(self.nodes) - 1)
                return {"ref": self.index[id(value)]}
            if isinstance(value, (list, tuple)):
                return [self.value(item) for item in value]
            for name, kind in kinds:
                if isinstance(value, kind):
                    return {name: str(value).replace("torch.", "")}
            if value is None or isinstance(value, (bool, int, float, str)):
                return value
            raise TypeError("the forward passed an argument of type %s to an aten op, which cannot be sent to "
                            "the scorer" % type(value).__name__)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            node = (func._schema.name, func._overloadname, self.value(list(args)),
                    {key: self.value(item) for key, item in kwargs.items()})
            out = func(*args, **kwargs)
            self.nodes.append(("op",) + node)
            at = len(self.nodes) - 1
            if isinstance(out, torch.Tensor):
                self.named(out, at)  # an in-place op's output is its input: later uses read this node
            elif isinstance(out, (list, tuple)):
                for k, item in enumerate(out):
                    if isinstance(item, torch.Tensor):
                        self.nodes.append(("item", at, k))
                        self.named(item, len(self.nodes) - 1)
            return out

    def graph(model, data, batch, length):
        x = torch.frombuffer(bytearray(data), dtype=torch.int64).reshape(batch, length)
        tracer = Tracer(x)
        with torch.no_grad():
            with tracer:
                out = model(x)
        tracer.nodes.append(("output", tracer.value(out)))
        return {"nodes": tracer.nodes, "constants": tracer.constants}

    return graph


def _make_server():
    # The request loop, the checker and the pipes, bound now (before the candidate's model.py is
    # imported) to locals of this closure: rebinding a name of __main__ (`_forward`, `_send`, `pickle`,
    # `_violations`...) or of a module (os.write, pickle.dumps, builtins.isinstance) after the import
    # changes nothing that the loop runs. FRAMING's _send and _read_exact bind their helpers when they
    # are made, so the loop takes them as they are now; _load_entry (the import) still looks up
    # __main__'s _send, only to report why there is no entry point.
    import builtins
    loads, unpack = pickle.loads, struct.unpack
    send, read_exact = _send, _read_exact
    file, func = FILE, FUNC
    violations, denied, load_entry = _violations, _denied, _load_entry
    format_exception, flush, exit_now = traceback.format_exception, sys.stdout.flush, os._exit
    type, str, callable, hasattr, BaseException, MemoryError, EOFError = (
        builtins.type, builtins.str, builtins.callable, builtins.hasattr, builtins.BaseException,
        builtins.MemoryError, builtins.EOFError)
    plain_str = str.__str__
    forward = _make_checker()
    graph = _make_grapher()

    def text(value, limit):
        try:
            return plain_str(str(value))[:limit]
        except BaseException:
            return "(unprintable)"

    def tail(exc):
        denied(exc)
        try:
            return "".join(format_exception(type(exc), exc, exc.__traceback__)[-6:])[-4000:]
        except BaseException:
            return ""

    def raised(exc, what):
        return ("raised", text(type(exc).__name__, 200), what + text(exc, 2000), tail(exc))

    def serve():
        fn = load_entry()
        model = None
        if fn is not None:
            try:
                model = fn()
            except MemoryError:
                send(("memory", "MemoryError while loading %s" % file))
            except BaseException as exc:
                if denied(exc) or violations:
                    send(("forbidden", violations[:20]))
                else:
                    send(raised(exc, "loading the model (%s:%s) failed: " % (file, func)))
            else:
                if not callable(model) or not hasattr(model, "named_modules"):
                    send(("raised", "TypeError", "%s() must return a torch.nn.Module, got %s"
                          % (func, text(type(model).__name__, 200)), ""))
                    model = None
                else:
                    model.eval()
                    send(("forbidden", violations[:20]) if violations else ("ready",))
                    if violations:
                        model = None
        while model is not None:
            try:
                header = read_exact(8)
            except EOFError:
                break
            msg = loads(read_exact(unpack(">Q", header)[0]))
            if msg[0] == "exit":
                break
            args = msg[1]
            try:
                if args and args[0] == "graph":  # the forward written down for the scorer to check and run (graph.py)
                    answer = ("ok", graph(model, *args[1:]))
                else:
                    answer = ("ok", forward(model, *args))
            except MemoryError:
                answer = ("memory", "MemoryError in the forward pass")
            except BaseException as exc:
                answer = raised(exc, "the forward pass failed: ")
            send(("forbidden", violations[:20]) if violations else answer)
        flush()
        exit_now(0)

    return serve


_make_server()()
'''
