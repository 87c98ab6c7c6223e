"""triton_cumsum on a CUDA GPU: copy floor, solutions, the scorer's run-to-run spread, negative controls.

    python benchmarks/triton_cumsum.py [--out benchmarks/results] [--scorings 5]
        [--sections smoke,solutions,scorer,controls,calibrate] [--controls NAME,...] [--batches 1,8] [--pin]

Prints, for n = 100,000,000 int32 on this GPU:
0. whether the reference and three-phase scans are right and finish (benchmarks/triton_cumsum_smoke.py,
   in a subprocess with a time limit);
1. the memory-copy floor (a device copy timed with CUDA events after an L2 flush);
2. the starting solution, torch.cumsum alone, a plain three-phase Triton scan
   (scoring/kernel/three_phase.py) and the reference solution with its tile sizes swept, each
   timed in this process with CUDA events (median of 50 calls, each after an L2 flush), as
   milliseconds and as a ratio to the floor;
3. the scorer (`scoring.runner.score_candidate`, the whole protocol) on the reference solution,
   `--scorings` times: every median, and the coefficient of variation (target <= 0.5%), for each
   number of calls per timed request in `--batches` (the variant's `batch`), and with `--pin` once
   more with the timed processes on CPUs of their own (`pin_cpus`, scoring/kernel/cpus.py); and on
   the starting solution;
4. every negative control of tests/triton_cumsum/controls/controls.toml scored on the GPU, its
   verdict against the expected ones;
5. the per-GPU calibration: ln(median ms) of the starting and reference solutions for the main
   variant (from section 3) and, measured here, for the tiny variant (scoring/calibrate.py).

The output is also written, line by line as it is printed, to OUT/triton_cumsum_<gpu>_<date>.txt
(and the figures to .json after each section), so a run cut short keeps what it measured. On a machine
without a CUDA GPU the script says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import re
import statistics
import sys
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.pop("TRITON_INTERPRET", None)  # compile and run the kernels for real

N = 100_000_000
CONTROLS = REPO / "tests" / "triton_cumsum" / "controls"
REFERENCE_SWEEP = [(2048, 2), (2048, 4), (4096, 4), (4096, 8), (8192, 8), (8192, 16), (16384, 16)]
THREE_PHASE_SWEEP = [(4096, 8), (8192, 8)]
PERSISTENT_SWEEP = [(1024, 4), (2048, 4), (2048, 8), (4096, 4), (4096, 8)]
# (BLOCK, warps, options) beyond those: a look-back window of one warp's width (no barrier between
# warps in the look-back loop, more steps back), the tile's scans before the look-back, and both;
# and the persistent launch with the narrow window
OPTION_SWEEP = [(block, warps, options) for block, warps in [(2048, 4), (2048, 8), (4096, 4), (4096, 8)]
                for options in ({"window": 32}, {"scan_early": True}, {"window": 32, "scan_early": True})]
OPTION_SWEEP += [(block, warps, {"persistent": True, "window": 32}) for block, warps in [(1024, 4), (2048, 8)]]
# cache hints for the data touched once (input evicted first, output streamed), on the default
# launch and the persistent one
OPTION_SWEEP += [(block, warps, {"streaming": True}) for block, warps in [(2048, 4), (4096, 4), (4096, 8)]]
OPTION_SWEEP += [(block, warps, {"persistent": True, "streaming": True}) for block, warps in [(1024, 4), (2048, 4)]]
# (BLOCK, warps, CHUNK): the chunked scan (reference.chunked_prefix_sum): one look-back per chunk of
# CHUNK tiles, the input read a second time from the L2
CHUNKED_SWEEP = [(1024, 4, 4), (1024, 4, 8), (2048, 4, 2), (2048, 4, 4), (2048, 8, 4), (4096, 4, 2), (4096, 8, 2)]
SECTIONS = ("smoke", "solutions", "scorer", "controls", "calibrate")


class Tee:
    """Print, and append to a file as it goes."""

    def __init__(self, path: Path):
        self.path = path
        path.write_text("")

    def __call__(self, *parts) -> None:
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)
        with self.path.open("a") as f:
            f.write(line + "\n")


def event_time_ms(torch, harness, fn, x, reps: int = 50, warmup: int = 5) -> float:
    """Median time of fn(x) with CUDA events, each call after an L2 flush (in this process)."""
    for _ in range(warmup):
        fn(x)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        harness.flush()
        start.record()
        fn(x)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def smoke_section(out: Tee, results: dict, limit_s: int = 300) -> None:
    out("\n0. are the scans right, and do they finish? (benchmarks/triton_cumsum_smoke.py, "
        f"limit {limit_s} s)")
    try:
        done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "triton_cumsum_smoke.py")],
                              capture_output=True, text=True, timeout=limit_s)
        text, ok = (done.stdout + done.stderr).strip(), done.returncode == 0
    except subprocess.TimeoutExpired as exc:
        text = ((exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""))
        text, ok = text.strip() + f"\nDID NOT FINISH within {limit_s} s (a scan that never ends?)", False
    for line in text.splitlines()[-30:]:
        out("   " + line)
    results["smoke_ok"] = ok


def solutions_section(out: Tee, torch, results: dict) -> None:
    from scoring.kernel.gpu import Harness
    from scoring.kernel.reference import masked_prefix_sum_torch

    harness = Harness(torch, N, seed=12345)
    x = torch.randint(-10, 10, (N,), dtype=torch.int32, device="cuda")
    expected = masked_prefix_sum_torch(x)
    floor = statistics.median(harness.copy_floor_ms(N, reps=50))
    results["copy_floor_ms"] = floor
    out(f"\n1. copy floor: a device copy of {N:,} int32 (read + write {8 * N / 1e9:.1f} GB): "
        f"{floor:.4f} ms = {8 * N / floor / 1e9:.2f} TB/s")

    from scoring.api import load_module as load

    starting = load(REPO / "environments" / "triton_cumsum" / "starting" / "solution.py", "starting_solution")
    reference = load(REPO / "reference_solutions" / "triton_cumsum" / "solution.py", "reference_solution")
    three = load(REPO / "scoring" / "kernel" / "three_phase.py", "three_phase")
    rows = [("starting solution (torch)", starting.prefix_sum, True),
            ("torch.cumsum alone, int32 output (not the task)", lambda t: torch.cumsum(t, 0, dtype=torch.int32),
             False)]
    for block, warps in THREE_PHASE_SWEEP:
        rows.append((f"plain three-phase Triton scan, BLOCK {block}, {warps} warps",
                     lambda t, b=block, w=warps: three.masked_prefix_sum(t, block=b, num_warps=w), True))
    configs: dict[str, dict] = {}  # reference rows: the solution's settings that run them
    default = {"BLOCK_CUDA": reference.BLOCK_CUDA, "WARPS_CUDA": reference.WARPS_CUDA,
               "CUDA_OPTIONS": reference.CUDA_OPTIONS}

    def reference_row(label: str, block: int, warps: int, **options) -> None:
        config = {"BLOCK_CUDA": block, "WARPS_CUDA": warps, "CUDA_OPTIONS": options}
        if config == default:
            label += " (the solution's default)"
        configs[label] = config
        rows.append((label, lambda t: reference.configured_prefix_sum(t, block, warps, options), True))

    for block, warps in REFERENCE_SWEEP:
        reference_row(f"reference: single pass, decoupled look-back, BLOCK {block}, {warps} warps", block, warps)
        reference_row(f"   the same, tiles numbered by a global counter (ordered=True), BLOCK {block}, {warps} warps",
                      block, warps, ordered=True)
    for block, warps in PERSISTENT_SWEEP:
        reference_row(f"reference, persistent (next tile prefetched), BLOCK {block}, {warps} warps", block, warps,
                      persistent=True)
    for block, warps, options in OPTION_SWEEP:
        named = ", ".join(f"{key}={value}" for key, value in options.items())
        reference_row(f"reference, {named}, BLOCK {block}, {warps} warps", block, warps, **options)
    for block, warps, chunk in CHUNKED_SWEEP:
        reference_row(f"reference, chunks of {chunk} tiles (input re-read from the L2), BLOCK {block}, {warps} warps",
                      block, warps, chunk=chunk)
    results["reference_configs"] = configs
    out("\n2. solutions, timed in this process (CUDA events, median of 50 calls, L2 flushed before each):")
    results["solutions"] = {}
    for label, fn, check in rows:
        try:
            if check:
                y = fn(x)
                if not torch.equal(y, expected):
                    out(f"   {label}: WRONG RESULT")
                    results["solutions"][label] = "wrong"
                    continue
            ms = event_time_ms(torch, harness, fn, x)
        except Exception as exc:  # a kernel that fails to compile or run on this GPU
            out(f"   {label}: FAILED: {type(exc).__name__}: {str(exc)[:300]}")
            results["solutions"][label] = f"failed: {exc}"
            continue
        results["solutions"][label] = ms
        out(f"   {label:78s} {ms:8.4f} ms  {ms / floor:5.2f}x floor")
    line = fastest_reference(results["solutions"], floor, configs)
    if line:
        out("   " + line)
    del x, expected, harness
    torch.cuda.empty_cache()


def fastest_reference(solutions: dict, floor: float, configs: dict) -> str | None:
    """A line naming the fastest configuration of the reference among the timed solutions (label: ms,
    or a string for one that was wrong or failed) and the settings of the solution that run it
    (`configs`: label -> BLOCK_CUDA, WARPS_CUDA, CUDA_OPTIONS); None if none was timed."""
    timed = {label: ms for label, ms in solutions.items() if label in configs and isinstance(ms, float)}
    if not timed:
        return None
    best = min(timed, key=timed.get)
    settings = ", ".join(f"{key} = {value!r}" for key, value in configs[best].items())
    return (f"fastest reference configuration: {best.strip()} ({timed[best]:.4f} ms, {timed[best] / floor:.2f}x "
            f"floor); to make it the solution's default, set in reference_solutions/triton_cumsum/solution.py: "
            f"{settings}")


def materialize(env, tmp: Path, with_reference: bool) -> Path:
    from environments.registry import materialize_candidate

    dest = tmp / ("reference" if with_reference else "start")
    materialize_candidate(env, "main", dest, with_reference=with_reference)
    return dest


def with_main_params(env, **params):
    """The environment with some of variant main's parameters replaced."""
    variant = env.variants["main"]
    main = dataclasses.replace(variant, params={**variant.params, **params})
    return dataclasses.replace(env, variants={**env.variants, "main": main})


def with_batch(env, batch: int | None):
    """The environment with variant main's calls per timed request set (None: the manifest's)."""
    return env if batch is None else with_main_params(env, batch=batch)


def scorer_section(out: Tee, env, scorings: int, start_scorings: int, results: dict,
                   batches: list[int | None], pin: bool = False) -> None:
    out(f"\n3. the scorer (whole protocol, variant main, n = {N:,}):")
    with tempfile.TemporaryDirectory() as tmp:
        ref_dir = materialize(env, Path(tmp), True)
        start_dir = materialize(env, Path(tmp), False)
        for position, batch in enumerate(batches):
            label = "the manifest's" if batch is None else str(batch)
            out(f"   calls per timed request (batch): {label}")
            cv = reference_scorings(out, with_batch(env, batch), ref_dir, scorings, results, primary=position == 0)
            if cv is not None:
                results.setdefault("scorer_cv_by_batch", {})[label] = cv
        if pin:
            pin_comparison(out, with_batch(env, batches[0]), ref_dir, scorings, results)
        starting_scorings(out, with_batch(env, batches[0]), start_dir, start_scorings, results)


def reference_scorings(out: Tee, env, ref_dir: Path, scorings: int, results: dict, primary: bool) -> float | None:
    """Score the reference `scorings` times; print every figure and the run-to-run CV."""
    from scoring.kernel.stats import coefficient_of_variation
    from scoring.runner import score_candidate

    medians, walls, in_loop, ping_corrected = [], [], [], []
    for k in range(scorings):
        r = score_candidate(env, "main", ref_dir)
        if not r.valid:
            out(f"   reference scoring {k + 1}: INVALID ({r.reason}): {r.message}")
            results.setdefault("scorer_failures", []).append(r.as_dict())
            continue
        d = r.details
        medians.append(d["median_ms"])
        walls.append(r.duration_s)
        in_loop.append(d["in_loop_estimate_ms"])  # the loop's copy-peer calls as the baseline (a diagnostic)
        out(f"   reference scoring {k + 1}: {d['median_ms']:.4f} ms ({d['reps']} reps of {d.get('batch', 1)} calls, "
            f"{d['stopped_because']}; "
            f"harness {d['harness_median_ms']:.4f}, copy peer clean {d['copy_harness_median_ms']:.4f} / in loop "
            f"{d['copy_in_loop_harness_median_ms']:.4f}, overhead "
            f"{d['harness_overhead_ms']:.4f}, floor {d['copy_floor_ms']:.4f} ms; {d['ratio_to_copy_floor']:.2f}x "
            f"floor; rel. s.e. {d['rel_sem']:.3%}; RE-Bench normalized {d['rebench_normalized']:.3f}; "
            f"wall {r.duration_s:.1f} s)")
        out("      flush ms (candidate / copy in loop / clean): "
            + " / ".join(f"{d['flush_median_ms'][k]:.4f}" for k in ("candidate", "copy", "clean"))
            + "; first read ms: "
            + " / ".join(f"{d['first_read_median_ms'][k]:.4f}" for k in ("candidate", "copy", "clean"))
            + "  (the gpu_busy, deferred_work and peer_interference rules compare these)")
        results.setdefault("reference_scorings", []).append(r.as_dict())  # every figure, to re-read later
        phases = d.get("copy_peer_phases_ms") or {}
        loop_phases = d.get("copy_peer_in_loop_phases_ms") or {}
        out("      round trip: reply ms (candidate / copy in loop / clean): "
            + " / ".join(f"{d['reply_median_ms'][k]:.4f}" for k in ("candidate", "copy", "clean"))
            + "; the copy peer inside its process, clean / in loop: "
            + ", ".join(f"{k[:-3]} {v:.4f} / {_ms(loop_phases.get(k))}" for k, v in phases.items() if v is not None)
            + " ms")
        own = d.get("candidate_reported_phases_ms") or {}
        out("      the reference inside its process (as it reported them): "
            + ", ".join(f"{k[:-3]} {v:.4f}" for k, v in own.items() if v is not None) + " ms")
        pings = d.get("ping_median_ms") or {}
        if pings.get("candidate") is not None and pings.get("copy_peer") is not None:
            # round-trip levels differ between processes and move over time (benchmarks/RESULTS.md,
            # round_trip.py): does the difference between the two processes' levels explain the spread?
            ping_corrected.append(d["median_ms"] - (pings["candidate"] - pings["copy_peer"]))
            out(f"      empty round trip (ping) ms: candidate's process {pings['candidate']:.4f}, copy peer's "
                f"{pings['copy_peer']:.4f}")
    cv = None
    if len(medians) >= 2:
        cv = coefficient_of_variation(medians)
        out(f"   run-to-run coefficient of variation over {len(medians)} scorings: {cv:.3%} (target <= 0.5%); "
            f"wall time per scoring {min(walls):.1f}-{max(walls):.1f} s")
        # not a score: the candidate's process is alive during the loop and could slow the copy peer's
        # calls there; printed to see how much of the spread the clean phases' baseline adds
        out(f"   the same with the loop's copy-peer calls as the baseline (a diagnostic, not the score): "
            f"{', '.join(f'{t:.4f}' for t in in_loop)} ms, CV {coefficient_of_variation(in_loop):.3%}")
        results.setdefault("in_loop_baseline_cv", []).append(coefficient_of_variation(in_loop))
        if len(ping_corrected) == len(medians):
            out(f"   the time less the two processes' ping difference (a diagnostic, not the score): "
                f"{', '.join(f'{t:.4f}' for t in ping_corrected)} ms, CV {coefficient_of_variation(ping_corrected):.3%}")
            results.setdefault("ping_corrected_cv", []).append(coefficient_of_variation(ping_corrected))
    if primary:
        results["scorer_cv"] = cv
        results["reference_scorings_ms"] = medians
    return cv


def _ms(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def pin_comparison(out: Tee, env, ref_dir: Path, scorings: int, results: dict) -> None:
    """The reference scored `scorings` times without and with pin_cpus (scoring/kernel/cpus.py),
    alternating, so that drift during the run falls on both; the CV of each."""
    from scoring.kernel.stats import coefficient_of_variation
    from scoring.runner import score_candidate

    out("   pin_cpus: the reference scored alternately not pinned / pinned (harness and copy peer on a "
        "core each, the candidate on the others):")
    medians: dict[bool, list[float]] = {False: [], True: []}
    for k in range(scorings):
        for pinned in (False, True):
            r = score_candidate(with_main_params(env, pin_cpus=True) if pinned else env, "main", ref_dir)
            label = "pinned    " if pinned else "not pinned"
            results.setdefault("pin_scorings", []).append(r.as_dict())
            if not r.valid:
                out(f"      {label} {k + 1}: INVALID ({r.reason}): {r.message}")
                continue
            d = r.details
            medians[pinned].append(d["median_ms"])
            where = d.get("cpus")
            out(f"      {label} {k + 1}: {d['median_ms']:.4f} ms (harness {d['harness_median_ms']:.4f}, copy peer "
                f"clean {d['copy_harness_median_ms']:.4f} / in loop {d['copy_in_loop_harness_median_ms']:.4f}; "
                f"in-loop estimate {d['in_loop_estimate_ms']:.4f}; "
                + ("not pinned" if not where else f"harness CPU {where['harness']}, copy peer {where['copy_peer']}, "
                   f"candidate {len(where['candidate'])} CPUs, idle siblings {where['idle_siblings']}") + ")")
    for pinned, values in medians.items():
        if len(values) >= 2:
            cv = coefficient_of_variation(values)
            results["scorer_cv_pinned" if pinned else "scorer_cv_not_pinned_alternating"] = cv
            out(f"   {'pinned' if pinned else 'not pinned'}: CV {cv:.3%} over {len(values)} scorings "
                f"(median {statistics.median(values):.4f} ms)")


def starting_scorings(out: Tee, env, start_dir: Path, start_scorings: int, results: dict) -> None:
    from scoring.runner import score_candidate

    starts = []
    for k in range(start_scorings):
        r = score_candidate(env, "main", start_dir)
        results.setdefault("starting_scorings", []).append(r.as_dict())
        if r.valid:
            starts.append(r.details["median_ms"])
            out(f"   starting solution {k + 1}: {r.details['median_ms']:.4f} ms (raw {r.raw:.4f}; "
                f"{r.details['ratio_to_copy_floor']:.2f}x floor; RE-Bench normalized "
                f"{r.details['rebench_normalized']:.3f}; wall {r.duration_s:.1f} s)")
        else:
            out(f"   starting solution {k + 1}: INVALID ({r.reason}): {r.message}")
    if starts:
        results["starting_ms"] = statistics.median(starts)


def controls_section(out: Tee, env, results: dict, only: list[str]) -> None:
    from scoring.runner import score_candidate

    expected = tomllib.loads((CONTROLS / "controls.toml").read_text())
    if only:
        expected = {name: spec for name, spec in expected.items() if name in only}
    env = with_main_params(env, call_timeout_s=30)
    out(f"\n4. negative controls on the GPU ({len(expected)}; expected verdicts from controls.toml):")
    rows, passed = [], 0
    for name, spec in sorted(expected.items()):
        r = score_candidate(env, "main", CONTROLS / name, timeout_s=120)
        verdict = "valid" if r.valid else r.reason
        ok = verdict in spec["gpu"]
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
        rows.append({"control": name, "item": spec["item"], "verdict": verdict, "expected": spec["gpu"], "ok": ok,
                     "message": r.message[:300], "note": note})
        out(f"   {'PASS' if ok else 'FAIL'}  {name:22s} {verdict:22s} {note}  — {r.message[:160]}")
    results.setdefault("controls", []).extend(rows)
    out(f"   {passed} of {len(expected)} controls got an expected verdict")


def calibration_section(out: Tee, env, results: dict) -> None:
    from scoring.calibrate import calibrate

    out("\n5. calibration on this GPU (raw = ln(median ms)):")
    start_ms, refs = results.get("starting_ms"), results.get("reference_scorings_ms")
    if start_ms and refs:
        ref_ms = statistics.median(refs)
        results["calibration_main"] = {"start": math.log(start_ms), "reference": math.log(ref_ms)}
        out(f"   main: start {math.log(start_ms):.4f} ({start_ms:.4f} ms), reference "
            f"{math.log(ref_ms):.4f} ({ref_ms:.4f} ms)  (from section 3)")
    try:
        calibration, raws = calibrate(env, "tiny", runs=3)
    except Exception as exc:  # noqa: BLE001 - report and go on
        out(f"   tiny: FAILED: {type(exc).__name__}: {exc}")
        return
    results["calibration_tiny"] = {"start": calibration.start, "reference": calibration.reference, **raws}
    out(f"   tiny: start {calibration.start:.4f} ({math.exp(calibration.start):.4f} ms), reference "
        f"{calibration.reference:.4f} ({math.exp(calibration.reference):.4f} ms); raws {raws}")


def preflight(out: Tee) -> None:
    """Does the scorer's process, started with the runner's clean environment, see the GPU?"""
    from scoring.runner import _host_env

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-I", "-c", "import torch; print(torch.cuda.is_available())"],
                              env=_host_env(Path(tmp)), capture_output=True, text=True, timeout=120)
    if proc.stdout.strip() != "True":
        out("WARNING: a process started with the runner's clean environment (scoring/runner.py _host_env) "
            f"does not see the GPU ({(proc.stdout + proc.stderr).strip()[-300:]}); the scorer will take the "
            "interpreter path. Pass the variables this machine needs (e.g. LD_LIBRARY_PATH) through _host_env.")
    else:
        out("preflight: the scorer's clean environment sees the GPU")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--scorings", type=int, default=5)
    parser.add_argument("--start-scorings", type=int, default=3)
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, from {','.join(SECTIONS)}")
    parser.add_argument("--controls", default="", help="comma-separated control names (default: all)")
    parser.add_argument("--smoke-limit", type=int, default=300, help="seconds the smoke check may take")
    parser.add_argument("--pin", action="store_true",
                        help="section 3 also scores the reference with pin_cpus (scoring/kernel/cpus.py) and prints its CV")
    parser.add_argument("--batches", default="",
                        help="comma-separated calls per timed request to compare in section 3, e.g. 1,8 (default: "
                             "the manifest's); the first also scores the starting solution and the controls")
    args = parser.parse_args()
    try:
        batches = [int(b) for b in args.batches.split(",") if b.strip()] or [None]
    except ValueError:
        parser.error(f"--batches takes whole numbers separated by commas, got {args.batches!r}")
    from scoring.kernel.protocol import MAX_BATCH

    if any(b is not None and not 1 <= b <= MAX_BATCH for b in batches):
        parser.error(f"--batches: each must be 1 to {MAX_BATCH} (scoring/kernel/protocol.py), got {args.batches!r}")
    sections = [s for s in args.sections.split(",") if s]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")

    from scoring.kernel.protocol import find_cuda

    torch, gpu = find_cuda()
    if torch is None:
        print(f"benchmarks/triton_cumsum.py needs a CUDA GPU: {gpu}. Run it on the GPU machine.", file=sys.stderr)
        return 2
    from benchmarks.machine import machine_line
    from environments.registry import load_registry

    import triton

    started = time.monotonic()
    date = dt.date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    part = "" if sections == list(SECTIONS) else "_" + "-".join(sections)
    stem = args.out / f"triton_cumsum_{slug}_{date}{part}"
    out, results = Tee(stem.with_suffix(".txt")), {"gpu": gpu, "sections": sections}

    def save() -> None:
        stem.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))

    out(f"triton_cumsum benchmark, {date}; sections {', '.join(sections)}")
    out(machine_line())
    out(f"GPU: {gpu}; torch {torch.__version__} (CUDA {torch.version.cuda}); triton {triton.__version__}")
    preflight(out)
    env, _ = load_registry().resolve("triton_cumsum")
    steps = {"smoke": lambda: smoke_section(out, results, args.smoke_limit),
             "solutions": lambda: solutions_section(out, torch, results),
             "scorer": lambda: scorer_section(out, env, args.scorings, args.start_scorings, results, batches,
                                              args.pin),
             "controls": lambda: controls_section(out, with_batch(env, batches[0]), results,
                                                  [c for c in args.controls.split(",") if c]),
             "calibrate": lambda: calibration_section(out, env, results)}
    for name in sections:
        steps[name]()
        save()
        if name == "smoke" and not results["smoke_ok"]:
            out("\nstopping: a scan is wrong or does not finish (timing it could hang this process)")
            return 1
    out(f"\nbenchmark wall time: {time.monotonic() - started:.0f} s")
    print(f"written: {stem}.txt and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
