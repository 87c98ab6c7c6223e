"""An answer a scorer would choke on (a structure sharing its parts, tiny when pickled but 2^64 values
when walked; nesting too deep to format; an int too long to print) is a protocol error, at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from environments.registry import load_registry
from scoring.candidate import ANSWER_DEPTH, ANSWER_NODES, bounded
from scoring.runner import score_candidate


def shared(depth: int, kind=list):
    one = kind()
    for _ in range(depth):
        one = kind([one, one])
    return one


def nested(depth: int):
    top = here = []
    for _ in range(depth):
        here.append([])
        here = here[0]
    return top


@pytest.mark.parametrize("value", [None, 1.5, "text", b"bytes", [0.5] * 20_000, {"ops": {"add": 3}, "x": [1, 2]},
                                   [[0] * 5] * 3, nested(ANSWER_DEPTH - 1), 2 ** 4000, (1, {2, 3}, frozenset())])
def test_plain_answers_of_a_sane_size_pass(value):
    assert bounded(value) == ""


@pytest.mark.parametrize("value, words", [
    (shared(64), "more than 2,000,000 values"),
    (shared(64, tuple), "more than 2,000,000 values"),
    ({"k": shared(40)}, "more than 2,000,000 values"),
    (nested(ANSWER_DEPTH + 1), f"more than {ANSWER_DEPTH} levels deep"),
    ([10 ** 5000], "an int of 16,610 bits"),
    ({"k": [object()]}, "a value of type object"),
])
def test_answers_a_scorer_would_choke_on_are_named(value, words):
    started = time.monotonic()
    assert words in bounded(value)
    assert time.monotonic() - started < 30  # bounded by ANSWER_NODES, however much the value holds
    assert ANSWER_NODES == 2_000_000


SHARED = '''
def rolling_median(values, window):
    one = []
    for _ in range(64):
        one = [one, one]
    return one
'''


def test_a_shared_answer_is_a_protocol_error_not_a_timeout(tmp_path):
    """Refused before rolling_median's scorer reads it (its messages show a wrong answer with repr(),
    which on this answer would not end before the scoring timeout)."""
    env, _ = load_registry().resolve("rolling_median:tiny")
    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text(SHARED)
    started = time.monotonic()
    result = score_candidate(env, "tiny", Path(folder), timeout_s=60)
    assert not result.valid and result.reason == "protocol_error", (result.reason, result.message)
    assert "more than 2,000,000 values" in result.message
    assert time.monotonic() - started < 45


def test_text_is_counted_as_often_as_it_is_reached():
    """A list of 100,000 references to one 1 MB string is 1.3 MB pickled and 100 GB formatted: refused by
    the frame's own length (text_limit), where a 1 MB string answered once passes."""
    from scoring.candidate import text_limit

    big = "x" * (1 << 20)
    limit = text_limit(1_300_000)
    assert bounded(big, limit) == "" and bounded([big] * 8, limit) == ""
    assert "bytes of text" in bounded([big] * 100_000, limit)
    assert "bytes of text" in bounded({"k": [b"y" * (1 << 20)] * 50}, limit)


SHARED_TEXT = '''
def rolling_median(values, window):
    return ["x" * (1 << 20)] * 100_000
'''


def test_a_shared_text_answer_is_a_protocol_error(tmp_path):
    """rolling_median's scorer formats a wrong answer with repr(): refused before it reads it."""
    env, _ = load_registry().resolve("rolling_median:tiny")
    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text(SHARED_TEXT)
    result = score_candidate(env, "tiny", Path(folder), timeout_s=60)
    assert not result.valid and result.reason == "protocol_error", (result.reason, result.message)
    assert "bytes of text" in result.message


def test_a_long_int_reached_many_times_counts_its_digits():
    from scoring.candidate import text_limit

    big = (1 << 4000) + 1
    assert bounded([big] * 10, text_limit(600)) == ""
    assert "bytes of text" in bounded([big] * 1_000_000, text_limit(3_000_000))
