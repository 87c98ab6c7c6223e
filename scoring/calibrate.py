"""Measure an environment's calibration on this machine: score its starting and reference solutions."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import statistics
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from environments.manifest import MANIFEST
from environments.model import Calibration, Environment
from scoring import hardware
from scoring.runner import REPO_ROOT, score_candidate

DIGEST_CHARS = 16  # of the sha256, as kept with a calibration


class CalibrationError(Exception):
    """The starting or reference solution did not score validly, or the environment has no reference."""


def calibration_digest(env: Environment, variant: str) -> str:
    """Short hash of what a calibration times: the environment's folder, its starting files and reference
    solution as materialize_candidate copies them (links followed, dot-files kept), the scorer's files and the
    variant's name and params; paths relative, so any clone agrees."""
    from environments.registry import reference_dir

    copied = {"starting": env.starting_dir, "reference": reference_dir(env)}  # what candidates are made of
    roots = {"environment": env.path, "scoring": REPO_ROOT / "scoring"}
    if env.scorer.parent not in (env.path, roots["scoring"]):
        roots["scorer"] = env.scorer.parent
    chosen = env.variant(variant)
    digest = hashlib.sha256(json.dumps([chosen.name, chosen.params], sort_keys=True, default=str).encode())
    starting = _inside(env.starting_dir, env.path)
    for label, root in {**roots, **copied}.items():
        if root is None or (label in copied and not Path(root).is_dir()):
            continue
        for rel, path in materialized_files(Path(root)):
            if label not in copied and (path.suffix == ".pyc" or any(p.startswith(".") for p in rel.parts)):
                continue  # caches, editors' files: not copied into candidates, not read by scorers
            if label == "environment" and starting is not None and rel.parts[:len(starting.parts)] == starting.parts:
                continue  # hashed as "starting", as it is copied
            body = _manifest_body(path) if label == "environment" and rel == Path(MANIFEST) else path.read_bytes()
            digest.update(f"\0{label}/{rel.as_posix()}\0{len(body)}\0".encode())
            digest.update(body)
    for path in sorted((REPO_ROOT / "environments").glob("*.py")):  # the loader, and METR environments' scoring
        digest.update(f"\0environments-code/{path.name}\0".encode() + path.read_bytes())
    return digest.hexdigest()[:DIGEST_CHARS]


def _inside(path: Path | None, root: Path) -> Path | None:
    """path relative to root (as named, links not resolved), or None when it is not under root."""
    if path is None:
        return None
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        return None


def materialized_files(root: Path) -> list[tuple[Path, Path]]:
    """(relative path, path) of every file that shutil.copytree(root, ..., ignore __pycache__) copies, as
    materialize_candidate does: links to folders and files followed, dot-files kept; sorted. A link back to
    a folder it is inside (a loop, which copytree cannot copy either) is not followed."""
    found = []
    stack = [(root, Path(), frozenset())]
    while stack:
        folder, rel, ancestors = stack.pop()
        stat = os.stat(folder)
        here = ancestors | {(stat.st_dev, stat.st_ino)}
        if len(here) == len(ancestors):
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name == "__pycache__":
                    continue
                if entry.is_dir():
                    stack.append((Path(entry.path), rel / entry.name, here))
                elif entry.is_file():  # (a dangling link is no file: copytree fails on it, the scoring would too)
                    found.append((rel / entry.name, Path(entry.path)))
    return sorted(found)


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


SANDBOXES = ("local", "docker")  # where the scorings of a calibration run, as trials' sandboxes


def _raw_score(scorer, env: Environment, variant: str, folder: Path, label: str) -> float:
    result = scorer(env, variant, folder)
    if not result.valid:
        raise CalibrationError(f"the {label} solution of {env.name}:{variant} is invalid: {result.message}")
    return result.raw


def check_gap(env: Environment, starts: list[float], refs: list[float]) -> tuple[float, float]:
    """The (start, reference) medians; CalibrationError unless the reference's beats the start's in the metric's
    direction by more than the run-to-run spread (the widest range of either solution's runs)."""
    start, ref = statistics.median(starts), statistics.median(refs)
    better = env.metric.direction
    gain = start - ref if better == "lower" else ref - start
    if not gain > 0:  # (NaN too)
        raise CalibrationError(
            f"the reference solution does not beat the starting solution: reference raw {ref:.4f}, start raw "
            f"{start:.4f}, and {better} is better for {env.metric.name}; normalized scores would come out "
            "wrong (sign-flipped). Nothing was stored: check the reference solution and measure again")
    spread = max(max(raws) - min(raws) for raws in (starts, refs))
    if gain <= spread:
        raise CalibrationError(
            f"the gap between the reference raw {ref:.4f} and the start raw {start:.4f} ({gain:.4f}) is within "
            f"the run-to-run spread of the runs ({spread:.4f}): the machine is too noisy to tell them apart. "
            "Nothing was stored: measure again on a quieter machine or with more --runs")
    return start, ref


def _scorer_and_runtime(env: Environment, sandbox: str):
    """The scorer of a sandbox kind and the runtime it scores in (scoring.hardware.fingerprint's)."""
    if sandbox == "local":
        return score_candidate, hardware.HOST
    if sandbox != "docker":
        raise CalibrationError(f"unknown sandbox {sandbox!r}: choose one of {', '.join(SANDBOXES)}")
    from scoring import containers, stopping
    from scoring.container_exec import ContainerError
    from scoring.docker_runner import runtime, score_in_container

    try:  # the console's quit stops the build as it stops the scorings that follow (scoring.stopping)
        image = containers.ensure_image(env, stop=stopping.requested)
    except ContainerError as exc:
        stopping.check()  # stopped: ScoringStopped, as a stopped scoring raises; nothing is stored
        raise CalibrationError(f"the docker image of {env.name} is not available: {exc}") from None
    return functools.partial(score_in_container, image=image), runtime(env)


def calibrate(env: Environment, variant: str, runs: int = 3, sandbox: str = "local") -> tuple[Calibration, dict]:
    """Score the starting and reference solutions `runs` times each, alternately, in the sandbox's scorer (local: this
    machine's processes; docker: a scoring container of the environment's image); return the medians and all
    raws. CalibrationError when they cannot be measured or the reference does not clearly beat the start."""
    from environments.metr import MetrError
    from environments.registry import materialize_candidate, reference_dir

    if not isinstance(runs, int) or runs < 1:
        raise CalibrationError(f"runs must be a whole number of at least 1, not {runs!r}")
    if reference_dir(env) is None:
        raise CalibrationError(f"{env.name} has no reference solution (looked for reference_solutions/{env.name}); "
                               "a calibration times the starting and the reference solutions")
    scorer, where = _scorer_and_runtime(env, sandbox)
    digest = calibration_digest(env, variant)  # before scoring: what is about to be timed
    with tempfile.TemporaryDirectory(prefix="rearena-calibrate-") as tmp:
        start_dir, ref_dir = Path(tmp) / "start", Path(tmp) / "reference"
        try:
            materialize_candidate(env, variant, start_dir)
            materialize_candidate(env, variant, ref_dir, with_reference=True)
        except (OSError, MetrError) as exc:
            raise CalibrationError(f"cannot lay out the starting and reference solutions of {env.name}:{variant}: "
                                   f"{exc}") from None
        starts, refs = [], []
        for _ in range(runs):  # alternately: load that comes and goes weighs on both solutions alike
            starts.append(_raw_score(scorer, env, variant, start_dir, "starting"))
            refs.append(_raw_score(scorer, env, variant, ref_dir, "reference"))
    start, ref = check_gap(env, starts, refs)
    info = hardware.describe()
    calibration = Calibration(
        start=start,
        reference=ref,
        source="measured",
        hardware=hardware.summary(info, where),
        fingerprint=hardware.fingerprint(info, where),
        measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        digest=digest,
    )
    return calibration, {"start_raws": starts, "reference_raws": refs, "runtime": where}
