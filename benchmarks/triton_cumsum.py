"""triton_cumsum on a CUDA GPU: copy floor, solutions, the scorer's run-to-run spread, negative controls.

    python benchmarks/triton_cumsum.py [--out benchmarks/results] [--scorings 5]
        [--sections smoke,solutions,scorer,controls,calibrate] [--controls NAME,...] [--batches 1,8] [--pin]
        [--smoke-limit 300] [--row-limit 60]

Prints, for n = 100,000,000 int32 on this GPU:
0. whether every configuration that section 2 times (benchmarks/triton_cumsum_sweep.py: one list for
   both) and the reference solution as the scorer runs it are right and finish
   (benchmarks/triton_cumsum_smoke.py, in a child process watched row by row: a configuration that runs
   past `--row-limit` is killed and the check goes on from the next one, all within `--smoke-limit`);
1. the memory-copy floor (a device copy timed with CUDA events after an L2 flush);
2. the starting solution, torch.cumsum alone, a plain three-phase Triton scan
   (scoring/kernel/three_phase.py) and the reference solution with its tile sizes and options swept,
   each timed in this process with CUDA events (median of 50 calls, each after an L2 flush), as
   milliseconds and as a ratio to the floor; a configuration that section 0 did not find right is not
   timed, and one that runs past `--row-limit` ends the benchmark (exit status 3);
3. the scorer (`scoring.runner.score_candidate`, the whole protocol) on the reference solution,
   `--scorings` times: every median, and the coefficient of variation (target <= 0.5%), for each
   number of calls per timed request in `--batches` (the variant's `batch`), and with `--pin` once
   more with the timed processes on CPUs of their own (`pin_cpus`, scoring/kernel/cpus.py); and on
   the starting solution;
4. every negative control of tests/triton_cumsum/controls/controls.toml scored on the GPU, its
   verdict against the accepted ones (benchmarks/triton_cumsum_controls.py);
5. the per-GPU calibration: ln(median ms) of the starting and reference solutions for the main
   variant (from section 3) and, measured here, for the tiny variant (scoring/calibrate.py).

The output is also written, line by line as it is printed, to
OUT/triton_cumsum_<gpu>_<date>[_<sections>][_<k>].txt (the sections' names joined by "-" unless all
ran; _2, _3 ... where an earlier run left a record of that name: none is overwritten), and the
figures to .json beside it after each section, so a run cut short keeps what it measured. On a
machine without a CUDA GPU the script says so and exits with status 2.
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.pop("TRITON_INTERPRET", None)  # compile and run the kernels for real

from benchmarks import triton_cumsum_sweep as sweep  # noqa: E402  (one list of configurations: sweep and smoke)
from benchmarks.triton_cumsum_controls import control_specs, controls_section  # noqa: E402

N = 100_000_000
ROW_LIMIT_S = 60  # a configuration of the sweep (its smoke check, or its timing) that runs longer is stopped
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


def smoke_section(out: Tee, results: dict, limit_s: int = 300, row_limit_s: float = ROW_LIMIT_S,
                  argv_from=None) -> sweep.SmokeReport:
    """Section 0: every configuration the sweep times, checked in a child process watched row by row
    (triton_cumsum_sweep.run_smoke); results["smoke"]: each row's verdict by label."""
    out(f"\n0. are the scans right, and do they finish? (benchmarks/triton_cumsum_smoke.py, limit {limit_s} s, "
        f"{row_limit_s:g} s a configuration)")
    rows = sweep.smoke_rows()
    if argv_from is None:
        def argv_from(first: int) -> list[str]:
            return [sys.executable, str(REPO / "benchmarks" / "triton_cumsum_smoke.py"), "--first", str(first)]
    report = sweep.run_smoke(argv_from, len(rows), row_limit_s, limit_s)
    for line in report.lines[-60:]:
        out("   " + line)
    bad = {rows[i].label.strip(): verdict for i, verdict in sorted(report.verdicts.items()) if verdict != sweep.RIGHT}
    unchecked = sum(verdict == sweep.UNCHECKED for verdict in bad.values())
    out(f"   {len(rows) - len(bad)} of {len(rows)} configurations right and finished"
        + "".join(f"\n   NOT TIMED: {label}: {verdict}" for label, verdict in bad.items() if verdict != sweep.UNCHECKED)
        + (f"\n   NOT TIMED: {unchecked} configurations unchecked (the check stopped before them)" if unchecked else ""))
    results["smoke"] = {rows[i].label: verdict for i, verdict in sorted(report.verdicts.items())}
    results["smoke_ok"] = not bad
    return report


def solutions_section(out: Tee, torch, results: dict, row_limit_s: float = ROW_LIMIT_S, save=lambda: None) -> None:
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
    configs: dict[str, dict] = {}  # reference rows: the solution's settings that run them
    default = {"BLOCK_CUDA": reference.BLOCK_CUDA, "WARPS_CUDA": reference.WARPS_CUDA,
               "CUDA_OPTIONS": reference.CUDA_OPTIONS}
    smoke = results.get("smoke")  # each configuration's smoke verdict, where section 0 ran
    for row in sweep.rows():
        label = row.label
        if row.kind == "reference":
            config = {"BLOCK_CUDA": row.block, "WARPS_CUDA": row.warps, "CUDA_OPTIONS": row.options}
            if config == default:
                label += " (the solution's default)"
            configs[label] = config
        if smoke is not None and smoke.get(row.label) != sweep.RIGHT:
            rows.append((label, f"not timed: the smoke check found it {smoke.get(row.label, sweep.UNCHECKED)}", True))
            continue
        rows.append((label, sweep.scan(row, reference, three), True))
    results["reference_configs"] = configs
    out(f"\n2. solutions, timed in this process (CUDA events, median of 50 calls, L2 flushed before each; "
        f"{row_limit_s:g} s a row at most):")
    results["solutions"] = {}
    watchdog = sweep.RowWatchdog(out, row_limit_s, save)
    for label, fn, check in rows:
        if isinstance(fn, str):  # skipped: the smoke check found it wrong, or it did not finish there
            out(f"   {label}: {fn}")
            results["solutions"][label] = fn
            continue
        try:
            ms = watchdog.run(label, _timed_if_right, torch, harness, fn, x, expected, check)
        except Exception as exc:  # a kernel that fails to compile or run on this GPU
            out(f"   {label}: FAILED: {type(exc).__name__}: {str(exc)[:300]}")
            results["solutions"][label] = f"failed: {exc}"
            continue
        if ms is None:
            out(f"   {label}: WRONG RESULT")
            results["solutions"][label] = "wrong"
            continue
        results["solutions"][label] = ms
        out(f"   {label:78s} {ms:8.4f} ms  {ms / floor:5.2f}x floor")
    line = fastest_reference(results["solutions"], floor, configs)
    if line:
        out("   " + line)
    del x, expected, harness
    torch.cuda.empty_cache()


def _timed_if_right(torch, harness, fn, x, expected, check: bool) -> float | None:
    """fn's time (event_time_ms), or None when check and its output is wrong."""
    if check and not torch.equal(fn(x), expected):
        return None
    return event_time_ms(torch, harness, fn, x)


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


def record_stem(folder: Path, name: str) -> Path:
    """folder/name, or folder/name_2, _3 ... where an earlier run (the same day, sections and GPU) left
    its record: a run never overwrites another's."""
    stem, k = folder / name, 1
    while stem.with_suffix(".txt").exists() or stem.with_suffix(".json").exists():
        k += 1
        stem = folder / f"{name}_{k}"
    return stem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--scorings", type=int, default=5)
    parser.add_argument("--start-scorings", type=int, default=3)
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, from {','.join(SECTIONS)}")
    parser.add_argument("--controls", default="", help="comma-separated control names (default: all)")
    parser.add_argument("--smoke-limit", type=int, default=300, help="seconds the smoke check may take")
    parser.add_argument("--row-limit", type=float, default=ROW_LIMIT_S,
                        help="seconds one configuration may take in the smoke check, or to be timed in the sweep")
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
    controls = [c for c in args.controls.split(",") if c]
    known = control_specs()
    unknown = [c for c in controls if c not in known]
    if unknown:
        parser.error(f"unknown control(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}")

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
    stem = record_stem(args.out, f"triton_cumsum_{slug}_{date}{part}")
    out, results = Tee(stem.with_suffix(".txt")), {"gpu": gpu, "sections": sections}

    def save() -> None:
        stem.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))

    out(f"triton_cumsum benchmark, {date}; sections {', '.join(sections)}")
    out(machine_line())
    out(f"GPU: {gpu}; torch {torch.__version__} (CUDA {torch.version.cuda}); triton {triton.__version__}")
    preflight(out)
    env, _ = load_registry().resolve("triton_cumsum")
    steps = {"smoke": lambda: smoke_section(out, results, args.smoke_limit, args.row_limit),
             "solutions": lambda: solutions_section(out, torch, results, args.row_limit, save),
             "scorer": lambda: scorer_section(out, env, args.scorings, args.start_scorings, results, batches,
                                              args.pin),
             "controls": lambda: controls_section(out, with_main_params(with_batch(env, batches[0]), call_timeout_s=30),
                                                  results, controls),
             "calibrate": lambda: calibration_section(out, env, results)}
    for name in sections:
        steps[name]()
        save()
        if name == "smoke" and results["smoke"].get(sweep.DEFAULT_LABEL) != sweep.RIGHT:
            out("\nstopping: the reference solution as the scorer runs it is wrong or does not finish (timing it "
                "could hang this process)")
            return 1
    out(f"\nbenchmark wall time: {time.monotonic() - started:.0f} s")
    print(f"written: {stem}.txt and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
