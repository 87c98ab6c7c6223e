"""`rearena env calibrate` measures this machine; `rearena score` then gives start ≈ 0 and reference ≈ 1."""

import json
import os
import subprocess
import sys

import pytest

from testpaths import REPO


def run(tmp_path, *args):
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"))
    env.pop("REARENA_ENVIRONMENTS", None)
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_calibrate_then_score_start_and_reference(tmp_path):
    from environments.registry import load_registry, materialize_candidate
    from scoring.calibrate import calibration_digest

    out = run(tmp_path, "env", "calibrate", "rolling_median:tiny", "--runs", "3")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "stored for hardware" in out.stdout
    env, _ = load_registry().resolve("rolling_median:tiny")
    assert f"stored under digest {calibration_digest(env, 'tiny')} " in out.stdout
    start = materialize_candidate(env, "tiny", tmp_path / "start")
    ref = materialize_candidate(env, "tiny", tmp_path / "ref", with_reference=True)
    s = json.loads(run(tmp_path, "score", "rolling_median:tiny", str(start), "--json").stdout)
    r = json.loads(run(tmp_path, "score", "rolling_median:tiny", str(ref), "--json").stdout)
    assert s["calibration"]["source"] == "measured" and r["calibration"]["source"] == "measured"
    assert s["calibration"]["digest"] == calibration_digest(env, "tiny")
    assert s["valid"] and r["valid"]
    for one in (s, r):  # normalized with the measured start and reference, exactly
        cal = one["calibration"]
        assert one["normalized"] == pytest.approx((one["raw"] - cal["start"]) / (cal["reference"] - cal["start"]))
    # this machine's times against its own calibration (timing on a shared 2-core machine: generous)
    assert abs(s["normalized"]) < 0.35, s
    assert abs(r["normalized"] - 1) < 0.35, r
