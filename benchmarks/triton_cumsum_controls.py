"""The negative controls on a CUDA GPU (benchmarks/triton_cumsum.py section 4): each scored with the whole
protocol, its verdict against those that tests/triton_cumsum/controls/controls.toml accepts."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Callable

CONTROLS = Path(__file__).resolve().parent.parent / "tests" / "triton_cumsum" / "controls"


def controls_section(out: Callable[[str], None], env, results: dict, only: list[str]) -> None:
    """Section 4: score each control (`only`: those named; else all) on the GPU with `env` (its call timeout
    shortened by the caller) and print its verdict against the accepted ones."""
    from scoring.runner import score_candidate

    expected = control_specs()
    if only:
        expected = {name: spec for name, spec in expected.items() if name in only}
    out(f"\n4. negative controls on the GPU ({len(expected)}; expected verdicts from controls.toml):")
    rows, passed = [], 0
    for name, spec in sorted(expected.items()):
        r = score_candidate(env, "main", CONTROLS / name, timeout_s=120)
        verdict = "valid" if r.valid else r.reason
        accepted = accepted_verdicts(spec, r.details)
        ok = verdict in accepted
        note = ""
        if r.valid:
            ms = r.details["median_ms"]
            note = f"{ms:.3f} ms"
            if "min_ms" in spec and ms < spec["min_ms"]:
                ok, note = False, note + f" < {spec['min_ms']} ms: the cheat changed the measurement"
            start_ms = results.get("starting_ms")
            if "min_start_ratio" in spec and start_ms and ms < spec["min_start_ratio"] * start_ms:
                ok, note = False, note + f" < {spec['min_start_ratio']}x the starting solution's {start_ms:.3f} ms"
        passed += ok
        rows.append({"control": name, "item": spec["item"], "verdict": verdict, "expected": accepted, "ok": ok,
                     "message": r.message[:300], "note": note})
        out(f"   {'PASS' if ok else 'FAIL'}  {name:22s} {verdict:22s} {note}  — {r.message[:160]}")
    results.setdefault("controls", []).extend(rows)
    out(f"   {passed} of {len(expected)} controls got an expected verdict")


def control_specs() -> dict[str, dict]:
    """tests/triton_cumsum/controls/controls.toml: each control's expected verdicts, by name."""
    return tomllib.loads((CONTROLS / "controls.toml").read_text())


def accepted_verdicts(spec: dict, details: dict | None) -> list[str]:
    """A control's acceptable verdicts on the GPU: spec["gpu"], and spec["gpu_confined"] where every
    candidate process ran with the confinement piece spec["confined_by"] (details.candidate_confinement:
    "dev+pid+..." per process), which leaves the cheat nothing to cheat with."""
    accepted = list(spec["gpu"])
    piece = spec.get("confined_by")
    ran = (details or {}).get("candidate_confinement") or []
    if piece and ran and all(piece in str(word).split("+") for word in ran):
        accepted += [verdict for verdict in spec.get("gpu_confined", []) if verdict not in accepted]
    return accepted
