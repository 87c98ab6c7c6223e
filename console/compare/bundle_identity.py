"""Whether a trial file's trial is in a database already, and what importing it does (see bundle.py).

A trial is known by its participant (name, kind, model), environment, variant and creation time. Under that
identity the database may hold the same content (the file is already imported: nothing to write); a later state
of a trial the file caught before it ended (every record of the file, and more: nothing to write either); an
import of an export made before the trial ended, of which the file holds every record and more (the file replaces
it, keeping its id: the trial went on after that export); or anything else, which is refused (one of them changed
after its export).

A trial that had not ended when it was exported is not imported live: here its clock would run on, a listing
would end it by budget, and its workdir (a folder of the installation it came from) would be snapshotted into it.
make_inert makes it a record that nothing ends, scores or snapshots: status "ended", end reason
"unfinished_at_export", ended at the moment it was exported (its manifest's exported_at; a file written before
exports recorded it: the last instant the trial recorded), so that its active time is the one it had reached then;
never before its last recorded instant (another machine's clock), nor after its budget of active time ran out or its
wall-clock backstop passed (a trial nothing had ended yet); its open pause, if any, closed then; no workdir.
What it was (status, ended_at, end_reason, workdir, which pause was open) is kept in its settings under
"unfinished_export", so that original_content gives back exactly the file's content.
"""

from __future__ import annotations

from typing import Any

from console.compare.bundle_check import UNFINISHED_KEY, BundleError
from console.compare.bundle_content import canonical_content, trial_content
from console.compare.bundle_write import NEW, REPLACE, SAME, clean_content
from console.store.records import PauseRecord
from console.trials.clock import active_seconds

UNFINISHED_REASON = "unfinished_at_export"
_KEPT = ("status", "ended_at", "end_reason", "workdir")
_FIXED = ("environment", "variant", "sandbox", "budget_s", "wall_backstop_s", "created_at")


def last_instant(content: dict[str, Any]) -> float:
    """The latest time the trial's content records: its creation, start, events, pauses, submissions, snapshots."""
    t = content["trial"]
    times = [t["created_at"], t["started_at"]] + [e["at"] for e in content["events"]]
    times += [p[k] for p in content["pauses"] for k in ("started_at", "ended_at")]
    times += [s["at"] for s in content["submissions"]] + [s["created_at"] for s in content["snapshots"]]
    return max(x for x in times if x is not None)


def active_at(content: dict[str, Any], at: float) -> float:
    """The trial's active time at `at` (as the trial service counts it: wall time since its start, pauses
    subtracted; an ended trial's stops at its end)."""
    t = content["trial"]
    pauses = [PauseRecord(0, 0, p["reason"], p["started_at"], p["ended_at"]) for p in content["pauses"]]
    return active_seconds(t["started_at"], t["ended_at"], pauses, at)


def inert_end(content: dict[str, Any], exported_at: float | None) -> float:
    """When make_inert ends a trial that had not ended (see above): at its export, within its limits."""
    last = last_instant(content)
    t = content["trial"]
    if exported_at is None or t["started_at"] is None or exported_at <= last:
        return last
    end = min(exported_at, t["started_at"] + t["wall_backstop_s"])
    if active_at(content, end) > t["budget_s"]:  # the instant its budget ran out: active time only grows with time
        lo, hi = t["started_at"], end
        for _ in range(64):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if active_at(content, mid) < t["budget_s"] else (lo, mid)
        end = hi
    return max(last, end)


def make_inert(content: dict[str, Any], exported_at: float | None = None) -> dict[str, Any]:
    """A trial that had not ended as a record nothing ends, scores or snapshots (see above), ended at inert_end;
    others as they are."""
    t = content["trial"]
    if t["status"] == "ended":
        return content
    at = inert_end(content, exported_at)
    pauses = [dict(p) for p in content["pauses"]]
    open_pause = next((i for i, p in enumerate(pauses) if p["ended_at"] is None), None)
    if open_pause is not None:
        pauses[open_pause]["ended_at"] = at
    kept = {k: t[k] for k in _KEPT} | {"open_pause": open_pause}
    trial = {**t, "status": "ended", "ended_at": at, "end_reason": UNFINISHED_REASON, "workdir": "",
             "settings": {**t["settings"], UNFINISHED_KEY: kept}}  # fmt: skip
    return {**content, "trial": trial, "pauses": pauses}


def is_inert(content: dict[str, Any]) -> bool:
    """Whether the content is a trial that make_inert made a record of."""
    t = content["trial"]
    kept = t["settings"].get(UNFINISHED_KEY)
    return (t["status"] == "ended" and t["end_reason"] == UNFINISHED_REASON and isinstance(kept, dict)
            and set(kept) == {*_KEPT, "open_pause"})  # fmt: skip


def original_content(content: dict[str, Any]) -> dict[str, Any]:
    """The content as it was exported, before make_inert; other content as it is."""
    if not is_inert(content):
        return content
    t = content["trial"]
    kept = t["settings"][UNFINISHED_KEY]
    settings = {k: v for k, v in t["settings"].items() if k != UNFINISHED_KEY}
    pauses = [dict(p) for p in content["pauses"]]
    i = kept["open_pause"]
    if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(pauses):
        pauses[i]["ended_at"] = None
    return {**content, "trial": {**t, **{k: kept[k] for k in _KEPT}, "settings": settings}, "pauses": pauses}


def _extends(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether canonical content `new` is a later state of `old`, a trial caught before it ended: the same trial
    with every record of old, in order (its open pause maybe closed since), and maybe more."""
    a, b = old["trial"], new["trial"]
    if a["status"] == "ended" or any(a[k] != b[k] for k in _FIXED) or a["started_at"] not in (None, b["started_at"]):
        return False
    if any(old["participant"][k] != new["participant"][k] for k in ("name", "kind", "model")):
        return False
    if any(new[section][: len(old[section])] != old[section] for section in ("events", "submissions", "snapshots")):
        return False
    if len(new["pauses"]) < len(old["pauses"]):
        return False
    return all(p == q or (p["ended_at"] is None and {**q, "ended_at": None} == p)
               for p, q in zip(old["pauses"], new["pauses"]))  # fmt: skip


def _comparable(canonical: dict[str, Any]) -> dict[str, Any]:
    """Canonical content without the notes added after the trial's end (`after_end`): annotations, made here on an
    import or there after an export, that are not the trial's records (one would make every later import of the
    trial a conflict)."""
    events = [e for e in canonical["events"]
              if not (e["kind"] == "note" and isinstance(e["data"], dict) and e["data"].get("after_end"))]
    return {**canonical, "events": events}


def decide(reader, content: dict[str, Any], exported_at: float | None = None) -> tuple[str, int | None]:
    """What importing a file's (checked) content into the database that `reader` reads does: (NEW, None), (SAME,
    id) when the database holds it already, (REPLACE, id) when the file continues the import of an earlier export
    of the trial (more records, or the same ones exported later: its active time went on); BundleError when the
    database holds the same trial with other content. exported_at: the file's manifest's.

    `reader` is a Store, or one reading inside the import's write transaction (Store.reading_through). The database
    holds text cleaned, so the file's content is compared cleaned."""
    cleaned = clean_content(content)
    mine = _comparable(canonical_content(original_content(cleaned)))
    t, who = cleaned["trial"], cleaned["participant"]
    conflict = None
    for trial in reader.trials(environment=t["environment"]):
        if (trial.variant, trial.created_at, trial.participant, trial.participant_kind) != (
            t["variant"], t["created_at"], who["name"], who["kind"]
        ):
            continue
        if reader.participant_by_id(trial.participant_id).model != who["model"]:
            continue
        stored = trial_content(reader, trial.id)
        theirs = _comparable(canonical_content(original_content(stored)))
        if theirs == mine and is_inert(stored) and t["status"] != "ended":
            # the same records, caught before the trial ended: the later export holds the more active time
            later = inert_end(content, exported_at) > stored["trial"]["ended_at"]
            return (REPLACE if later else SAME), trial.id
        if theirs == mine or _extends(mine, theirs):
            return SAME, trial.id
        if is_inert(stored) and _extends(theirs, mine):
            return REPLACE, trial.id
        conflict = conflict or (trial.id, is_inert(stored))
    if conflict is None:
        return NEW, None
    trial_id, inert = conflict
    if inert:
        raise BundleError(
            f"trial {trial_id} in this database is an import of this trial exported before it ended, and this file "
            f"does not hold everything that import holds (one of them changed after its export); nothing was imported"
        )
    raise BundleError(
        f"trial {trial_id} in this database has the same participant, environment and creation time as "
        f"the trial in this file, but different content (one of them changed after the export); "
        f"nothing was imported"
    )
