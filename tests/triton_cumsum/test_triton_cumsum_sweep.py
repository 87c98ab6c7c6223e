"""The GPU benchmark's guards, on the CPU: the smoke check runs every configuration the sweep times (one
list), a configuration that hangs costs its row limit and not the GPU call (the smoke's watchdog, the
sweep's), controls accept the confined verdict only where the candidate ran with the piece that defeats
the cheat, unknown controls are a usage error, and no run overwrites another's record."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import types

from triton_cumsum_support import ROOT, require_kernel_stack

require_kernel_stack()

from test_triton_cumsum_benchmark import bench  # noqa: E402  (benchmarks/triton_cumsum.py, TRITON_INTERPRET kept)

from benchmarks import triton_cumsum_controls as controls  # noqa: E402
from benchmarks import triton_cumsum_sweep as sweep  # noqa: E402

FAKE_SMOKE = textwrap.dedent('''
    import sys, time
    first = int(sys.argv[sys.argv.index("--first") + 1])
    print("@@ ready", flush=True)
    for k in range(first, 6):
        print("@@ begin", k, flush=True)
        if k == 2:
            time.sleep(600)  # a scan that never finishes
        if k == 4:
            print("row 4: FAILED: an illegal memory access", flush=True)
            sys.exit(4)  # a lost CUDA context: the process ends in the row
        print("row", k, "checked", flush=True)
        print("@@ end", k, "wrong" if k == 5 else "right", flush=True)
''')


def test_the_smoke_check_runs_every_configuration_the_sweep_times():
    """Before, the smoke check ran 6 scans of the sweep's 47 configurations."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "triton_cumsum_smoke.py"), "--list"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = [line.split(" ", 1)[1] for line in done.stdout.splitlines()]
    swept = [row.label.strip() for row in sweep.rows()]
    assert listed == [sweep.DEFAULT_LABEL, *swept]
    assert len(swept) == (len(sweep.THREE_PHASE_SWEEP) + 2 * len(sweep.REFERENCE_SWEEP) + len(sweep.PERSISTENT_SWEEP)
                          + len(sweep.OPTION_SWEEP) + len(sweep.CHUNKED_SWEEP))
    assert not hasattr(bench, "REFERENCE_SWEEP")  # the benchmark keeps no list of its own


def test_a_hanging_row_costs_its_limit_and_the_check_goes_on_from_the_next(tmp_path):
    script = tmp_path / "fake_smoke.py"
    script.write_text(FAKE_SMOKE)
    started = time.monotonic()
    report = sweep.run_smoke(lambda first: [sys.executable, str(script), "--first", str(first)], 6, row_limit_s=1.5,
                             total_limit_s=60)
    assert time.monotonic() - started < 20
    assert report.verdicts == {0: sweep.RIGHT, 1: sweep.RIGHT, 2: sweep.HUNG, 3: sweep.RIGHT, 4: sweep.FAILED,
                               5: sweep.WRONG}
    text = "\n".join(report.lines)
    assert "row 2: DID NOT FINISH within 1.5 s" in text and "row 4: FAILED: an illegal memory access" in text
    assert "@@" not in text


def test_the_smoke_check_stops_at_its_time_limit_and_at_a_child_that_never_starts(tmp_path):
    hang = tmp_path / "hang.py"
    hang.write_text("import time\nprint('@@ ready', flush=True)\nprint('@@ begin 0', flush=True)\ntime.sleep(600)\n")
    started = time.monotonic()
    report = sweep.run_smoke(lambda first: [sys.executable, str(hang)], 3, row_limit_s=30, total_limit_s=1.5)
    assert set(report.verdicts.values()) == {sweep.UNCHECKED} and time.monotonic() - started < 10
    assert "time limit was reached" in "\n".join(report.lines)
    mute = tmp_path / "mute.py"
    mute.write_text("import time\ntime.sleep(600)\n")
    report = sweep.run_smoke(lambda first: [sys.executable, str(mute)], 3, row_limit_s=1, total_limit_s=60,
                             start_limit_s=1.5)
    assert set(report.verdicts.values()) == {sweep.UNCHECKED} and time.monotonic() - started < 20
    assert "did not start within 1.5 s" in "\n".join(report.lines)


def test_section_0_records_each_configurations_verdict_and_the_sweep_times_only_the_right_ones(tmp_path):
    script = tmp_path / "fake_smoke.py"
    script.write_text(FAKE_SMOKE.replace("range(first, 6)", f"range(first, {len(sweep.smoke_rows())})"))
    out, results = bench.Tee(tmp_path / "out.txt"), {}
    bench.smoke_section(out, results, limit_s=60, row_limit_s=1.5,
                        argv_from=lambda first: [sys.executable, str(script), "--first", str(first)])
    labels = [row.label for row in sweep.smoke_rows()]
    assert results["smoke"][labels[2]] == sweep.HUNG and results["smoke"][labels[4]] == sweep.FAILED
    assert results["smoke"][labels[0]] == sweep.RIGHT and not results["smoke_ok"]
    text = (tmp_path / "out.txt").read_text()
    assert f"NOT TIMED: {labels[2].strip()}: did not finish" in text


def test_a_sweep_row_that_runs_past_its_limit_ends_the_process_and_says_which(tmp_path):
    code = textwrap.dedent(f'''
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from benchmarks.triton_cumsum_sweep import RowWatchdog
        dog = RowWatchdog(print, 1.0, lambda: print("saved", flush=True))
        print("first", dog.run("fast row", lambda a: a * 2, 21), flush=True)
        time.sleep(1.5)  # the first row's timer was cancelled: nothing fires
        dog.run("   slow row", time.sleep, 600)
        print("not reached")
    ''')
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["first 42", "   slow row: DID NOT FINISH within 1 s: stopping the benchmark",
                                        "saved"]
    assert time.monotonic() - started < 15


def test_a_control_accepts_its_confined_verdict_only_where_every_process_had_the_piece():
    spec = controls.control_specs()["reads_scorer_process"]
    assert spec["confined_by"] == "pid" and "valid" in spec["gpu_confined"] and "valid" not in spec["gpu"]
    assert "valid" in controls.accepted_verdicts(spec, {"candidate_confinement": ["dev+pid+shm"]})
    for ran in (["covers only"], ["none"], [], ["pid", "covers only"], ["dev+shm"]):
        assert controls.accepted_verdicts(spec, {"candidate_confinement": ran}) == spec["gpu"], ran
    assert controls.accepted_verdicts(spec, None) == spec["gpu"]


def test_section_4_passes_a_cheat_that_confinement_left_nothing_to_cheat_with(monkeypatch, tmp_path):
    """Before, reads_scorer_process came back valid on a GPU whose probe granted the PID namespace and
    was printed as FAIL."""
    def score(env, variant, folder, timeout_s):
        details = {"median_ms": 4.6, "candidate_confinement": [confinement]}
        return types.SimpleNamespace(valid=True, reason=None, message="median 4.6 ms", details=details)

    monkeypatch.setattr("scoring.runner.score_candidate", score)
    for confinement, verdict in (("dev+pid", "PASS"), ("covers only", "FAIL")):
        out, results = bench.Tee(tmp_path / f"{verdict}.txt"), {}
        controls.controls_section(out, None, results, ["reads_scorer_process"])
        assert results["controls"][0]["ok"] is (verdict == "PASS")
        assert f"{verdict}  reads_scorer_process" in (tmp_path / f"{verdict}.txt").read_text()


def test_an_unknown_control_is_a_usage_error_naming_the_known_ones():
    """Before, --controls with an unknown name ran no control at all."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "triton_cumsum.py"), "--controls",
                           "neg_view,no_such_control", "--sections", "controls"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "unknown control(s) no_such_control; choose from " in done.stderr, done.stderr
    assert "reads_scorer_process" in done.stderr


def test_a_second_run_the_same_day_keeps_the_first_runs_record(tmp_path):
    first = bench.record_stem(tmp_path, "triton_cumsum_gpu_2026-11-23_smoke")
    assert first == tmp_path / "triton_cumsum_gpu_2026-11-23_smoke"
    first.with_suffix(".txt").write_text("the first run")
    second = bench.record_stem(tmp_path, "triton_cumsum_gpu_2026-11-23_smoke")
    assert second.name == "triton_cumsum_gpu_2026-11-23_smoke_2"
    second.with_suffix(".json").write_text("{}")
    assert bench.record_stem(tmp_path, "triton_cumsum_gpu_2026-11-23_smoke").name.endswith("_smoke_3")
