"""[calibration] per_machine: read from the manifest's calibration table only, as a boolean."""

from __future__ import annotations

from test_env_manifest import GOOD, edit, load_bad, make_env, only

from environments.manifest import load_environment
from environments.registry import load_registry


def test_per_machine_is_off_unless_asked(tmp_path):
    env, problems = load_environment(make_env(tmp_path, "env_x", GOOD.format(name="env_x")))
    assert problems == [] and env.calibrate_per_machine is False
    env, problems = load_environment(make_env(tmp_path, "env_y", edit("start = -0.6", "start = -0.6\nper_machine = true")
                                              .replace("env_x", "env_y")))
    assert problems == [] and env.calibrate_per_machine is True
    assert env.calibration.start == -0.6  # the figures are still the defaults


def test_per_machine_must_be_a_boolean(tmp_path):
    problem = only(load_bad(tmp_path, edit("start = -0.6", 'start = -0.6\nper_machine = "yes"')), "calibration.per_machine")
    assert "expected" in problem.message and "boolean" in problem.message


def test_per_machine_belongs_to_the_environment_not_a_variant(tmp_path):
    text = GOOD.format(name="env_x") + "\n[variants.tiny.calibration]\nstart = 0.0\nreference = -1.0\nper_machine = true\n"
    problem = only(load_bad(tmp_path, text), "variants.tiny.calibration.per_machine")
    assert "unknown key" in problem.message


def test_triton_cumsum_is_calibrated_per_gpu():
    env = load_registry().get("triton_cumsum")
    assert env.calibrate_per_machine and env.hardware.gpu
