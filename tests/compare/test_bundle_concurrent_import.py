"""Two imports of one trial file (or one Inspect log) at the same time write it once: whether the database holds
it is decided inside the write transaction, with other imports kept out (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from compare_helpers import record_trial

from console.compare import bundle_identity
from console.compare.bundle import export_trial, import_trial
from console.compare.inspect_log import import_inspect
from console.store.db import open_store

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
INSPECT_LOG = Path(__file__).parent / "fixtures" / "inspect_sum_env.json"


@pytest.fixture
def two_stores(request, tmp_path):
    """Two Store objects (two engines, as two `rearena import` processes have) on one new database."""

    def make(backend):
        if backend == "sqlite":
            first = open_store(None, tmp_path / "dst")
        else:
            first = request.getfixturevalue("pg_store")
        url = first.engine.url.render_as_string(hide_password=False)
        second = open_store(url, first.data_dir)
        opened.extend([first, second] if backend == "sqlite" else [second])
        return first, second

    opened = []
    yield make
    for store in opened:
        store.close()


@pytest.fixture
def trial_file(sqlite_store, clock, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "solution.py").write_text("def total(v):\n    return sum(v)\n")
    trial = record_trial(sqlite_store, clock, scores=[(60, 0.25), (600, None)], pauses={300: 60},
                         workdir=str(work))  # fmt: skip
    sqlite_store.snapshot_dir(work, trial_id=trial.id, at=clock())
    return export_trial(sqlite_store, trial.id, tmp_path / "t.zip").path


def _race_after_first_look(monkeypatch, store, other_import):
    """Make `other_import` run to its end right after `store` first lists trials (where an import looks for the
    trial it brings): another process's import of the same file, finishing meanwhile."""
    real, raced = store.trials, []

    def trials_then_the_other_import(*args, **kwargs):
        found = real(*args, **kwargs)
        if not raced:
            raced.append(other_import())
        return found

    monkeypatch.setattr(store, "trials", trials_then_the_other_import)
    return raced


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_import_finishing_while_another_checks_is_not_written_twice(backend, two_stores, trial_file,
                                                                       monkeypatch):  # fmt: skip
    store, other = two_stores(backend)
    raced = _race_after_first_look(monkeypatch, store, lambda: import_trial(other, trial_file))
    result = import_trial(store, trial_file)
    assert raced and raced[0].created
    assert not result.created and result.trial_id == raced[0].trial_id
    assert [t.id for t in other.trials()] == [raced[0].trial_id]


@pytest.mark.parametrize("backend", BACKENDS)
def test_imports_at_once_wait_for_each_other_and_write_the_trial_once(backend, two_stores, trial_file,
                                                                      monkeypatch):  # fmt: skip
    """The first import stops inside its write transaction, having found nothing: the second must wait for it
    (without the lock both find nothing and both write)."""
    first_store, second_store = two_stores(backend)
    inside, go = threading.Event(), threading.Event()
    real_decide = bundle_identity.decide

    def decide_then_wait(reader, content, *rest):
        verdict = real_decide(reader, content, *rest)
        if reader is not first_store and threading.current_thread().name == "first":  # inside the transaction
            inside.set()
            go.wait(20)
        return verdict

    monkeypatch.setattr(bundle_identity, "decide", decide_then_wait)
    results, errors = {}, []

    def run(name, store):
        try:
            results[name] = import_trial(store, trial_file)
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)

    first = threading.Thread(target=run, args=("first", first_store), name="first")
    second = threading.Thread(target=run, args=("second", second_store), name="second")
    first.start()
    assert inside.wait(20)
    second.start()
    second.join(1.5)
    waited = second.is_alive()
    go.set()
    first.join(30)
    second.join(30)
    assert not errors
    assert waited, "the second import did not wait for the first one's transaction"
    assert results["first"].created and not results["second"].created
    assert results["second"].trial_id == results["first"].trial_id
    assert len(second_store.trials()) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_inspect_imports_at_once_write_each_sample_once(backend, two_stores, monkeypatch):
    store, other = two_stores(backend)
    raced = _race_after_first_look(monkeypatch, store, lambda: import_inspect(other, INSPECT_LOG))
    results = import_inspect(store, INSPECT_LOG)
    assert raced and all(r.created for r in raced[0])
    assert [(r.trial_id, r.created) for r in results] == [(r.trial_id, False) for r in raced[0]]
    assert len(other.trials()) == len(results) == 2
