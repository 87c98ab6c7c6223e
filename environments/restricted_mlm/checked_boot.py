"""The boot of the candidate's process in restricted_mlm: it watches every forward pass.

CHECKED_BOOT is passed to `python -I -c` by scoring.candidate.CandidateProcess (the same framing,
pipes and tripwire as the generic boot). Before the candidate's model.py is imported it imports
torch and defines two recorders, so that later monkey-patching by the candidate cannot replace them:

- a TorchDispatchMode that sees every aten op the forward reaches (aliases, getattr, custom autograd
  Functions and nn.functional all end there) and records its name, the tensors it produced and
  where its inputs came from (an output of a recorded op, or a tensor that existed before the call:
  parameters, buffers, tensor attributes of the model, the tokens);
- a TorchFunctionMode that records data leaving torch (Tensor.numpy, tolist, item, __array__...).

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
    """Everything the checks need, captured now (before the candidate's code runs) in a closure."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack
    from torch.overrides import TorchFunctionMode, _get_current_function_mode_stack

    Tensor, Parameter, Module = torch.Tensor, torch.nn.Parameter, torch.nn.Module
    plain_types = (Tensor, Parameter)
    to_numpy, no_grad, frombuffer = Tensor.numpy, torch.no_grad, torch.frombuffer
    escapes_watched = frozenset((
        "numpy", "tolist", "item", "__array__", "__array_wrap__", "__float__", "__int__", "__index__",
        "__complex__", "data_ptr", "untyped_storage", "storage", "_typed_storage", "__dlpack__",
        "__reduce_ex__", "__setstate__", "__getstate__", "set_"))
    max_scalar_inputs = 4096   # 0-dim tensors made by torch from Python numbers, per forward
    max_fresh_numel = 4096     # torch.tensor([...]) constants: lift_fresh of a small unknown tensor
    quiet = [True]
    st = {}

    def fingerprint(t):
        was, quiet[0] = quiet[0], True
        try:
            flat = t.detach().contiguous().reshape(-1).view(torch.uint8)
            return (t.dtype, tuple(t.shape), zlib.crc32(to_numpy(flat)))
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

    def check_inputs(name, args, kwargs):
        for t in tensors_in((args, kwargs), []):
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
            if t.dim() == 0 and st["scalars"] < max_scalar_inputs:
                st["scalars"] += 1
                continue
            if name.startswith("aten.lift_fresh") and t.numel() <= max_fresh_numel:
                continue
            problem("%s used a tensor of shape %s that no recorded op produced and that is not part of "
                    "the model (computed with the recorder off?)" % (name, list(t.shape)))

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if quiet[0]:
                return func(*args, **kwargs)
            name = str(func)
            st["ops"][name] = st["ops"].get(name, 0) + 1
            check_inputs(name, args, kwargs)
            out = func(*args, **kwargs)
            for t in tensors_in(out, []):
                if type(t) not in plain_types:
                    problem("%s returned a tensor of class %s" % (name, type(t).__name__))
                st["produced"][id(t)] = t
            return out

    class EscapeWatch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if not quiet[0]:
                name = getattr(func, "__name__", "")
                if name in escapes_watched and name not in st["escapes"]:
                    st["escapes"].append(name)
            return func(*args, **(kwargs or {}))

    def known_tensors(model, tokens):
        found = {id(tokens): (tokens, "the tokens")}
        for prefix, module in model.named_modules():
            for attr, value in list(vars(module).items()):
                items = value.items() if isinstance(value, dict) else enumerate(value) \
                    if isinstance(value, (list, tuple)) else [(None, value)]
                for key, v in items:
                    if isinstance(v, Tensor):
                        label = ".".join(p for p in (prefix, attr, None if key is None else str(key)) if p)
                        found.setdefault(id(v), (v, label))
            for pname, p in module.named_parameters(prefix=prefix, recurse=False):
                found[id(p)] = (p, pname)
            for bname, b in module.named_buffers(prefix=prefix, recurse=False):
                found[id(b)] = (b, bname)
        return found

    def forward(model, data, batch, length):
        tokens = frombuffer(bytearray(data), dtype=torch.int64).reshape(batch, length).clone()
        found = known_tensors(model, tokens)
        st.clear()
        st.update(ops={}, escapes=[], unchecked=[], produced={}, scalars=0,
                  names={k: label for k, (_, label) in found.items()})
        st["known"] = {k: (t, fingerprint(t)) for k, (t, _) in found.items()}
        recorder, watch = Recorder(), EscapeWatch()
        out = None
        with no_grad():
            watch.__enter__()
            recorder.__enter__()
            quiet[0] = False
            try:
                out = model(tokens)
            finally:
                quiet[0] = True
                dispatch_stack = list(_get_current_dispatch_mode_stack())
                function_stack = list(_get_current_function_mode_stack())
                if not (dispatch_stack and dispatch_stack[-1] is recorder):
                    problem("the dispatch mode that records the forward's ops was removed or covered "
                            "during the forward (stack after the call: %s)"
                            % [type(m).__name__ for m in dispatch_stack])
                if not (function_stack and function_stack[-1] is watch):
                    problem("the torch function mode that watches for data leaving torch was removed or "
                            "covered during the forward")
                for mode, stack in ((recorder, dispatch_stack), (watch, function_stack)):
                    if any(m is mode for m in stack):
                        try:
                            mode.__exit__(None, None, None)
                        except Exception:
                            pass
        for key, (tensor, before) in st["known"].items():
            if before is not None and fingerprint(tensor) != before:
                problem("%s changed during the forward" % st["names"].get(key, "a parameter"))
        answer = {"ops": dict(st["ops"]), "escapes": list(st["escapes"]), "unchecked": list(st["unchecked"]),
                  "type": type(out).__name__}
        if isinstance(out, Tensor):
            if id(out) not in st["produced"] or st["produced"][id(out)] is not out:
                problem("the returned logits were not produced by any op the recorder saw (computed "
                        "outside torch, or with the recorder off)")
                answer["unchecked"] = list(st["unchecked"])
            answer["shape"] = list(out.shape)
            answer["dtype"] = str(out.dtype)
            if out.is_floating_point() and list(out.shape) == [batch, length, 48]:
                quiet[0] = True
                answer["logits"] = to_numpy(out.detach().to("cpu", torch.float32).contiguous()).tobytes()
        st.clear()
        return answer

    return forward


_forward = _make_checker()
fn = _load_entry()
model = None
if fn is not None:
    try:
        model = fn()
    except MemoryError:
        _send(("memory", "MemoryError while loading %s" % FILE))
    except BaseException as exc:
        if _violations:
            _send(("forbidden", _violations[:20]))
        else:
            _send(("raised", type(exc).__name__, "loading the model (%s:%s) failed: %s"
                   % (FILE, FUNC, str(exc)[:2000]), _tail(exc)))
    else:
        if not callable(model) or not hasattr(model, "named_modules"):
            _send(("raised", "TypeError", "%s() must return a torch.nn.Module, got %s"
                   % (FUNC, type(model).__name__), ""))
            model = None
        else:
            model.eval()
            _send(("forbidden", _violations[:20]) if _violations else ("ready",))
            if _violations:
                model = None

for args, kwargs in (_requests() if model is not None else ()):
    try:
        answer = ("ok", _forward(model, *args))
    except MemoryError:
        answer = ("memory", "MemoryError in the forward pass")
    except BaseException as exc:
        answer = ("raised", type(exc).__name__, "the forward pass failed: %s" % str(exc)[:2000], _tail(exc))
    _send(("forbidden", _violations[:20]) if _violations else answer)
sys.stdout.flush()
os._exit(0)
'''
