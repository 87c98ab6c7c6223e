"""An Inspect sample whose model calls all failed never got its chance: its errored model events are api_error
events, not model responses, so the report leaves it out as a failed run instead of counting a 0."""

import copy
import json
from pathlib import Path

from console.compare.groups import load_groups
from console.compare.inspect_log import import_inspect

FIXTURE = Path(__file__).parent / "fixtures" / "inspect_sum_env.json"


def test_a_sample_whose_model_calls_all_failed_is_left_out(sqlite_store, tmp_path):
    log = json.loads(FIXTURE.read_text())
    sample = copy.deepcopy(log["samples"][0])
    model = next(e for e in sample["events"] if e["event"] == "model")
    failed = {**model, "error": "APIConnectionError: Connection error.", "output": {"choices": []}}
    sample["events"] = [failed]
    sample["scores"] = {}
    sample["error"] = {"message": "APIConnectionError: Connection error.", "traceback": ""}
    log["samples"] = [sample]
    path = tmp_path / "failed.json"
    path.write_text(json.dumps(log))
    [result] = import_inspect(sqlite_store, path)
    trial = sqlite_store.trial(result.trial_id)
    kinds = [e.kind for e in sqlite_store.events(trial.id)]
    assert "model_response" not in kinds and "api_error" in kinds, kinds
    assert trial.end_reason == "error"
    groups, left_out = load_groups(sqlite_store, trial.environment)
    assert not groups and [e.trial.id for e in left_out] == [trial.id], (groups, left_out)
    assert "before any model response" in left_out[0].why
