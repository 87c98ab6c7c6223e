"""[image] python_packages: the language-model environments get torch in their docker image.

The manifest's field and the build's pieces first (no daemon needed), then real images: the
participant can import torch in the container, and each of the four torch environments scores its
reference solution and a cheating candidate in a scoring container as it does on the host.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

import envsupport
from environments.manifest import load_environment
from environments.registry import load_registry
from scoring import containers, image_packages
from scoring.container_exec import ContainerError
from testpaths import REPO, TEST_ENV_ROOT

TORCH_ENVS = ("fix_embedding", "optimize_training", "restricted_mlm", "scaling_law")
# restricted_mlm's tiny variant scores 1,280 masked tokens of fresh text: its reference's normalized
# score over 40 secret seeds had s.d. 0.033 (0.921 .. 1.073), so 0.1 is only 3 s.d.; 0.2 is 6
SPREAD = {"restricted_mlm": 0.2}


def _sum_env_with(tmp_path: Path, image_table: str):
    folder = tmp_path / "sum_env"
    shutil.copytree(TEST_ENV_ROOT / "sum_env", folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = folder / "environment.toml"
    manifest.write_text(manifest.read_text() + "\n" + image_table + "\n")
    return load_environment(folder)


def test_the_torch_environments_ask_for_torch_in_their_image():
    registry = load_registry([REPO / "environments"])
    for name in TORCH_ENVS:
        packages = registry.get(name).image_packages
        assert any(p.startswith("torch==") for p in packages), name
    assert registry.get("rolling_median").image_packages == ()


def test_python_packages_are_read_and_go_into_the_dockerfile_and_recipe(tmp_path):
    env, problems = _sum_env_with(tmp_path, '[image]\npython_packages = ["numpy==2.4.6"]')
    assert not problems and env.image_packages == ("numpy==2.4.6",)
    text = containers.dockerfile_of(env)
    assert "useradd" in text and text.rstrip().endswith(f"python3 /tmp/{image_packages.CONTEXT_DIR}/install.py "
                                                        f"&& rm -rf /tmp/{image_packages.CONTEXT_DIR}")
    plain = replace(env, image_packages=())
    other = replace(env, image_packages=("numpy==2.4.5",))
    recipes = {containers._recipe(e, "base") for e in (env, plain, other)}
    assert len(recipes) == 3  # changing the packages rebuilds the image
    assert "install.py" not in containers.dockerfile_of(plain)


@pytest.mark.parametrize("table, expected", [
    ('[image]\npython_packages = "torch"', "got 'torch'"),
    ('[image]\npython_packages = ["torch", 3]', "got 3 (an integer) at position 2"),
    ('[image]\npython_packages = ["--index-url=http://evil"]', "at position 1"),
    ('[image]\npython_packages = [""]', "at position 1"),
    ('[image]\npackages = ["torch"]', "unknown"),
])
def test_bad_python_packages_are_named(tmp_path, table, expected):
    env, problems = _sum_env_with(tmp_path, table)
    assert env is None
    text = " ".join(f"{p.field}: {p.message}" for p in problems)
    assert "image." in text and expected in text, text


def test_platform_tags_cover_every_older_manylinux():
    tags = image_packages.platform_tags("x86_64", "2.36")
    assert tags[0] == "manylinux_2_36_x86_64" and "manylinux_2_28_x86_64" in tags
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_37_x86_64" not in tags
    assert image_packages.platform_tags("aarch64", "2.17")[-1] == "manylinux2014_aarch64"


# -- real images (a docker daemon) ---------------------------------------------------------


@pytest.fixture(scope="module")
def torch_registry(docker_ready):
    registry = load_registry([REPO / "environments"])
    for name in TORCH_ENVS:  # one build; the other three reuse its layers
        containers.ensure_image(registry.get(name))
    return registry


@pytest.mark.slow
def test_the_participant_imports_torch_in_the_container(torch_registry, docker_ready):
    image = containers.image_name(torch_registry.get("optimize_training"))
    out = docker_ready.containers.run(image, ["python3", "-c", "import torch, numpy, os; "
                                             "print(os.getuid(), torch.__version__, int(torch.ones(3).sum()))"],
                                      user="participant", remove=True, network_mode="none")
    uid, version, total = out.decode().split()
    assert (uid, total) == ("1000", "3") and version.startswith("2.13.0")


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCH_ENVS)
def test_the_reference_scores_in_a_scoring_container(torch_registry, name, tmp_path):
    from scoring.docker_runner import score_in_container

    result = score_in_container(torch_registry.get(name), "tiny", envsupport.reference_candidate(name, tmp_path))
    assert result.valid, result
    assert result.details.get("sandbox") == "docker"
    if name == "optimize_training":  # a time: its normalized score depends on the machine's load
        assert result.details["distance"] < result.details["bound"] / 10, result
    else:  # a loss or a regret: the same on any machine, but drawn on fresh secret text each time
        assert abs(result.normalized - 1) < SPREAD.get(name, 0.1), result


@pytest.mark.slow
@pytest.mark.parametrize("name, control, reason", [
    ("restricted_mlm", "bitcast_exp", "disallowed_op"),
    ("fix_embedding", "retrains_everything", "changed_frozen_weights"),
])
def test_a_cheat_is_caught_in_the_scoring_container_too(torch_registry, name, control, reason, tmp_path):
    from scoring.docker_runner import score_in_container

    folder = REPO / "tests" / name / "controls" / control
    assert folder.is_dir(), folder
    candidate = envsupport.control_candidate(name, folder, tmp_path)
    result = score_in_container(torch_registry.get(name), "tiny", candidate)
    assert not result.valid and result.reason == reason, result


@pytest.mark.slow
def test_a_package_that_cannot_be_had_fails_the_build_naming_it(docker_ready, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "no-index").as_uri())  # fails at once, without a network
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    env, problems = _sum_env_with(tmp_path, '[image]\npython_packages = ["rearena-no-such-package==1.0"]')
    assert not problems
    env = replace(env, name="packages_probe")
    with pytest.raises(ContainerError, match="rearena-no-such-package==1.0"):
        containers.build_image(env)
    assert not subprocess.run(["docker", "image", "inspect", containers.image_name(env)],
                              capture_output=True).returncode == 0
