"""The negative-control suite of fix_embedding: every cheating or broken candidate in controls/ is
rejected on tiny with the reason (and a fragment of the message) that controls.toml gives it."""

from __future__ import annotations

import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from envsupport import check_control_folders, check_verdict, control_candidate, require_modules, score_directly

require_modules("torch", "numpy")

NAME = "fix_embedding"
CONTROLS = Path(__file__).resolve().parent / "controls"
EXPECTED = tomllib.loads((CONTROLS / "controls.toml").read_text())
OVERRIDES = {"hang": {"call_timeout_s": 2}}
MARKER = Path("/tmp/fix_embedding_payload_ran")  # what the malicious pickle's payload would create


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> dict:
    """Score every control once, two at a time (each starts a process that imports torch)."""
    tmp = tmp_path_factory.mktemp("controls")
    MARKER.unlink(missing_ok=True)

    def run(name: str):
        candidate = control_candidate(NAME, CONTROLS / name, tmp)
        return name, score_directly(NAME, candidate, seed=None, **OVERRIDES.get(name, {}))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, sorted(EXPECTED)))


def test_every_control_folder_is_listed():
    check_control_folders(CONTROLS, EXPECTED)
    for name, spec in EXPECTED.items():
        assert spec["item"] and spec["reason"], name
        assert (CONTROLS / name / "solution.py").is_file(), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_control_gets_its_verdict(name, verdicts):
    spec, result = EXPECTED[name], verdicts[name]
    check_verdict(name, result, spec["reason"], spec["hint"])


def test_the_malicious_payload_never_ran(verdicts):
    assert verdicts["malicious_pickle"]["reason"] == "bad_weights"
    assert not MARKER.exists(), "torch.load ran the candidate's pickle payload"
