"""Parse and validate a native environment folder (environment.toml, instructions.md, starting/, scorer)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from environments.fields import Fields, describe, join
from environments.links import links_out
from environments.model import (
    MAX_BUDGET_HOURS,
    Calibration,
    Environment,
    Hardware,
    LoadProblem,
    Metric,
    Variant,
    span_problem,
)

MANIFEST = "environment.toml"
INSTRUCTIONS = "instructions.md"
STARTING = "starting"
NAME_RE = re.compile(r"^[a-z0-9_]+$")
VARIANT_RE = re.compile(r"^[a-z0-9_][a-z0-9_-]*$")
DIRECTIONS = ("lower", "higher")
TRANSFORMS = ("ln", "ln_minus_floor", "identity")

TOP_KEYS = frozenset(
    {"name", "title", "description", "entry_point", "default_variant"}
    | {"budget", "hardware", "metric", "scoring", "calibration", "variants", "image"}
)
IMAGE_KEYS = frozenset({"python_packages"})
BUDGET_KEYS = frozenset({"hours", "wall_backstop_hours"})
HARDWARE_KEYS = frozenset({"cpus", "memory_gb", "gpu", "gpu_kind", "disk_gb", "pids", "network"})
METRIC_KEYS = frozenset({"name", "direction", "transform", "unit"})
SCORING_KEYS = frozenset({"scorer", "timeout_s", "memory_mb", "visible"})
CALIBRATION_KEYS = frozenset({"start", "reference", "hardware"})
VARIANT_KEYS = frozenset({"description", "params", "timeout_s", "budget_hours", "calibration"})
# the largest values that make sense, past which a number is a typo that would overflow later (a timeout of
# 1e300 s broke the scorer's clock; memory_mb past 2**63 its resource limit): a week of scoring, four
# weeks of budget (the most a trial takes: model.MAX_BUDGET_HOURS), 4 TiB, the kernel's largest pid
MOST = {"timeout_s": 7 * 86400.0, "memory_mb": float(4 << 20), "hours": MAX_BUDGET_HOURS, "cpus": 4096.0,
        "gb": 4096.0, "pids": float(1 << 22), "raw": 1e12}


@dataclass(frozen=True)
class Settings:
    """What the [budget], [hardware], [metric], [scoring] and [calibration] tables say."""

    budget_hours: float = 8.0
    wall_backstop_hours: float = 24.0
    hardware: Hardware = Hardware()
    metric: Metric = Metric(name="score", direction="higher", transform="identity")
    calibration: Calibration = Calibration(start=0.0, reference=1.0)
    scorer: str = "scorer.py"
    scoring_timeout_s: float = 600.0
    scoring_memory_mb: int = 2048
    scores_visible: bool = True
    calibrate_per_machine: bool = False  # [calibration] per_machine

    def environment_fields(self) -> dict[str, Any]:
        """The Environment fields these tables set (native manifests and METR families alike)."""
        return {
            "budget_hours": self.budget_hours,
            "wall_backstop_hours": self.wall_backstop_hours,
            "hardware": self.hardware,
            "metric": self.metric,
            "calibration": self.calibration,
            "scoring_timeout_s": self.scoring_timeout_s,
            "scoring_memory_mb": self.scoring_memory_mb,
            "scores_visible": self.scores_visible,
            "calibrate_per_machine": self.calibrate_per_machine,
        }


def parse_settings(
    f: Fields, data: dict[str, Any], defaults: Settings | None = None, *, allow_scorer: bool = True
) -> Settings:
    """Read the shared tables; with `defaults` every field is optional (rearena.toml), else required ones are."""
    required = defaults is None
    base = defaults or Settings()

    def need(table: str) -> bool:  # a missing required table is one problem, not one per field
        return required and table in data

    hours, backstop = _budget(f, f.subtable(data, "budget", required=required), need("budget"), base)
    hardware = _hardware(f, f.subtable(data, "hardware", required=required), need("hardware"), base.hardware)
    metric = _metric(f, f.subtable(data, "metric", required=required), need("metric"), base.metric)
    scoring = f.subtable(data, "scoring", required=required)
    scoring_required = need("scoring")
    f.unknown_keys(scoring, SCORING_KEYS if allow_scorer else SCORING_KEYS - {"scorer"}, "scoring")
    scorer = f.take(
        scoring, "scorer", "scoring", "string", default=base.scorer, hint="a file in the environment folder"
    )
    timeout = f.take(
        scoring,
        "timeout_s",
        "scoring",
        "number",
        required=scoring_required,
        default=base.scoring_timeout_s,
        hint="seconds",
    )
    memory = f.take(scoring, "memory_mb", "scoring", "integer", default=base.scoring_memory_mb, hint="megabytes")
    visible = f.take(scoring, "visible", "scoring", "boolean", required=scoring_required, default=base.scores_visible)
    timeout = f.positive(timeout, "scoring.timeout_s", MOST["timeout_s"]) or base.scoring_timeout_s
    memory = int(f.positive(memory, "scoring.memory_mb", MOST["memory_mb"]) or base.scoring_memory_mb)
    calibration = f.subtable(data, "calibration", required=defaults is None)
    per_machine = f.take(calibration, "per_machine", "calibration", "boolean", default=base.calibrate_per_machine,
                         hint="true: a trial made on a machine with no current calibration measures one first")
    calibration = {k: v for k, v in calibration.items() if k != "per_machine"}  # (not a key of variants' tables)
    calibration = parse_calibration(f, calibration, "calibration", False, base.calibration)
    if calibration is not None and (not required or "metric" in data):
        check_direction(f, metric, calibration, "calibration")
    calibration = calibration or base.calibration
    return Settings(hours, backstop, hardware, metric, calibration, scorer, timeout, memory, visible, per_machine)


def _budget(f: Fields, table: dict[str, Any], required: bool, base: Settings) -> tuple[float, float]:
    f.unknown_keys(table, BUDGET_KEYS, "budget")
    hours = f.take(table, "hours", "budget", "number", required=required, hint="the active-time budget in hours")
    hours = f.positive(hours, "budget.hours", MOST["hours"]) or base.budget_hours
    backstop = f.take(table, "wall_backstop_hours", "budget", "number", hint="hours of wall time")
    backstop = f.positive(backstop, "budget.wall_backstop_hours", 3 * MOST["hours"]) or 3 * hours
    if backstop < hours:
        f.problem("budget.wall_backstop_hours", f"expected at least budget.hours ({hours:g}), got {backstop:g}")
    return hours, backstop


def _hardware(f: Fields, table: dict[str, Any], required: bool, base: Hardware) -> Hardware:
    f.unknown_keys(table, HARDWARE_KEYS, "hardware")
    cpus = f.take(table, "cpus", "hardware", "integer", required=required, default=base.cpus, hint="CPU cores")
    memory = f.take(table, "memory_gb", "hardware", "number", required=required, default=base.memory_gb, hint="GB")
    gpu = f.take(table, "gpu", "hardware", "boolean", default=base.gpu)
    kind = f.take(table, "gpu_kind", "hardware", "string", default=base.gpu_kind, hint='e.g. "cuda"')
    disk = f.take(table, "disk_gb", "hardware", "number", default=base.disk_gb, hint="GB of files")
    pids = f.take(table, "pids", "hardware", "integer", default=base.pids, hint="processes and threads")
    network = f.take(table, "network", "hardware", "boolean", default=base.network)
    cpus = int(f.positive(cpus, "hardware.cpus", MOST["cpus"]) or base.cpus)
    memory = f.positive(memory, "hardware.memory_gb", MOST["gb"]) or base.memory_gb
    disk = f.positive(disk, "hardware.disk_gb", MOST["gb"]) or base.disk_gb
    pids = int(f.positive(pids, "hardware.pids", MOST["pids"]) or base.pids)
    return Hardware(cpus=cpus, memory_gb=memory, gpu=gpu, gpu_kind=kind, disk_gb=disk, pids=pids,
                    network=network)


def _metric(f: Fields, table: dict[str, Any], required: bool, base: Metric) -> Metric:
    f.unknown_keys(table, METRIC_KEYS, "metric")
    name = f.take(
        table, "name", "metric", "string", required=required, default=base.name, hint="what the raw score measures"
    )
    direction = f.take(
        table, "direction", "metric", "string", required=required, default=base.direction, hint='"lower" or "higher"'
    )
    transform = f.take(
        table,
        "transform",
        "metric",
        "string",
        required=required,
        default=base.transform,
        hint="ln, ln_minus_floor or identity",
    )
    unit = f.take(table, "unit", "metric", "string", default=base.unit)
    if not name.strip():
        f.problem("metric.name", "expected a non-empty string, got ''")
    direction = f.choice(direction, "metric.direction", DIRECTIONS) or base.direction
    transform = f.choice(transform, "metric.transform", TRANSFORMS) or base.transform
    return Metric(name=name, direction=direction, transform=transform, unit=unit)


def parse_calibration(
    f: Fields, table: dict[str, Any], prefix: str, required: bool, base: Calibration | None
) -> Calibration | None:
    """Read a calibration table (falling back on `base`); None when a score is missing or malformed."""
    f.unknown_keys(table, CALIBRATION_KEYS, prefix)
    need = required or bool(table)  # a calibration that is given must give both scores
    start = f.take(table, "start", prefix, "number", required=need, hint="raw score of the starting solution")
    reference = f.take(table, "reference", prefix, "number", required=need, hint="raw score of the reference solution")
    hardware = f.take(
        table, "hardware", prefix, "string", default=base.hardware if base else "", hint="where they were measured"
    )
    for name, value in (("start", start), ("reference", reference)):
        if value is not None and abs(value) > MOST["raw"]:
            f.problem(join(prefix, name), f"expected a raw score within ±{MOST['raw']:g}, got {value:g}")
            return None
    if need and (start is None or reference is None):
        return None
    fallback = base or Calibration(start=0.0, reference=1.0)
    start = fallback.start if start is None else start
    reference = fallback.reference if reference is None else reference
    if start == reference:
        f.problem(
            prefix,
            f"start and reference are both {start:g}; expected different raw scores "
            "(normalization divides by their difference)",
        )
    elif problem := span_problem(start, reference):
        f.problem(prefix, problem)
    return Calibration(start=start, reference=reference, hardware=hardware)


def check_direction(f: Fields, metric: Metric, cal: Calibration, prefix: str) -> None:
    """The reference must beat the start in the metric's direction (unchecked when the direction is invalid)."""
    if cal.start == cal.reference or any(p.field in ("metric", "metric.direction") for p in f.problems):
        return
    better = cal.reference < cal.start if metric.direction == "lower" else cal.reference > cal.start
    if not better:
        sign = "<" if metric.direction == "lower" else ">"
        f.problem(
            prefix,
            f'metric.direction is "{metric.direction}", so expected reference {sign} start; '
            f"got start = {cal.start:g}, reference = {cal.reference:g}",
        )


def parse_variants(
    f: Fields,
    data: dict[str, Any],
    settings: Settings,
    *,
    required: bool = True,
    allow_params: bool = True,
    known: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Variant]:
    """Read [variants.*]; `known` (METR) supplies params and limits which names may be overridden."""
    table = f.subtable(data, "variants", required=required)
    variants: dict[str, Variant] = {}
    for name, body in table.items():
        field = join("variants", name)
        if not isinstance(body, dict):
            f.problem(field, f"expected a [{field}] table, got {describe(body)}")
            continue
        if known is None and not VARIANT_RE.match(name):
            f.problem(field, "expected a variant name of lower-case letters, digits, '_' or '-'")
        if known is not None and name not in known:
            f.problem(field, f"no task of that name; expected one of: {', '.join(known)}")
            continue
        variants[name] = _variant(f, name, body, field, settings, allow_params, known)
    return variants


def _variant(
    f: Fields,
    name: str,
    body: dict[str, Any],
    field: str,
    settings: Settings,
    allow_params: bool,
    known: dict[str, dict[str, Any]] | None,
) -> Variant:
    f.unknown_keys(body, VARIANT_KEYS if allow_params else VARIANT_KEYS - {"params"}, field)
    description = f.take(body, "description", field, "string", default="")
    params = f.take(body, "params", field, "table", default={}, hint="parameters passed to the scorer")
    if not f.json_value(params, join(field, "params")):
        params = {}
    timeout = f.positive(f.take(body, "timeout_s", field, "number", hint="seconds"), join(field, "timeout_s"),
                         MOST["timeout_s"])
    hours = f.positive(f.take(body, "budget_hours", field, "number", hint="hours"), join(field, "budget_hours"),
                       MOST["hours"])
    calibration = None
    if "calibration" in body:
        prefix = join(field, "calibration")
        cal_table = f.subtable(body, "calibration", field, required=True)
        calibration = parse_calibration(f, cal_table, prefix, True, None)
        if calibration is not None:
            calibration = replace(calibration, hardware=calibration.hardware or settings.calibration.hardware)
            check_direction(f, settings.metric, calibration, prefix)
    if known is not None:
        params = dict(known.get(name, {}))
    return Variant(
        name=name,
        params=params,
        description=description,
        calibration=calibration,
        budget_hours=hours,
        scoring_timeout_s=timeout,
    )


def require_tiny(f: Fields, variants: dict[str, Variant], how: str) -> None:
    """Every environment needs a variant named `tiny` (a small one for tests)."""
    if "tiny" not in variants:
        found = ", ".join(variants) or "none"
        f.problem(
            "variants.tiny",
            f"missing: every environment needs a tiny variant (a small one for tests); {how}; found: {found}",
        )


def _text(f: Fields, data: dict[str, Any], folder: Path) -> dict[str, str]:
    out = {}
    out["name"] = f.take(data, "name", "", "string", required=True, default="", hint="the folder name")
    if out["name"] and out["name"] != folder.name:
        f.problem("name", f"expected the folder name {folder.name!r}, got {out['name']!r}")
    elif out["name"] and not NAME_RE.match(out["name"]):
        f.problem("name", f"expected lower-case letters, digits and '_', got {out['name']!r}")
    out["title"] = f.take(data, "title", "", "string", required=True, default="", hint="a short human title")
    if "title" in data and isinstance(data["title"], str) and not out["title"].strip():
        f.problem("title", "expected a non-empty string, got ''")
    out["description"] = f.take(data, "description", "", "string", default="")
    out["entry_point"] = f.take(data, "entry_point", "", "string", default="", hint='e.g. "solution.py:function"')
    out["default_variant"] = f.take(data, "default_variant", "", "string", default="main")
    return out


def _files(f: Fields, folder: Path, scorer_name: str) -> tuple[str, Path, Path]:
    instructions = ""
    path = folder / INSTRUCTIONS
    if not path.is_file():
        f.problem("", "missing: expected the participant's instructions (Markdown)", path)
    else:
        instructions = path.read_text(encoding="utf-8", errors="replace")
        if not instructions.strip():
            f.problem("", "empty: expected the participant's instructions (Markdown)", path)
    starting = folder / STARTING
    if not starting.is_dir():
        f.problem("", "missing: expected a folder with the starting files", starting)
    f.problems.extend(links_out(starting, folder, "starting folder"))
    scorer = folder / scorer_name
    try:
        inside = scorer.resolve().is_relative_to(folder.resolve())
        found = inside and scorer.is_file()
    except (OSError, ValueError) as exc:  # a name too long, say
        f.problem("scoring.scorer", f"expected a file name inside the environment folder, got {scorer_name[:80]!r}"
                                    f": {getattr(exc, 'strerror', None) or exc}")
        return instructions, starting, scorer
    if not inside:
        f.problem("scoring.scorer", f"expected a file inside the environment folder, got {scorer_name!r}")
    elif not found:
        f.problem("scoring.scorer", "missing: expected the scorer file defining score(ctx)", scorer)
    return instructions, starting, scorer


def _image_packages(f: Fields, data: dict[str, Any]) -> tuple[str, ...]:
    """[image] python_packages: requirement strings such as "torch==2.13.0" (pip's syntax)."""
    table = f.subtable(data, "image", required=False)
    f.unknown_keys(table, IMAGE_KEYS, "image")
    packages = table.get("python_packages", [])
    expected = 'expected an array of requirement strings such as "torch==2.13.0"'
    if not isinstance(packages, list):
        f.problem("image.python_packages", f"{expected}, got {describe(packages)}")
        return ()
    for i, item in enumerate(packages):
        if not isinstance(item, str) or not item.strip() or item.strip().startswith("-"):
            f.problem("image.python_packages", f"{expected}, got {describe(item)} at position {i + 1}")
            return ()
    return tuple(p.strip() for p in packages)


def load_environment(folder: Path) -> tuple[Environment | None, list[LoadProblem]]:
    """Load a native environment folder; on any problem return None and every problem found."""
    folder = Path(folder)
    f = Fields(folder / MANIFEST)
    data = f.read_toml()
    if data is None:
        return None, f.problems
    f.unknown_keys(data, TOP_KEYS, "")
    text = _text(f, data, folder)
    settings = parse_settings(f, data)
    variants = parse_variants(f, data, settings)
    if isinstance(data.get("variants"), dict):
        require_tiny(f, variants, "add a [variants.tiny] table")
    if variants and text["default_variant"] not in variants:
        f.problem(
            "default_variant", f"expected one of the variants ({', '.join(variants)}), got {text['default_variant']!r}"
        )
    instructions, starting, scorer = _files(f, folder, settings.scorer)
    packages = _image_packages(f, data)
    if f.problems:
        return None, f.problems
    env = Environment(
        name=text["name"],
        title=text["title"],
        path=folder,
        instructions=instructions,
        starting_dir=starting,
        variants=variants,
        **settings.environment_fields(),
        scorer=scorer,
        kind="native",
        description=text["description"],
        entry_point=text["entry_point"],
        default_variant=text["default_variant"],
        image_packages=packages,
    )
    return env, []
