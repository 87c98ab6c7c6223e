"""restricted_mlm's graph check (environments/restricted_mlm/graph.py): the scorer runs only aten ops that
the rules allow, looked up by name in torch's registry, with arguments of known kinds, and refuses the
rest before anything runs."""

from __future__ import annotations

import pytest

from envsupport import ENVIRONMENTS, load_module, require_modules

require_modules("torch", "numpy")

import torch  # noqa: E402

graph = load_module(ENVIRONMENTS / "restricted_mlm" / "graph.py", "restricted_mlm_graph_under_test")
rules = load_module(ENVIRONMENTS / "restricted_mlm" / "rules.py", "restricted_mlm_rules_under_test")


def const(tensor: torch.Tensor) -> tuple:
    return (str(tensor.dtype).replace("torch.", ""), list(tensor.shape),
            tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def op(schema: str, *args, overload: str = "Tensor", **kwargs) -> tuple:
    return ("op", schema, overload, list(args), kwargs)


def ref(node: int) -> dict:
    return {"ref": node}


def program(nodes: list, constants: list | None = None):
    return graph.program_of({"nodes": nodes, "constants": constants or []}, rules.disallowed_ops)


def refused(nodes: list, constants: list | None = None) -> graph.GraphRefused:
    with pytest.raises(graph.GraphRefused) as caught:
        program(nodes, constants)
    return caught.value


def test_a_graph_of_allowed_ops_runs_here():
    weight = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    checked = program([("input",), ("const", 0), op("aten::mm", ref(0), ref(1), overload="default"),
                       op("aten::add", ref(2), 1.0, overload="Scalar"),
                       op("aten::_to_copy", ref(3), overload="default", dtype={"dtype": "float64"}),
                       ("output", ref(4))], [const(weight)])
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out = graph.run(checked, x)
    assert out.dtype == torch.float64 and torch.equal(out, (x @ weight + 1).double())
    assert checked.ops == {"aten.mm.default": 1, "aten.add.Scalar": 1, "aten._to_copy.default": 1}


@pytest.mark.parametrize("schema, overload", [
    ("aten::exp", "default"), ("aten::div", "Tensor"), ("aten::_softmax", "default"),
    ("aten::view", "dtype"),  # bit reinterpretation
    ("aten::empty", "memory_format"),  # uninitialised memory
    ("prims::mul", "default"),  # another namespace
])
def test_a_disallowed_op_is_refused_by_name_before_anything_runs(schema, overload):
    why = refused([("input",), op(schema, ref(0), overload=overload), ("output", ref(1))])
    assert why.reason == "disallowed_op", why.message


@pytest.mark.parametrize("schema, overload", [("aten::mm.x", "default"), ("aten::mm", "a.b"), ("aten::" + "m" * 200, "x"),
                                              ("aten::mm", "default<img>")])
def test_an_op_named_otherwise_than_aten_names_them_is_refused(schema, overload):
    why = refused([("input",), op(schema, ref(0), overload=overload), ("output", ref(1))])
    assert why.reason == "unchecked_forward" and "not as aten does" in why.message and len(why.message) < 300


def test_an_allowed_packet_with_an_overload_torch_lacks_is_refused():
    why = refused([("input",), op("aten::mm", ref(0), ref(0), overload="bogus"), ("output", ref(1))])
    assert why.reason == "disallowed_op" and "aten.mm.bogus" in why.message


@pytest.mark.parametrize("nodes", [
    [("input",), op("aten::mul", ref(2), 2.0, overload="Scalar"), ("output", ref(1))],  # a later node
    [("input",), op("aten::mul", ref(1), 2.0, overload="Scalar"), ("output", ref(1))],  # itself
    [("input",), op("aten::_to_copy", ref(0), overload="default", device={"device": "cuda"}), ("output", ref(1))],
    [("input",), op("aten::_to_copy", ref(0), overload="default", dtype={"dtype": "complex64"}), ("output", ref(1))],
    [("input",), op("aten::einsum", "x" * 300, [ref(0)], overload="default"), ("output", ref(1))],
    [("input",), op("aten::cat", [[[[[ref(0)]]]]], overload="default"), ("output", ref(1))],  # nested too deep
    [("input",), ("input",), ("output", ref(1))],  # two inputs
    [("input",), op("aten::mul", ref(0), 2.0, overload="Scalar")],  # no output
    [("input",), ("output", ref(0)), op("aten::mul", ref(0), 2.0, overload="Scalar")],  # output not last
    [("input",), ("const", 0), ("output", ref(1))],  # no such constant
    [("input",), ("op", "aten::mul", "Scalar", [ref(0), 2.0], {"not a name": 1}), ("output", ref(1))],
    [("input",), ("op", "aten::mul", "Scalar", [ref(0), 2.0], {}, "extra"), ("output", ref(1))],
    [("input",), {"op": "aten::mul"}, ("output", ref(0))],
])
def test_a_malformed_graph_is_refused_before_anything_runs(nodes):
    assert refused(nodes).reason == "unchecked_forward"


def test_a_size_past_the_machine_fails_in_the_runner_not_before():
    """Sizes are only checked by what the ops make (a list of ints is not always a size: split sizes,
    strides): an allocation past the runner's memory fails there."""
    checked = program([("input",), op("aten::zeros", [1 << 20, 1 << 20], overload="default"), ("output", ref(1))])
    with pytest.raises(RuntimeError):
        graph.run(checked, torch.zeros(1))


def test_split_sizes_and_strides_whose_product_is_large_are_not_sizes():
    x = torch.arange(3 * 768.0)
    checked = program([("input",), op("aten::split_with_sizes", ref(0), [768, 768, 768], overload="default"),
                       ("item", 1, 2), ("output", ref(2))])
    assert graph.run(checked, x).tolist() == x[1536:].tolist()
    window = program([("input",), op("aten::as_strided", ref(0), [3, 768], [768, 1], overload="default"),
                      op("aten::sum", ref(1), overload="default"), ("output", ref(2))])
    assert float(graph.run(window, x)) == float(x.sum())


def test_a_chain_of_doublings_stops_at_the_limit(monkeypatch):
    monkeypatch.setattr(graph, "MAX_ELEMENTS", 1 << 12)
    nodes = [("input",)]
    for _ in range(20):
        nodes.append(op("aten::cat", [ref(len(nodes) - 1), ref(len(nodes) - 1)], overload="default"))
    checked = program(nodes + [("output", ref(len(nodes) - 1))])
    with pytest.raises(graph.GraphRefused, match="elements"):
        graph.run(checked, torch.ones(16))


@pytest.mark.parametrize("item", [
    ("float32", [2, 2], b"\0" * 15),  # too few bytes
    ("float32", [-1], b""),  # a negative size
    ("complex64", [1], b"\0" * 8),  # an unknown dtype
    ("float32", [2], "not bytes"),
])
def test_a_malformed_constant_is_refused(item):
    assert refused([("input",), ("output", ref(0))], [item]).reason == "unchecked_forward"


def test_a_bool_constant_is_only_true_or_false():
    checked = program([("input",), ("const", 0), ("output", ref(1))], [("bool", [3], bytes([0, 1, 7]))])
    out = graph.run(checked, torch.zeros(1))
    assert out.tolist() == [False, True, True] and out.view(torch.uint8).tolist() == [0, 1, 1]


def test_an_in_place_op_on_a_constant_carries_nothing_to_the_next_run():
    """A model could keep state across the hidden batches by writing into its weights: each run starts
    from fresh copies of the constants."""
    checked = program([("input",), ("const", 0), op("aten::add_", ref(1), ref(0)), ("output", ref(2))],
                      [const(torch.zeros(3))])
    first = graph.run(checked, torch.ones(3)).clone()
    second = graph.run(checked, torch.ones(3))
    assert torch.equal(first, torch.ones(3)) and torch.equal(second, torch.ones(3))


def test_an_item_of_a_multi_output_op():
    checked = program([("input",), op("aten::split", ref(0), 2, overload="Tensor"), ("item", 1, 1),
                       ("output", ref(2))])
    assert graph.run(checked, torch.arange(4.0)).tolist() == [2.0, 3.0]
    with pytest.raises(graph.GraphRefused, match="part 5"):
        graph.run(program([("input",), op("aten::split", ref(0), 2, overload="Tensor"), ("item", 1, 5),
                           ("output", ref(2))]), torch.arange(4.0))


def test_reshape_alias_runs_checked():
    """_reshape_alias checks no bounds (a view of 65,536 floats over 4 read the heap): the runner runs
    as_strided in its place, the same view when it stays inside its storage, refused when not."""
    x = torch.arange(6.0)[1:]
    inside = program([("input",), op("aten::_reshape_alias", ref(0), [2, 2], [2, 1], overload="default"),
                      ("output", ref(1))])
    assert graph.run(inside, x).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    outside = program([("input",), op("aten::_reshape_alias", ref(0), [1 << 16], [1], overload="default"),
                       ("output", ref(1))])
    with pytest.raises(RuntimeError, match="out of bounds"):
        graph.run(outside, x)


def test_the_scorers_check_needs_no_torch():
    """The scorer's process checks the graph without importing torch (the graph runs in the runner's)."""
    import subprocess
    import sys

    code = (f"import sys; sys.path.insert(0, {str(ENVIRONMENTS.parent)!r})\n"
            "from scoring.api import load_module\n"
            f"g = load_module(__import__('pathlib').Path({str(ENVIRONMENTS / 'restricted_mlm' / 'graph.py')!r}), 'g')\n"
            "nodes, ops = g.check({'nodes': [('input',), ('op', 'aten::mul', 'Scalar', [{'ref': 0}, 2.0], {}),"
            " ('output', {'ref': 1})], 'constants': [('float32', [2], bytes(8))]}, lambda ops: [])\n"
            "assert ops == {'aten.mul.Scalar': 1}, ops\n"
            "assert 'torch' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# -- the red team's findings (session 11) --------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"dtype": -100}, {"dtype": 6}, {"device": "meta"}, {"layout": 0},
                                    {"memory_format": 1}, {"dtype": {"layout": "strided"}}])
def test_a_dtype_layout_format_or_device_must_be_its_token(kwargs):
    """torch takes a plain int where the schema says dtype: -100 read past its table of dtypes (a segfault
    in the runner), 6 named an excluded one; a device may be a string ("meta")."""
    with pytest.raises(graph.GraphRefused, match="must be a"):
        program([("input",), op("aten::_to_copy", ref(0), overload="default", **{
            key: value for key, value in kwargs.items()}), ("output", ref(1))])


def test_positional_dtypes_and_unknown_keywords_are_bound_to_the_schema():
    with pytest.raises(graph.GraphRefused, match="must be a dtype"):
        program([("input",), op("aten::to", ref(0), 6, overload="dtype"), ("output", ref(1))])
    with pytest.raises(graph.GraphRefused, match="4 arguments for 3"):  # dtype is sum's keyword only
        program([("input",), op("aten::sum", ref(0), [0], False, {"dtype": "float64"}, overload="dim_IntList"),
                 ("output", ref(1))])
    with pytest.raises(graph.GraphRefused, match="unknown or repeated"):
        program([("input",), op("aten::sum", ref(0), [0], overload="dim_IntList", dim=[0]), ("output", ref(1))])
    with pytest.raises(graph.GraphRefused, match="arguments for"):
        program([("input",), op("aten::relu", ref(0), 1, overload="default"), ("output", ref(1))])
    fine = program([("input",), op("aten::sum", ref(0), [0], False, overload="dim_IntList", dtype={"dtype": "float64"}),
                    ("output", ref(1))])
    assert graph.run(fine, torch.ones(3, 2)).dtype == torch.float64


@pytest.mark.parametrize("value", [{"memory_format": [1]}, {"dtype": ["float32"]}, {"memory_format": {"a": 1}}])
def test_an_unhashable_token_is_refused_not_a_scorer_error(value):
    assert refused([("input",), op("aten::clone", ref(0), overload="default", memory_format=value),
                    ("output", ref(1))]).reason == "unchecked_forward"


def test_a_constant_with_an_unhashable_dtype_is_refused():
    assert refused([("input",), ("output", ref(0))], [([1], [1], b"\0")]).reason == "unchecked_forward"


def test_a_message_never_formats_a_whole_shared_structure():
    """A list of 100,000 references to one 1 MB string is 1.3 MB on the wire and 100 GB formatted."""
    import time

    big = "x" * (1 << 20)
    started = time.monotonic()
    why = refused([("input",), [big] * 100_000, ("output", ref(0))])
    assert why.reason == "unchecked_forward" and len(why.message) < 1000
    assert time.monotonic() - started < 1.0


def test_constants_past_their_total_are_refused(monkeypatch):
    monkeypatch.setattr(graph, "MAX_CONSTANT_BYTES", 64)
    why = refused([("input",), ("const", 0), ("output", ref(1))], [const(torch.zeros(32))])
    assert why.reason == "unchecked_forward" and "128 bytes" in why.message


def test_unsigned_constants_are_weights_too():
    checked = program([("input",), ("const", 0), ("output", ref(1))], [const(torch.tensor([1, 65535], dtype=torch.uint16))])
    assert graph.run(checked, torch.zeros(1)).tolist() == [1, 65535]
