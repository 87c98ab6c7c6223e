"""Measure an environment's calibration on this machine: score its starting and reference solutions."""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from environments.manifest import MANIFEST
from environments.model import Calibration, Environment
from scoring import hardware
from scoring.runner import REPO_ROOT, score_candidate, tree_files

DIGEST_CHARS = 16  # of the sha256, as kept with a calibration


class CalibrationError(Exception):
    """The starting or reference solution did not score validly, or the environment has no reference."""


def calibration_digest(env: Environment, variant: str) -> str:
    """Short hash of what a calibration times: the environment's folder (starting/ included), its reference
    solution, the scorer's files and the variant's name and params; paths relative, so any clone agrees."""
    from environments.registry import reference_dir

    roots = {"environment": env.path, "reference": reference_dir(env), "scoring": REPO_ROOT / "scoring"}
    if env.scorer.parent not in (env.path, roots["scoring"]):
        roots["scorer"] = env.scorer.parent
    chosen = env.variant(variant)
    digest = hashlib.sha256(json.dumps([chosen.name, chosen.params], sort_keys=True, default=str).encode())
    for label, root in roots.items():
        for path in tree_files(root) if root is not None else ():
            rel = path.relative_to(root)
            if path.suffix == ".pyc" or any(part.startswith(".") for part in rel.parts):  # caches, editors' files
                continue
            body = _manifest_body(path) if label == "environment" and rel == Path(MANIFEST) else path.read_bytes()
            digest.update(f"\0{label}/{rel.as_posix()}\0{len(body)}\0".encode())
            digest.update(body)
    for path in sorted((REPO_ROOT / "environments").glob("*.py")):  # the loader, and METR environments' scoring
        digest.update(f"\0environments-code/{path.name}\0".encode() + path.read_bytes())
    return digest.hexdigest()[:DIGEST_CHARS]


def _manifest_body(path: Path) -> bytes:
    """The manifest without its calibration tables: copying measured figures into it (the README's
    step) changes no timing, so it must not make the calibration just measured stale."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return path.read_bytes()
    data.pop("calibration", None)
    for variant in (data.get("variants") or {}).values():
        if isinstance(variant, dict):
            variant.pop("calibration", None)
    return json.dumps(data, sort_keys=True, default=str).encode()


def _raw_scores(env: Environment, variant: str, folder: Path, runs: int, label: str) -> list[float]:
    raws = []
    for _ in range(runs):
        result = score_candidate(env, variant, folder)
        if not result.valid:
            raise CalibrationError(f"the {label} solution of {env.name}:{variant} is invalid: {result.message}")
        raws.append(result.raw)
    return raws


def calibrate(env: Environment, variant: str, runs: int = 3) -> tuple[Calibration, dict]:
    """Score the starting and reference solutions `runs` times each; return the medians and all raws."""
    from environments.registry import materialize_candidate, reference_dir

    if reference_dir(env) is None and env.kind == "native":
        raise CalibrationError(f"{env.name} has no reference solution in reference_solutions/{env.name}")
    digest = calibration_digest(env, variant)  # before scoring: what is about to be timed
    with tempfile.TemporaryDirectory(prefix="rearena-calibrate-") as tmp:
        start_dir, ref_dir = Path(tmp) / "start", Path(tmp) / "reference"
        materialize_candidate(env, variant, start_dir)
        materialize_candidate(env, variant, ref_dir, with_reference=True)
        starts = _raw_scores(env, variant, start_dir, runs, "starting")
        refs = _raw_scores(env, variant, ref_dir, runs, "reference")
    info = hardware.describe()
    calibration = Calibration(
        start=statistics.median(starts),
        reference=statistics.median(refs),
        source="measured",
        hardware=hardware.summary(info),
        fingerprint=hardware.fingerprint(info),
        measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        digest=digest,
    )
    if calibration.start == calibration.reference:
        raise CalibrationError("the starting and reference solutions scored the same; cannot normalize")
    return calibration, {"start_raws": starts, "reference_raws": refs}
