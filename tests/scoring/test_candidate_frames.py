"""The scorer checks every frame on a candidate's answer channel (scoring/candidate.py _check_answer):
a frame of the wrong length or types is a protocol error, never a crash of the scorer, and what of an
exception or complaint reaches the verdict is capped. A red-team review sent ("missing",) (an
IndexError in the scorer) and an exception class with a 70 MB name (a verdict too large to report)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scoring.candidate import CandidateProcess
from scoring.errors import CandidateMissingEntry, CandidateProtocolError, CandidateRaised


def _start(folder: Path, source: str) -> CandidateProcess:
    folder.mkdir()
    (folder / "solution.py").write_text(textwrap.dedent(source))
    return CandidateProcess(folder, "solution.py", "f", memory_mb=1024, output_cap_bytes=1 << 20,
                            startup_timeout_s=30)


@pytest.mark.parametrize("frame", [
    '("missing",)', '("missing", 5)', '("memory",)', '("memory", None)', '("raised", "E")',
    '("raised", 1, "message", "traceback")', '("raised", "E", "m", "t", "extra")', '("forbidden",)',
    '(10 ** 5000, "a huge number as the kind")', '(["a", "list"],)',
])
def test_a_malformed_frame_at_start_is_a_protocol_error(tmp_path, frame):
    source = f"""
        import __main__
        __main__._send({frame})
        def f():
            return 1
    """
    with pytest.raises(CandidateProtocolError) as caught:
        _start(tmp_path / "cand", source)
    assert len(caught.value.message) < 300, caught.value.message


def test_a_long_missing_message_is_capped(tmp_path):
    source = """
        import __main__
        __main__._send(("missing", "x" * 1_000_000))
        def f():
            return 1
    """
    with pytest.raises(CandidateMissingEntry) as caught:
        _start(tmp_path / "cand", source)
    assert len(caught.value.message) < 2100, len(caught.value.message)


def test_an_exception_with_a_huge_name_message_and_traceback_is_capped(tmp_path):
    source = """
        Huge = type("E" * 1_000_000, (Exception,), {})
        def f():
            raise Huge("x")
    """
    proc = _start(tmp_path / "cand", source)
    try:
        with pytest.raises(CandidateRaised) as caught:
            proc.call(timeout=30)
    finally:
        proc.close()
    message, tail = caught.value.message, caught.value.details["traceback"]
    assert message.startswith("the candidate raised EEE") and message.endswith(": x"), message[-100:]
    assert len(message) < 2500 and len(tail) < 4100, (len(message), len(tail))


def test_a_malformed_frame_during_a_call_is_a_protocol_error(tmp_path):
    source = """
        import __main__
        def f():
            __main__._send(("raised", ["not", "a", "name"], "m", "t"))
            return 1
    """
    proc = _start(tmp_path / "cand", source)
    try:
        with pytest.raises(CandidateProtocolError):
            proc.call(timeout=30)
    finally:
        proc.close()


def test_a_raw_call_is_counted_and_timed_and_its_frame_decodes_after(tmp_path):
    """call_raw (the kernel peer's timed window) returns the frame undecoded; the call still counts in
    calls and call_seconds (the result's candidate_seconds: it read 0 for triton_cumsum once)."""
    proc = _start(tmp_path / "cand", """
        import time
        def f(x):
            time.sleep(0.05)
            return {"twice": 2 * x}
    """)
    try:
        frame = proc.call_raw(21, timeout=30)
        assert isinstance(frame, bytes) and proc.calls == 1 and proc.call_seconds >= 0.05
        assert proc.answer_of(frame) == {"twice": 42}
    finally:
        proc.close()
