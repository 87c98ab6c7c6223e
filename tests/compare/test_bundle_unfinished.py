"""A trial exported before it ended is imported as a record that nothing ends, scores or snapshots (its clock
does not run in the other database, its workdir there is none), and a later export of it replaces that record."""

from __future__ import annotations

import pytest
from compare_helpers import record_trial

from console.compare.bundle import BundleError, content_digest, export_trial, import_trial, trial_content
from console.compare.bundle_identity import UNFINISHED_KEY, UNFINISHED_REASON, original_content
from console.store.db import open_store
from console.trials.service import TrialError, TrialService

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def running(sqlite_store, clock, tmp_path):
    """(source store, trial id, its workdir): a trial with a score and a pause, paused (lunch) right now."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "solution.py").write_text("def total(v):\n    return sum(v)\n")
    trial = record_trial(sqlite_store, clock, scores=[(60, 0.25), (120, None)], pauses={30: 20}, budget=600,
                         end=False, workdir=str(work))  # fmt: skip
    sqlite_store.snapshot_dir(work, trial_id=trial.id, at=clock())
    clock.advance(5)
    sqlite_store.open_pause(trial.id, "human", clock(), note="lunch")
    sqlite_store.update_trial(trial.id, status="paused")
    sqlite_store.add_event(trial.id, "paused", {"reason": "human", "note": "lunch"}, clock(), 125)
    return sqlite_store, trial.id, work


@pytest.fixture
def target(request, tmp_path):
    def make(backend):
        if backend == "postgres":
            return request.getfixturevalue("pg_store")
        store = open_store(None, tmp_path / "dst")
        request.addfinalizer(store.close)
        return store

    return make


def _finish(store, trial_id, clock):
    """The participant comes back from lunch, scores once more and submits."""
    clock.advance(600)
    store.close_pause(trial_id, clock())
    store.update_trial(trial_id, status="running")
    store.add_event(trial_id, "resumed", {"reason": "human", "paused_s": 600.0}, clock(), 125)
    clock.advance(30)
    sub = store.add_submission(trial_id, clock(), 155, True, raw=-2.0, normalized=0.5, final=True)
    store.add_event(trial_id, "score", {"submission": sub.id, "valid": True, "normalized": 0.5}, clock(), 155)
    store.update_trial(trial_id, status="ended", ended_at=clock(), end_reason="submitted", final_score=0.5)
    store.add_event(trial_id, "ended", {"reason": "submitted"}, clock(), 155)


def test_an_unfinished_trial_is_imported_as_a_record_that_nothing_ends_or_snapshots(running, target, clock,
                                                                                   tmp_path):  # fmt: skip
    source, trial_id, work = running
    exported_at = clock()
    mid = export_trial(source, trial_id, tmp_path / "mid.zip").path
    here = target("sqlite")
    result = import_trial(here, mid)
    assert result.created and not result.replaced
    copy = here.trial(result.trial_id)
    assert (copy.status, copy.end_reason, copy.workdir) == ("ended", UNFINISHED_REASON, "")
    assert copy.ended_at == exported_at  # its last recorded instant: the pause's start
    assert here.open_pause_of(copy.id) is None and here.pauses(copy.id)[-1].ended_at == exported_at
    kept = copy.settings[UNFINISHED_KEY]
    assert kept == {"status": "paused", "ended_at": None, "end_reason": "", "workdir": str(work), "open_pause": 1}
    # nothing recorded is lost: the file's content comes back exactly from the record
    assert content_digest(original_content(trial_content(here, copy.id))) == content_digest(
        trial_content(source, trial_id))
    # days later, reading, ending or scoring it in this database changes nothing (its budget and backstop long
    # passed), and the source's workdir, changed since, is never snapshotted into it
    (work / "notes.txt").write_text("secret work in progress")
    before = trial_content(here, copy.id)
    service = TrialService(here, None, clock=lambda: exported_at + 3 * 86400)
    status = service.status(copy.id)
    assert status.trial.status == "ended" and status.active_s == pytest.approx(_active_until_export(here, copy.id))
    service.check_limits(copy.id)
    service.end(copy.id, "budget")
    with pytest.raises(TrialError, match="has ended"):
        service.score(copy.id)
    with pytest.raises(TrialError, match="no workdir"):
        service.snapshot(copy.id)
    assert trial_content(here, copy.id) == before  # no event, pause, end or snapshot added


def _active_until_export(store, trial_id):
    """The copy's active time: from its start to its last recorded instant, pauses left out."""
    trial = store.trial(trial_id)
    paused = sum(p.ended_at - p.started_at for p in store.pauses(trial_id))
    return trial.ended_at - trial.started_at - paused


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_finished_trial_replaces_the_copy_of_its_unfinished_export(running, target, clock, tmp_path, backend):
    source, trial_id, _ = running
    mid = export_trial(source, trial_id, tmp_path / "mid.zip").path
    here = target(backend)
    copy = import_trial(here, mid)
    _finish(source, trial_id, clock)
    final = export_trial(source, trial_id, tmp_path / "final.zip").path
    result = import_trial(here, final)
    assert result.created and result.replaced and result.trial_id == copy.trial_id
    assert [t.id for t in here.trials()] == [copy.trial_id]
    assert content_digest(trial_content(here, copy.trial_id)) == content_digest(trial_content(source, trial_id))
    assert here.trial(copy.trial_id).end_reason == "submitted"
    assert [s.normalized for s in here.submissions(copy.trial_id)] == [0.25, None, 0.5]
    # the final file again, or the earlier export: the database holds them (all of the earlier one, and more)
    for path in (final, mid):
        again = import_trial(here, path)
        assert not again.created and again.trial_id == copy.trial_id
    assert content_digest(trial_content(here, copy.trial_id)) == content_digest(trial_content(source, trial_id))
    # and the earlier export, brought back to the source, finds the trial that went on there
    back = import_trial(source, mid)
    assert not back.created and back.trial_id == trial_id and len(source.trials()) == 1


def test_a_copy_of_an_unfinished_export_travels_on_and_is_replaced_there_too(running, target, clock, tmp_path):
    source, trial_id, _ = running
    here = target("sqlite")
    copy = import_trial(here, export_trial(source, trial_id, tmp_path / "mid.zip").path)
    onward = export_trial(here, copy.trial_id, tmp_path / "onward.zip").path
    third = open_store(None, tmp_path / "third")
    try:
        there = import_trial(third, onward)
        assert there.created and third.trial(there.trial_id).end_reason == UNFINISHED_REASON
        assert not import_trial(third, onward).created
        _finish(source, trial_id, clock)
        final = import_trial(third, export_trial(source, trial_id, tmp_path / "final.zip").path)
        assert final.replaced and final.trial_id == there.trial_id and len(third.trials()) == 1
        assert content_digest(trial_content(third, there.trial_id)) == content_digest(trial_content(source, trial_id))
    finally:
        third.close()


def test_a_copy_changed_here_is_not_replaced_and_the_refusal_says_why(running, target, clock, tmp_path):
    source, trial_id, _ = running
    mid = export_trial(source, trial_id, tmp_path / "mid.zip").path
    here = target("sqlite")
    copy = import_trial(here, mid)
    here.add_event(copy.trial_id, "note", {"text": "read and annotated here"}, clock(), 0.0)
    before = trial_content(here, copy.trial_id)
    _finish(source, trial_id, clock)
    final = export_trial(source, trial_id, tmp_path / "final.zip").path
    with pytest.raises(BundleError, match=f"trial {copy.trial_id} in this database is an import of this trial "
                                          "exported before it ended"):  # fmt: skip
        import_trial(here, final)
    assert trial_content(here, copy.trial_id) == before and len(here.trials()) == 1


def test_the_commands_say_what_an_unfinished_export_becomes(running, clock, tmp_path, capsys):
    """`rearena export` of a running trial says what the file becomes elsewhere; `rearena import` of its final
    export says that it replaced the earlier import."""
    from console.cli import main

    source, trial_id, _ = running
    source_db = f"sqlite:///{source.data_dir / 'rearena.db'}"
    other_db = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["--db", source_db, "export", str(trial_id), str(tmp_path / "mid.zip")]) == 0
    assert "has not ended" in capsys.readouterr().err
    assert main(["--db", other_db, "import", str(tmp_path / "mid.zip")]) == 0
    capsys.readouterr()
    _finish(source, trial_id, clock)
    assert main(["--db", source_db, "export", str(trial_id), str(tmp_path / "final.zip")]) == 0
    assert "has not ended" not in capsys.readouterr().err
    assert main(["--db", other_db, "import", str(tmp_path / "final.zip")]) == 0
    assert "replacing its earlier import" in capsys.readouterr().out
