"""The signed result channel between the scorer's process and the runner."""

import math

import pytest

from scoring.channel import ChannelTampered, sign, verify

KEY, NONCE = b"k" * 32, "run-1"


def test_a_signed_payload_comes_back_unchanged():
    payload = {"valid": True, "raw": 0.25, "details": {"times_ms": [1.0, 2.5], "reps": 2}}
    assert verify(KEY, NONCE, sign(KEY, NONCE, payload)) == payload


def test_infinite_and_nan_figures_arrive_as_none_instead_of_losing_the_result():
    # found on an H100: a kernel time below the harness noise gave a relative standard error of
    # inf, JSON refused it and the scorer's process ended without any result
    payload = {"valid": False, "reason": "impossible_time",
               "details": {"rel_sem": math.inf, "ratio": -math.inf, "spread": [1.0, math.nan], "n": 5}}
    got = verify(KEY, NONCE, sign(KEY, NONCE, payload))
    assert got == {"valid": False, "reason": "impossible_time",
                   "details": {"rel_sem": None, "ratio": None, "spread": [1.0, None], "n": 5}}


def test_a_line_signed_with_another_key_or_nonce_is_refused():
    line = sign(KEY, NONCE, {"valid": True})
    with pytest.raises(ChannelTampered):
        verify(b"x" * 32, NONCE, line)
    with pytest.raises(ChannelTampered):
        verify(KEY, "run-2", line)
