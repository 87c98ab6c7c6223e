"""Outputs the scorer cannot take at their word: tensors whose memory is not their values (torch's
negative and conjugate view bits, zero tensors, sparse and nested layouts) are wrong_layout, and an
output of the wrong shape is rejected from its description before any of its bytes cross the pipe.
Driven through the real kernel boot and process, in the interpreter mode."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from triton_cumsum_support import require_kernel_stack, score_directly

require_kernel_stack()

from scoring.api import ScoringContext  # noqa: E402
from scoring.errors import Invalid  # noqa: E402
from scoring.kernel import checks  # noqa: E402
from scoring.kernel.peer import KernelPeer  # noqa: E402

OUTPUTS = '''
import torch


def _correct(x):
    odd = ((x > 0).cumsum(0) % 2).bool()
    y = torch.zeros_like(x)
    y[1:] = torch.where(odd[:-1], x[1:], 0).cumsum(0).to(torch.int32)
    return y


def prefix_sum(x):
    kind = {KIND!r}
    if kind == "neg":  # its values the negated answer, its memory the answer
        return _correct(x)._neg_view()
    if kind == "neg_right":  # its values the answer, its memory the negated answer
        return (-_correct(x))._neg_view()
    if kind == "sparse":
        return _correct(x).to_sparse()
    if kind == "zero":
        return torch._efficientzerotensor(x.numel(), dtype=torch.int32)
    if kind == "nested":
        return torch.nested.nested_tensor([_correct(x)])
    if kind == "longer":  # one value too many: the wrong shape
        return torch.ones(x.numel() + 1, dtype=torch.int32)
    if kind == "strided":  # the right shape, every other value of a larger buffer
        return torch.stack([_correct(x), _correct(x)], 1)[:, 0]
    return _correct(x)
'''


def _peer(folder: Path, kind: str) -> KernelPeer:
    (folder / "solution.py").write_text(OUTPUTS.replace("{KIND!r}", repr(kind)))
    ctx = ScoringContext(environment="triton_cumsum", variant="test", params={}, candidate_dir=folder,
                         deadline=time.monotonic() + 120, rng=random.Random(3))
    return KernelPeer(ctx, folder, "solution.py", "prefix_sum", "cpu", trusted=True)


def _answer(tmp_path: Path, kind: str, n: int = 64) -> dict:
    import torch

    peer = _peer(tmp_path, kind)
    try:
        peer.op("cpu_slots", n, timeout=60)
        x = torch.randint(-9, 9, (n,), dtype=torch.int32)
        return peer.op("cpu_call", 0, x.numpy().tobytes(), timeout=60)
    finally:
        peer.close()


@pytest.mark.parametrize("kind, flag", [("neg", "negative view"), ("neg_right", "negative view"),
                                        ("sparse", "layout torch.sparse_coo"), ("zero", "zero tensor"),
                                        ("nested", "nested tensor")])
def test_an_output_whose_memory_is_not_its_values_is_described_so_and_never_read(tmp_path, kind, flag):
    """Before, the boot sent a neg view's raw memory (the answer judged right when torch's values were
    wrong, and wrong when they were right), and failed on a sparse, zero or nested tensor's description
    (candidate_exception)."""
    answer = _answer(tmp_path, kind)
    assert answer["data"] is None, kind
    with pytest.raises(Invalid) as info:
        checks.check_meta(answer["meta"], 64, "cpu", "case 'x'")
    assert info.value.reason == checks.WRONG_LAYOUT and flag in info.value.message, info.value.message


def test_a_plain_output_is_described_as_dense_and_sent(tmp_path):
    answer = _answer(tmp_path, "right")
    meta = answer["meta"]
    assert (meta["layout"], meta["neg"], meta["conj"], meta["zero"], meta["nested"]) == (
        "torch.strided", False, False, False, False)
    assert len(answer["data"]) == 4 * 64
    checks.check_meta(meta, 64, "cpu", "case 'x'")


@pytest.mark.parametrize("kind, reason", [("longer", checks.WRONG_SHAPE), ("strided", checks.NOT_CONTIGUOUS)])
def test_an_output_the_scorer_will_not_read_is_not_sent(tmp_path, kind, reason):
    """An output of the wrong shape (a candidate returned 240M values: 20 s and 4 GB in the scorer before
    wrong_shape) or layout is rejected from its description; its bytes never cross the pipe."""
    answer = _answer(tmp_path, kind)
    assert answer["data"] is None
    with pytest.raises(Invalid) as info:
        checks.check_meta(answer["meta"], 64, "cpu", "case 'x'")
    assert info.value.reason == reason


def test_a_conjugate_view_is_wrong_layout():
    """torch keeps no conj bit on integers; a boot that reports one (any dtype) is still refused."""
    meta = {"tensor": True, "type": "torch.Tensor", "subclass": False, "dtype": "torch.int32", "shape": [4],
            "stride": [1], "device": "cpu", "contiguous": True, "layout": "torch.strided", "conj": True}
    with pytest.raises(Invalid) as info:
        checks.check_meta(meta, 4, "cpu", "case 'x'")
    assert info.value.reason == checks.WRONG_LAYOUT and "conjugate" in info.value.message
    with pytest.raises(Invalid) as info:  # a description without a layout is no dense tensor either
        checks.check_meta({**meta, "conj": False, "layout": None}, 4, "cpu", "case 'x'")
    assert info.value.reason == checks.WRONG_LAYOUT


def test_a_negative_view_of_the_right_values_is_scored_wrong_layout(tmp_path):
    """The audit's negview_right (torch.equal with the answer is True; its memory holds the negation):
    before, wrong_answer; the control neg_view is the cheat the other way round."""
    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text(OUTPUTS.replace("{KIND!r}", repr("neg_right")))
    result = score_directly(folder, seed=5)
    assert result["reason"] == "wrong_layout" and "negative view" in result["message"], result["message"]
