"""The negative-control suite of restricted_mlm: every cheating or broken model is rejected with its
own reason and a message that says what it did (controls/controls.toml lists them all). Controls
whose cheat the static source check catches first are scored a second time with that check off, to
show the runtime checker alone catches them too."""

from __future__ import annotations

import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from envsupport import check_control_folders, check_verdict, control_candidate, require_modules, score_directly

require_modules("torch", "numpy")

NAME = "restricted_mlm"
CONTROLS = Path(__file__).resolve().parent / "controls"
EXPECTED = tomllib.loads((CONTROLS / "controls.toml").read_text())
RUNTIME = sorted(name for name, spec in EXPECTED.items() if "runtime" in spec)
OVERRIDES = {"hang": {"call_timeout_s": 2}}
SMALL = {"n_seqs": 64, "batch": 64}  # one forward call: every check runs on the first call


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> dict:
    """Score every control once (and the RUNTIME ones again without the static check), two at a time."""
    tmp = tmp_path_factory.mktemp("controls")
    jobs = [(name, {}) for name in sorted(EXPECTED)] + [(name, {"static_check": False}) for name in RUNTIME]

    def run(job):
        name, extra = job
        folder = control_candidate(NAME, CONTROLS / name, tmp / ("runtime" if extra else "static"))
        key = (name, "runtime" if extra else "static")
        return key, score_directly(NAME, folder, seed=None, **SMALL, **OVERRIDES.get(name, {}), **extra)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, jobs))


def test_every_control_folder_is_listed():
    check_control_folders(CONTROLS, EXPECTED)
    for name, spec in EXPECTED.items():
        assert spec["reason"] and spec["hint"], name
        assert (CONTROLS / name / "model.py").is_file(), name


def test_each_kind_of_cheat_has_its_own_reason():
    # with the static check on, or (runtime) off: the tripwire's controls name `sys`, which the static check refuses
    reasons = {spec["reason"] for spec in EXPECTED.values()} | {spec["runtime"] for spec in EXPECTED.values()
                                                                 if "runtime" in spec}
    assert {"disallowed_op", "disallowed_source", "unchecked_forward", "data_escape", "forbidden_access",
            "wrong_shape", "timeout", "crash"} <= reasons
    assert len(reasons) >= 11, sorted(reasons)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_control_gets_its_verdict(name, verdicts):
    spec, result = EXPECTED[name], verdicts[(name, "static")]
    check_verdict(name, result, spec["reason"], spec["hint"])


@pytest.mark.parametrize("name", RUNTIME)
def test_runtime_checker_alone_catches_what_the_source_check_caught(name, verdicts):
    spec, result = EXPECTED[name], verdicts[(name, "runtime")]
    assert not result["valid"], f"{name} was scored as valid without the static check: {result['message']}"
    assert result["reason"] == spec["runtime"], f"{name}: {result['reason']}: {result['message']}"
    assert spec["runtime_hint"] in result["message"], f"{name}: {result['message']}"
