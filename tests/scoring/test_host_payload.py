"""The scorer's process signs whatever a scorer returns: odd text and odd values in the message and
details are cleaned and bounded (scoring.payload), never a lost verdict (scorer_died) or a crash later."""

from __future__ import annotations

import dataclasses
import json
import textwrap
import time

import pytest

from scoring.channel import sign, verify
from scoring.payload import DETAIL_CHARS, MESSAGE_CHARS, PAYLOAD_BYTES, as_dict, safe_payload
from scoring.runner import score_candidate

NASTY_SCORER = '''
def score(ctx):
    dag = [0]
    for _ in range(60):  # 2**60 paths through 60 shared lists
        dag = [dag, dag]
    loop = {}
    loop["me"] = loop
    return {"raw": -7.0, "message": "measured \\ud800 fine\\x00 " + "m" * 50_000, "details": {
        (1, 2): "a tuple key",
        "big": 10 ** 5000,
        "text": "bad \\ud800 value\\x00end",
        "\\ud800key": 1,
        "huge": "x" * 60_000_000,
        "nan": float("nan"),
        "dag": dag,
        "loop": loop,
        "many": list(range(3_000_000)),
        "obj": object(),
    }}
'''


def assert_storable(value):
    """Every string in the value (keys too) is valid UTF-8 without NUL."""
    text = json.dumps(value, ensure_ascii=False)
    text.encode("utf-8")  # raises on a lone surrogate
    assert "\x00" not in text


def test_safe_payload_cleans_and_bounds_everything():
    nested = []
    for _ in range(1000):
        nested = [nested]
    payload = {"valid": False, "reason": "wrong\ud800", "message": "E" * 30_000_000 + " \ud800\x00 tail",
               "details": {(1, 2): {3: "v"}, "big": -(10 ** 5000), "s": "a\ud800b\x00c", "nested": nested,
                           "blob": "y" * 10_000_000, "set": {1}, "candidate_seconds": 0.5}}
    began = time.monotonic()
    out = safe_payload(payload)
    assert time.monotonic() - began < 5
    line = sign(b"key", "nonce", out)  # the channel signs it: no TypeError, no ValueError
    assert len(line) <= PAYLOAD_BYTES + 200
    assert verify(b"key", "nonce", line) == out
    assert_storable(out)
    assert out["valid"] is False and out["reason"] == "wrong\ufffd"
    assert len(out["message"]) <= MESSAGE_CHARS and out["message"].endswith("\ufffd\u2400 tail")
    assert "characters cut" in out["message"]
    details = out["details"]
    assert details["(1, 2)"] == {"3": "v"} and details["s"] == "a\ufffdb\u2400c"
    assert details["big"] == "<an int of 16,610 bits>" and details["set"] == [1]
    assert details["candidate_seconds"] == 0.5 and len(details["blob"]) <= DETAIL_CHARS


async def _none():  # a coroutine object is not JSON either
    return None


def test_safe_payload_never_raises_on_objects_that_refuse_to_be_read():
    class Hostile:
        def __repr__(self):
            raise RuntimeError("no")

        __str__ = __repr__

    coroutine = _none()
    out = safe_payload({"valid": True, "raw": 1.0, "message": Hostile(), "details": {Hostile(): Hostile(),
                                                                                    "c": coroutine}})
    coroutine.close()
    sign(b"k", "n", out)
    assert out["message"] == "<Hostile>" and out["details"]["<Hostile>"] == "<Hostile>"
    assert as_dict("not a dict") == {"details": "not a dict"} and as_dict(None) == {}


def test_a_scorer_returning_odd_details_still_gets_its_verdict(sum_env, tmp_path):
    """Before: json.dumps failed twice on the tuple key in scoring.host.main, the verdict was scorer_died
    and every detail was lost. Now the score stands and the details come back cleaned and bounded."""
    scorer = tmp_path / "nasty_scorer.py"
    scorer.write_text(NASTY_SCORER)
    env = dataclasses.replace(sum_env, scorer=scorer)
    result = score_candidate(env, "tiny", sum_env.starting_dir, timeout_s=60)
    assert result.valid, (result.reason, result.message)
    assert result.raw == -7.0
    assert result.message.startswith("measured \ufffd fine\u2400 ") and len(result.message) <= MESSAGE_CHARS
    details = result.details
    assert details["(1, 2)"] == "a tuple key" and details["text"] == "bad \ufffd value\u2400end"
    assert details["\ufffdkey"] == 1 and details["big"].startswith("<an int of")
    assert details["nan"] is None and "object object" in details["obj"]
    assert len(json.dumps(details)) <= PAYLOAD_BYTES
    assert "candidate_seconds" in details
    assert_storable(result.as_dict())


def test_a_candidate_exception_with_a_surrogate_and_a_nul_is_reported_cleanly(sum_env, tmp_path):
    cand = tmp_path / "cand"
    cand.mkdir()
    (cand / "solution.py").write_text(textwrap.dedent('''
        def total(values):
            raise ValueError("bad \\ud800 value\\x00 [/red]")
    '''))
    result = score_candidate(sum_env, "tiny", cand, timeout_s=30)
    assert not result.valid and result.reason == "candidate_exception"
    assert "bad \ufffd value\u2400 [/red]" in result.message
    assert_storable(result.as_dict())


def test_what_the_scorer_returned_is_checked_by_type_and_named():
    """A bare number is named in the message (it said only "returned no raw score"); a bool is no raw score
    (True scored 1.0), nor an int past a float's range (math.isfinite raised OverflowError)."""
    from scoring.errors import Invalid
    from scoring.host import _check_output

    with pytest.raises(Invalid) as bare:
        _check_output(-1.0)
    assert "got -1.0 (float)" in bare.value.message and "expected a dict with 'raw'" in bare.value.message
    assert bare.value.reason == "scorer_error"
    for raw in (True, 10 ** 400, float("nan"), "1.0"):
        with pytest.raises(Invalid) as bad:
            _check_output({"raw": raw})
        assert bad.value.reason == "no_score", raw
    assert _check_output({"raw": 3})["raw"] == 3.0
