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


RUNNER_PROBE = '''

def _read(path, size=65536):
    # through libc, as a cheat would: the tripwire (an audit hook) would stop the probe at the scorer's /proc
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.open(path.encode(), 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), path)
    buf = ctypes.create_string_buffer(size)
    count = libc.read(fd, buf, size)
    libc.close(fd)
    return buf.raw[:max(count, 0)]


def _probe_runner():
    """The scorer's graph runner, as this process sees it: its uid, and whether a signal or its memory reach it."""
    import os
    import time

    deadline = time.time() + 60
    while time.time() < deadline:
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                argv = _read(f"/proc/{pid}/cmdline").split(b"\\0")
            except OSError:
                continue
            if b"graph_runner.py" in argv and argv[0].endswith(b"python3"):  # past its wrapper's uid switch
                status = _read(f"/proc/{pid}/status").decode()
                uid = [line.split()[1] for line in status.splitlines() if line.startswith("Uid:")][0]
                report = ["runner=found", f"runner_uid={uid}"]
                try:
                    os.kill(int(pid), 0)
                    report.append("signal=REACHED")
                except OSError:
                    report.append("signal=denied")
                try:
                    _read(f"/proc/{pid}/mem", 0)  # what ptrace needs too (PTRACE_MODE_ATTACH)
                    report.append("mem=OPENED")
                except OSError:
                    report.append("mem=denied")
                return " ".join(report)
        time.sleep(0.05)
    return "runner=unseen"


def load_model():
    import os

    raise RuntimeError(f"probe: uid={os.getuid()} {_probe_runner()}")
'''


@pytest.mark.slow
def test_restricted_mlms_graph_runner_is_out_of_the_candidates_reach_in_a_scoring_container(torch_registry,
                                                                                             tmp_path):
    """In a scoring container the graph runner (which runs the candidate's checked graph on the hidden
    batches) runs as a uid of its own: the candidate's process (uid 1000) can neither signal it nor open
    its memory, which a process of the same uid can there (docker's seccomp profile allows ptrace); with
    them it could make the runner answer logits computed with forbidden ops."""
    from scoring.docker_runner import score_in_container

    candidate = envsupport.control_candidate("restricted_mlm", REPO / "environments" / "restricted_mlm" / "starting",
                                             tmp_path)
    model = candidate / "model.py"
    model.write_text(model.read_text() + RUNNER_PROBE)
    env = torch_registry.get("restricted_mlm")
    tiny = env.variants["tiny"]  # without the static check, which refuses the probe's ctypes at once
    env = replace(env, variants={**env.variants, "tiny": replace(tiny, params={**tiny.params, "static_check": False})})
    result = score_in_container(env, "tiny", candidate)
    assert not result.valid and "probe: uid=1000 runner=found runner_uid=1001" in result.message, result
    assert "signal=denied" in result.message and "mem=denied" in result.message, result.message
