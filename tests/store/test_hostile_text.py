"""Text from candidates, agents and shells is recorded on every backend, cleaned, never refused: a lone
surrogate (no UTF-8 for it), a NUL (PostgreSQL's text refuses it), tuple keys and huge ints in JSON."""

from __future__ import annotations

import json

import pytest

from console.store.clean import NUL_SIGN, REPLACEMENT
from console.store.service import MESSAGE_CHARS

BAD = "bad \ud800 value\x00 [/red]"
CLEAN = f"bad {REPLACEMENT} value{NUL_SIGN} [/red]"


def make_trial(store, name="ann"):
    who = store.participant(name)
    return store.create_trial("env_a", "main", who.id, "local", 3600.0, 7200.0, "/tmp/w", 1000.0)


@pytest.mark.parametrize("message, shown", [("bad\x00value", f"bad{NUL_SIGN}value"),  # PostgreSQL refused it
                                            ("bad \ud800 value", f"bad {REPLACEMENT} value")])  # both refused it
def test_a_message_with_a_nul_or_a_lone_surrogate_is_recorded(store, message, shown):
    trial = make_trial(store)
    sub = store.add_submission(trial.id, 2.0, 2.0, False, message=message, reason="candidate_exception",
                               details={"traceback": message})
    got = store.submissions(trial.id)
    assert [(s.id, s.message, s.details) for s in got] == [(sub.id, shown, {"traceback": shown})]


def test_a_submission_with_unencodable_text_is_recorded_cleaned(store):
    trial = make_trial(store)
    before = store.add_submission(trial.id, 1.0, 1.0, True, raw=-7.0, normalized=0.5, message="fine")
    sub = store.add_submission(
        trial.id, 2.0, 2.0, False, message=BAD, reason="candidate_\ud800exception",
        details={"traceback": BAD, BAD: [BAD, (1, BAD)], (1, 2): "tuple key", "big": 10 ** 5000,
                 "nan": float("nan"), "nested": {"\x00": {"deep": BAD}}},
    )
    assert sub.message == CLEAN and sub.reason == f"candidate_{REPLACEMENT}exception"
    stored = store.submissions(trial.id)
    assert stored[0] == before  # nothing recorded before is touched
    got = stored[1]
    assert got.id == sub.id and got.message == CLEAN and got.reason == sub.reason
    assert got.details["traceback"] == CLEAN and got.details[CLEAN] == [CLEAN, [1, CLEAN]]
    assert got.details["(1, 2)"] == "tuple key" and got.details["big"].startswith("<an int of")
    assert got.details["nan"] == "NaN" and got.details["nested"] == {NUL_SIGN: {"deep": CLEAN}}
    json.dumps(got.details, ensure_ascii=False).encode("utf-8")


def test_a_huge_message_is_cut_not_refused(store):
    trial = make_trial(store)
    sub = store.add_submission(trial.id, 1.0, 1.0, False, message="E" * 5_000_000 + " the end")
    got = store.submissions(trial.id)[0]
    assert got.message == sub.message and len(got.message) <= MESSAGE_CHARS
    assert got.message.endswith(" the end") and "characters cut" in got.message


def test_events_pauses_and_names_with_unencodable_text_are_recorded(store):
    who = store.participant("ada\udcff\x00")  # e.g. argv bytes that are not UTF-8 (surrogateescape)
    assert who.name == f"ada{REPLACEMENT}{NUL_SIGN}" and store.participant("ada\udcff\x00").id == who.id
    trial = store.create_trial("env_a", "main", who.id, "local", 3600.0, 7200.0, "/tmp/w", 1000.0)
    first = store.add_event(trial.id, "note", {"text": "fine"}, 1.0, 1.0)
    store.add_event(trial.id, "tool_output", {"output": BAD, BAD: 1, (1, 2): 10 ** 5000}, 2.0, 2.0)
    store.add_event(trial.id, "model_response", {"content": "emoji \U0001f600 stays"}, 3.0, 3.0)
    events = store.events(trial.id)
    assert events[0] == first
    assert events[1].data["output"] == CLEAN and events[1].data[CLEAN] == 1
    assert events[1].data["(1, 2)"].startswith("<an int of")
    assert events[2].data["content"] == "emoji \U0001f600 stays"
    assert [e.data for e in store.events_bulk(trial.id)] == [e.data for e in events]
    pause = store.open_pause(trial.id, "lunch\ud800", 4.0, note="back \x00 soon")
    assert pause.reason == f"lunch{REPLACEMENT}" and store.open_pause_of(trial.id).note == f"back {NUL_SIGN} soon"
    ended = store.update_trial(trial.id, status="ended", end_reason="why\ud800")
    assert ended.end_reason == f"why{REPLACEMENT}" and store.trial(trial.id).end_reason == ended.end_reason
