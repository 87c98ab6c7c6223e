"""The Store API on every backend: participants, trials, events, pauses, submissions, calibrations."""

from __future__ import annotations

import math

import pytest

from console.store.errors import StoreError
from console.store.records import EventRecord, ParticipantRecord, PauseRecord, SubmissionRecord, TrialRecord
from environments.model import Calibration


def make_trial(store, environment="env_a", variant="main", created_at=1000.0, name="ann"):
    who = store.participant(name)
    return store.create_trial(environment, variant, who.id, "local", 3600.0, 7200.0, "/tmp/w", created_at)


def test_participant_get_or_create(store):
    ann = store.participant("ann")
    assert isinstance(ann, ParticipantRecord)
    assert (ann.name, ann.kind, ann.model, ann.settings) == ("ann", "human", "", {})
    assert store.participant("ann") == ann
    bot = store.participant("bot", kind="agent", model="gpt-x", settings={"temperature": 0.2})
    assert bot.id != ann.id and bot.settings == {"temperature": 0.2}
    other_model = store.participant("bot", kind="agent", model="gpt-y")
    assert other_model.id != bot.id
    assert store.participant("bot", kind="agent", model="gpt-x", settings={"ignored": 1}) == bot
    assert [p.name for p in store.participants()] == ["ann", "bot", "bot"]
    assert [p.model for p in store.participants(kind="agent")] == ["gpt-x", "gpt-y"]


def test_participant_rejects_bad_input(store):
    with pytest.raises(StoreError, match="kind"):
        store.participant("x", kind="robot")
    with pytest.raises(StoreError, match="name"):
        store.participant("")


def test_create_and_read_trial(store):
    who = store.participant("bot", kind="agent", model="m")
    t = store.create_trial("env_a", "tiny", who.id, "docker", 60, 120, "/w", 5.5, settings={"k": [1, 2]})
    assert isinstance(t, TrialRecord)
    assert (t.status, t.participant, t.participant_kind, t.sandbox) == ("created", "bot", "agent", "docker")
    assert (t.budget_s, t.wall_backstop_s, t.created_at, t.workdir) == (60.0, 120.0, 5.5, "/w")
    assert t.started_at is None and t.ended_at is None and t.final_score is None and t.end_reason == ""
    assert store.trial(t.id) == t


def test_create_trial_needs_participant(store):
    with pytest.raises(StoreError, match="no participant 999"):
        store.create_trial("e", "main", 999, "local", 1, 1, "/w", 0)


def test_missing_trial(store):
    with pytest.raises(StoreError, match="no trial 42"):
        store.trial(42)
    with pytest.raises(StoreError, match="no trial 42"):
        store.update_trial(42, status="running")


def test_trials_newest_first_and_filters(store):
    a1 = make_trial(store, "env_a", created_at=1.0)
    b1 = make_trial(store, "env_b", created_at=2.0)
    a2 = make_trial(store, "env_a", created_at=3.0)
    store.update_trial(a1.id, status="ended")
    assert [t.id for t in store.trials()] == [a2.id, b1.id, a1.id]
    assert [t.id for t in store.trials(environment="env_a")] == [a2.id, a1.id]
    assert [t.id for t in store.trials(status="ended")] == [a1.id]
    assert [t.id for t in store.trials(status="created", environment="env_a")] == [a2.id]
    assert [t.id for t in store.trials(limit=2)] == [a2.id, b1.id]
    assert store.trials(environment="nope") == []


def test_update_trial(store):
    t = make_trial(store)
    t2 = store.update_trial(t.id, status="running", started_at=10.0)
    assert (t2.status, t2.started_at) == ("running", 10.0)
    t3 = store.update_trial(
        t.id, status="ended", ended_at=20.0, end_reason="submitted", final_score=0.75,
        workdir="/new", settings={"x": 1},
    )  # fmt: skip
    assert (t3.status, t3.ended_at, t3.end_reason, t3.final_score) == ("ended", 20.0, "submitted", 0.75)
    assert (t3.workdir, t3.settings, t3.started_at) == ("/new", {"x": 1}, 10.0)
    assert store.trial(t.id) == t3
    assert store.update_trial(t.id) == t3


def test_update_trial_rejects_bad_fields(store):
    t = make_trial(store)
    with pytest.raises(StoreError, match="budget_s"):
        store.update_trial(t.id, budget_s=1)
    with pytest.raises(StoreError, match="status"):
        store.update_trial(t.id, status="exploded")
    assert store.trial(t.id) == t


def test_events_in_order_with_filters(store):
    t = make_trial(store)
    other = make_trial(store, name="bob")
    made = [store.add_event(t.id, kind, {"n": i}, 100.0 + i, float(i)) for i, kind in enumerate("abcab")]
    store.add_event(other.id, "a", {}, 1.0, 0.0)
    assert all(isinstance(e, EventRecord) for e in made)
    assert store.events(t.id) == made
    assert [e.data["n"] for e in store.events(t.id, kinds=["a"])] == [0, 3]
    assert store.events(t.id, after_id=made[2].id) == made[3:]
    assert store.events(t.id, after_id=made[0].id, kinds=("b",), limit=1) == [made[1]]
    assert store.events(t.id, kinds=[]) == []
    assert store.events(12345) == []
    assert store.last_event_id(t.id) == made[-1].id
    assert store.last_event_id(12345) == 0


def test_event_data_round_trips_odd_values(store):
    t = make_trial(store)
    data = {"nested": {"list": [1, 2.5, "x", None, True]}, "nan": math.nan, "inf": -math.inf, "path": object}
    e = store.add_event(t.id, "note", data, 1.0, 0.0)
    (back,) = store.events(t.id)
    assert back.id == e.id
    assert back.data["nested"] == data["nested"]
    assert (back.data["nan"], back.data["inf"]) == ("NaN", "-Infinity")
    assert back.data["path"] == str(object)
    assert store.add_event(t.id, "empty", None, 2.0, 1.0).data == {}


def test_event_for_missing_trial(store):
    with pytest.raises(StoreError, match="no trial 77"):
        store.add_event(77, "note", {}, 1.0, 0.0)


def test_pauses(store):
    t = make_trial(store)
    assert store.open_pause_of(t.id) is None
    assert store.close_pause(t.id, 5.0) is None
    p = store.open_pause(t.id, "human", 10.0, note="coffee")
    assert isinstance(p, PauseRecord) and p.ended_at is None and p.note == "coffee"
    assert store.open_pause_of(t.id) == p
    with pytest.raises(StoreError, match="already has an open pause"):
        store.open_pause(t.id, "scoring", 11.0)
    closed = store.close_pause(t.id, 12.5)
    assert closed == PauseRecord(p.id, t.id, "human", 10.0, 12.5, "coffee")
    assert store.open_pause_of(t.id) is None
    q = store.open_pause(t.id, "scoring", 20.0)
    assert store.close_pause(t.id, 21.0).ended_at == 21.0
    assert store.pauses(t.id) == [closed, PauseRecord(q.id, t.id, "scoring", 20.0, 21.0, "")]


def test_pause_rejects_bad_input(store):
    t = make_trial(store)
    with pytest.raises(StoreError, match="reason"):
        store.open_pause(t.id, "", 1.0)
    with pytest.raises(StoreError, match="no trial 999"):
        store.open_pause(999, "human", 1.0)
    store.open_pause(t.id, "human", 10.0)
    with pytest.raises(StoreError, match="started at 10.0"):
        store.close_pause(t.id, 9.0)
    assert store.open_pause_of(t.id).ended_at is None


def test_pauses_are_per_trial(store):
    a, b = make_trial(store), make_trial(store, name="bob")
    store.open_pause(a.id, "human", 1.0)
    store.open_pause(b.id, "system", 2.0)
    assert store.open_pause_of(a.id).reason == "human"
    assert store.close_pause(b.id, 3.0).reason == "system"
    assert store.open_pause_of(a.id) is not None


def test_submissions(store):
    t = make_trial(store)
    cal = Calibration(2.0, 1.0, "measured", "box", "abc", "2026-01-01T00:00:00")
    s1 = store.add_submission(
        t.id, 50.0, 40.0, True, raw=1.5, normalized=0.5, message="ok", details={"ms": 4.5},
        calibration=cal, duration_s=3.25, snapshot="a" * 64,
    )  # fmt: skip
    s2 = store.add_submission(t.id, 60.0, 45.0, False, message="crashed", reason="timeout", final=True)
    assert isinstance(s1, SubmissionRecord)
    assert s1.calibration == cal.as_dict() and s1.details == {"ms": 4.5} and not s1.final
    assert (s2.valid, s2.raw, s2.normalized, s2.reason, s2.final) == (False, None, None, "timeout", True)
    assert store.submissions(t.id) == [s1, s2]
    s3 = store.add_submission(t.id, 70.0, 50.0, False, raw=math.nan, calibration={"start": 1})
    assert s3.raw is None and store.submissions(t.id)[-1] == s3
    with pytest.raises(StoreError, match="no trial 31"):
        store.add_submission(31, 1.0, 1.0, True)


def test_calibrations_latest_measured_wins(store):
    old = Calibration(3.0, 1.0, "measured", "box", "fp1", "2026-01-01T10:00:00+00:00", "d1")
    new = Calibration(2.9, 1.1, "measured", "box", "fp1", "2026-01-02T10:00:00+00:00", "d1")
    other = Calibration(5.0, 4.0, "measured", "gpu box", "fp2", "2026-01-01T00:00:00+00:00", "d1")
    assert store.find_calibration("env", "main", "fp1", "d1") is None
    assert store.save_calibration("env", "main", new).calibration == new
    kept = store.save_calibration("env", "main", old)  # measured earlier: the newer one stays
    assert kept.calibration == new
    assert store.find_calibration("env", "main", "fp1", "d1") == new
    newest = Calibration(2.8, 1.2, "measured", "box", "fp1", "2026-01-03T10:00:00+00:00", "d1")
    store.save_calibration("env", "main", newest)
    assert store.find_calibration("env", "main", "fp1", "d1") == newest
    store.save_calibration("env", "main", other)
    store.save_calibration("env", "tiny", newest.as_dict())
    store.save_calibration("env2", "main", other)
    assert store.find_calibration("env", "tiny", "fp1", "d1") == newest
    assert store.find_calibration("env", "main", "fp3", "d1") is None
    listed = store.calibrations("env")
    assert [(c.variant, c.calibration.fingerprint) for c in listed].count(("main", "fp1")) == 1
    assert {(c.environment, c.variant) for c in listed} == {("env", "main"), ("env", "tiny")}
    assert len(store.calibrations()) == 4
    with pytest.raises(StoreError, match="not a calibration"):
        store.save_calibration("env", "main", 42)


def test_calibration_is_found_only_under_its_digest_and_a_fresh_one_replaces_a_stale_one(store):
    timed_d = Calibration(3.0, 1.0, "measured", "box", "fp1", "2026-01-05T10:00:00+00:00", "d" * 16)
    store.save_calibration("env", "main", timed_d)
    assert store.find_calibration("env", "main", "fp1", "d" * 16) == timed_d
    assert store.find_calibration("env", "main", "fp1", "e" * 16) is None  # stale under the current code
    # measured on the new code, even with an earlier clock: it replaces the stale row
    timed_e = Calibration(2.0, 0.5, "measured", "box", "fp1", "2026-01-01T10:00:00+00:00", "e" * 16)
    assert store.save_calibration("env", "main", timed_e).calibration == timed_e
    assert store.find_calibration("env", "main", "fp1", "e" * 16) == timed_e
    assert store.find_calibration("env", "main", "fp1", "d" * 16) is None
    assert [r.calibration for r in store.calibrations("env")] == [timed_e]


def test_store_repr_and_context_manager(store):
    assert store.backend in ("sqlite", "postgresql")
    assert "Store(" in repr(store)
    with store as same:
        assert same is store
