"""Inspect AI eval logs (.json, or .eval: a zip of JSON) imported as agent trials, one per sample.

Mapping (see inspect_ai/log/_log.py and inspect_ai/event/): each sample (and epoch) is a trial of
participant kind "agent", named and modelled after `eval.model`; a `model` event becomes a
model_request (at its timestamp) and a model_response (at its completion) with content, tool calls
and token usage; a `tool` event a tool_call and a tool_output; `info` a note; `error` and
`sample_limit` agent notes; other kinds (spans, state, store, sandbox, ...) are left out and
counted in the trial's settings. Active time is Inspect's working time (`working_start`); the wall
time Inspect did not count as working (waiting on the API or a sandbox) becomes pauses with
reason "waiting", so that wall minus pauses matches working time. Intermediate `score` events are
submissions; the sample's final `scores` (one scorer: --scorer, else the first) a final one.
Inspect scores are taken as normalized scores: numbers as they are, C/I/P/N as 1/0/0.5/0, true/false
as 1/0; anything else is an invalid submission; the raw score is the score's metadata "raw" when it
is a number, else the value. Importing the same sample twice (same sample uuid, or eval id, sample
id and epoch) is a no-op that names the trial it became, also when two imports of one log run at once (whether
a sample is in the database is decided again inside the transaction that writes it: bundle_write.write_once).
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from console.compare.bundle_check import BundleError
from console.compare.inspect_map import convert_sample
from console.store.clean import clean_json

__all__ = ["InspectLogError", "InspectImport", "read_inspect_log", "import_inspect"]


class InspectLogError(BundleError):
    """A file that is not a readable Inspect eval log, or a sample that cannot be imported."""


def _load_json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InspectLogError(f"{what} is not JSON ({exc})") from None


def read_inspect_log(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the log without samples, its samples) from an Inspect .json or .eval log."""
    path = Path(path)
    if not path.is_file():
        raise InspectLogError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                head = "header.json" if "header.json" in names else "_journal/start.json"
                if head not in names:
                    raise InspectLogError(f"{path} is not an Inspect eval log (no header.json in the archive)")
                header = _load_json(zf.read(head), f"{path}: {head}")
                samples = [_load_json(zf.read(n), f"{path}: {n}") for n in sorted(names)
                           if n.startswith("samples/") and n.endswith(".json")]  # fmt: skip
        except (zipfile.BadZipFile, OSError) as exc:
            raise InspectLogError(f"{path} is not a readable Inspect eval log: {exc}") from None
    else:
        header = _load_json(path.read_bytes(), str(path))
        samples = header.get("samples") or [] if isinstance(header, dict) else []
    if not isinstance(header, dict) or not isinstance(header.get("eval"), dict) or "model" not in header["eval"]:
        raise InspectLogError(f"{path} is not an Inspect eval log (no 'eval' with a 'model')")
    if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
        raise InspectLogError(f"{path} is not an Inspect eval log ('samples' is not a list of objects)")
    return {k: v for k, v in header.items() if k != "samples"}, samples


def parse_time(value: Any) -> float | None:
    """An Inspect timestamp (ISO 8601; UTC when it has no zone) as epoch seconds, None if absent or bad."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


@dataclass(frozen=True)
class InspectImport:
    """What happened to one sample: the trial it became (or already was), and what was left out."""

    sample_id: Any
    epoch: int
    trial_id: int
    created: bool
    events: int
    submissions: int
    skipped: dict[str, int]


def _existing(reader, environment: str, key: str) -> int | None:
    """The trial already imported from this sample (same key in its settings, cleaned as stored), if any.

    `reader` is a Store, or one reading inside the import's write transaction (Store.reading_through)."""
    key = clean_json(key)
    for trial in reader.trials(environment=environment):
        if (trial.settings.get("inspect") or {}).get("key") == key:
            return trial.id
    return None


def _decide(reader, env: str, key: str) -> tuple[str, int | None]:
    """bundle_write.write_once's question for one sample: write it (NEW), or it is trial N already (SAME)."""
    from console.compare.bundle_write import NEW, SAME

    found = _existing(reader, env, key)
    return (NEW, None) if found is None else (SAME, found)


def import_inspect(store, path: str | Path, environment: str | None = None, variant: str | None = None,
                   scorer: str | None = None) -> list[InspectImport]:  # fmt: skip
    """Import every sample of an Inspect log as an agent trial; all samples are checked before any is written."""
    from console.compare.bundle_write import write_once

    path = Path(path)
    header, samples = read_inspect_log(path)
    if not samples:
        raise InspectLogError(f"{path} has no samples to import (was it run with log_samples=False?)")
    task = str(header["eval"].get("task") or path.stem)
    env = environment or task.rsplit("/", 1)[-1]
    contents = []
    for sample in samples:
        try:
            contents.append(convert_sample(header, sample, env, variant or "main", scorer, path.name, parse_time))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InspectLogError(f"{path}: sample {sample.get('id')!r} cannot be imported: {exc}") from None
    results = []
    for content in contents:
        info = content["trial"]["settings"]["inspect"]
        counts = (len(content["events"]), len(content["submissions"]), info["skipped_events"])
        found = _existing(store, env, info["key"])  # the usual case of a log imported before: nothing written
        if found is None:
            # decided again inside the write transaction: another import may have written the sample meanwhile
            found, sub_map, _ = write_once(store, content, partial(_decide, env=env, key=info["key"]))
        else:
            sub_map = None
        results.append(InspectImport(info["sample_id"], info["epoch"], found, sub_map is not None, *counts))
    return results
