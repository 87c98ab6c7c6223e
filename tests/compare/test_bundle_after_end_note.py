"""A note added here to the import of a trial exported before it ended (an `after_end` note: the record has ended
here) is an annotation, not one of the trial's records: a later export of the trial still replaces that import."""

from __future__ import annotations

from compare_helpers import record_trial

from console.compare.bundle import export_trial, import_trial
from console.store.db import open_store
from console.trials.service import TrialService


def test_a_note_on_an_unfinished_import_does_not_block_the_finished_export(sqlite_store, clock, tmp_path):
    trial = record_trial(sqlite_store, clock, scores=[(60, 0.25)], budget=600, end=False)
    mid = export_trial(sqlite_store, trial.id, tmp_path / "mid.zip").path
    here = open_store(None, tmp_path / "dst")
    try:
        copy = import_trial(here, mid)
        assert TrialService(here, None, clock=clock).note(copy.trial_id, "looked at it on import") is True  # after_end

        clock.advance(30)  # the trial goes on there, and ends
        sub = sqlite_store.add_submission(trial.id, clock(), 90, True, raw=-0.5, normalized=0.5, final=True)
        sqlite_store.add_event(trial.id, "score", {"submission": sub.id, "valid": True, "normalized": 0.5},
                               clock(), 90)  # fmt: skip
        sqlite_store.update_trial(trial.id, status="ended", ended_at=clock(), end_reason="submitted", final_score=0.5)
        sqlite_store.add_event(trial.id, "ended", {"reason": "submitted"}, clock(), 90)
        final = import_trial(here, export_trial(sqlite_store, trial.id, tmp_path / "final.zip").path)
        assert final.created and final.replaced and final.trial_id == copy.trial_id
        assert here.trial(copy.trial_id).end_reason == "submitted" and len(here.trials()) == 1
    finally:
        here.close()
