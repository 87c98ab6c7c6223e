"""A trial exported before it ended keeps, once imported, the active time it had reached at its export: the file
records when it was exported (and the active time then), and the import ends the record at that moment, within the
trial's budget and backstop. A file written before exports recorded it is imported as before (ended at its last
recorded instant); a later export of the same records replaces the earlier import."""

from __future__ import annotations

import json
import time
import zipfile

import pytest
from compare_helpers import record_trial

from console.cli import main
from console.compare.bundle import BundleError, export_trial, import_trial
from console.compare.bundle_identity import UNFINISHED_REASON
from console.compare.groups import load_groups
from console.compare.report import build_report, cells_at
from console.store.db import open_store
from console.trials.clock import active_seconds
from console.trials.service import TrialService

H = 3600.0


def _active(store, trial_id):
    trial = store.trial(trial_id)
    return active_seconds(trial.started_at, trial.ended_at, store.pauses(trial_id), trial.ended_at)


@pytest.fixture
def other(tmp_path):
    store = open_store(None, tmp_path / "other")
    yield store
    store.close()


def _running(store, clock, budget=H):
    """A person's trial that scored once at 60 s of active time and has recorded nothing since."""
    return record_trial(store, clock, "bob", scores=[(60, 0.4)], budget=budget, end=False)


def test_the_walkthrough_export_and_import_keep_the_active_time_reached(cli_store, registry, tmp_path, capsys):
    """`rearena export` of a running trial on the real clock, `rearena import` elsewhere: its active time there is
    what it had reached at the export (it was its last event's time: when it started)."""
    service = TrialService(cli_store, registry)
    trial = service.create("sum_env:tiny", "bob", budget_s=H, start=True)
    time.sleep(2.0)  # working, recording nothing
    reached = service.active_time(trial.id)
    assert main(["export", str(trial.id), str(tmp_path / "t.zip")]) == 0
    assert "0:00:02 of active time so far" in capsys.readouterr().err
    other_db = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["--db", other_db, "import", str(tmp_path / "t.zip")]) == 0
    assert "record of the 0:00:02 of active time it had reached then" in " ".join(capsys.readouterr().out.split())
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["active_s_at_export"] == pytest.approx(reached, abs=0.5)
    there = open_store(other_db, tmp_path / "other-data")
    try:
        copy = there.trials()[0]
        assert copy.end_reason == UNFINISHED_REASON and copy.ended_at == manifest["exported_at"]
        assert _active(there, copy.id) == pytest.approx(manifest["active_s_at_export"]) and _active(there, copy.id) >= 2
    finally:
        there.close()


def test_a_paused_trial_keeps_the_active_time_it_had_when_its_pause_began(sqlite_store, other, clock, tmp_path):
    trial = _running(sqlite_store, clock)
    clock.advance(400)  # 400 s more of work, nothing recorded
    sqlite_store.open_pause(trial.id, "human", clock(), note="lunch")
    sqlite_store.update_trial(trial.id, status="paused")
    clock.advance(1000)  # at lunch when exported
    result = export_trial(sqlite_store, trial.id, tmp_path / "t.zip", clock=clock)
    assert (result.exported_at, result.active_s) == (clock(), 460.0)
    copy = import_trial(other, result.path).trial_id
    assert other.trial(copy).ended_at == clock() and _active(other, copy) == pytest.approx(460.0)
    assert other.pauses(copy)[-1].ended_at == clock()  # the lunch closed at the export
    assert TrialService(other, None, clock=lambda: clock() + 86400).status(copy).active_s == pytest.approx(460.0)


def test_the_record_ends_where_the_budget_ran_out_when_nothing_had_ended_it(sqlite_store, other, clock, tmp_path):
    trial = _running(sqlite_store, clock, budget=600)
    clock.advance(3 * H)  # nobody looked: nothing ended it by budget
    copy = import_trial(other, export_trial(sqlite_store, trial.id, tmp_path / "t.zip", clock=clock).path).trial_id
    assert _active(other, copy) == pytest.approx(600.0)
    assert other.trial(copy).ended_at == pytest.approx(trial.started_at + 600)


def test_a_file_without_an_export_time_is_imported_as_before(sqlite_store, other, clock, tmp_path):
    trial = _running(sqlite_store, clock)
    last = clock()
    clock.advance(400)
    path = export_trial(sqlite_store, trial.id, tmp_path / "new.zip", clock=clock).path
    old = tmp_path / "old.zip"  # as rearena wrote it before exports recorded their time
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":
                manifest = json.loads(data)
                del manifest["exported_at"], manifest["active_s_at_export"]
                data = json.dumps(manifest).encode()
            dst.writestr(name, data)
    copy = import_trial(other, old).trial_id
    assert other.trial(copy).ended_at == last and _active(other, copy) == pytest.approx(60.0)
    # the file with the export time continues that import: the same records, caught 400 s later
    result = import_trial(other, path)
    assert result.created and result.replaced and result.trial_id == copy
    assert _active(other, copy) == pytest.approx(460.0) and len(other.trials()) == 1
    assert not import_trial(other, path).created and not import_trial(other, old).created  # nothing newer
    assert _active(other, copy) == pytest.approx(460.0)


@pytest.mark.parametrize("bad", ["soon", None, float("inf")], ids=["text", "nan", "inf"])
def test_an_export_time_that_is_not_a_number_is_refused(sqlite_store, other, clock, tmp_path, bad):
    trial = _running(sqlite_store, clock)
    path = export_trial(sqlite_store, trial.id, tmp_path / "t.zip", clock=clock).path
    bad_path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad_path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":
                # JSON has no NaN or infinity; Python's json writes and reads them
                data = json.dumps(json.loads(data) | {"exported_at": float("nan") if bad is None else bad}).encode()
            dst.writestr(name, data)
    with pytest.raises(BundleError, match="manifest.exported_at should be a number"):
        import_trial(other, bad_path)
    assert other.trials() == []


def test_include_running_uses_the_active_time_reached_at_export(sqlite_store, other, clock, tmp_path):
    record_trial(sqlite_store, clock, "ada", scores=[(0.5 * H, 0.6)], budget=2 * H)
    bob = record_trial(sqlite_store, clock, "bob", scores=[(60, 0.4)], budget=2 * H, end=False)
    clock.advance(H)  # an hour of work since its last event
    for trial_id, name in ((1, "ada"), (bob.id, "bob")):
        import_trial(other, export_trial(sqlite_store, trial_id, tmp_path / f"{name}.zip", clock=clock).path)
    groups, _ = load_groups(other, "sum_env", include_running=True)
    assert [c.usable_s for c in groups[0].trials] == [2 * H, pytest.approx(H + 60)]
    humans = build_report("sum_env", groups)["groups"][0]
    assert cells_at(humans, 2 * H)[2]["n"] == 2  # T/k = 1 h: bob reached it before he was exported
    assert cells_at(humans, 2 * H)[2]["mean"] == pytest.approx(0.6)
