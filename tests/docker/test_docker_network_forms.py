"""REARENA_DOCKER_NETWORK names a docker network; `container:NAME` is refused saying so, against a real daemon. A
review found it accepted, yet it could not work: docker refuses a hostname with it, and records the other
container's full id, so the network check refused even a container just made."""

from __future__ import annotations

from dataclasses import replace

import pytest

from console.sandbox import SandboxError, get_sandbox
from console.trials.errors import TrialError
from environments.model import Hardware
from scoring import containers

pytestmark = pytest.mark.slow


def test_a_container_network_mode_is_refused_naming_the_supported_forms(docker_service, docker_trial, monkeypatch):
    _, other = docker_trial  # a running container whose network it would join
    registry = docker_service.registry
    hardware = Hardware(cpus=1, memory_gb=0.25, disk_gb=0.25, pids=96, network=True)
    env = registry.environments["sum_env"] = replace(registry.environments["sum_env"], hardware=hardware)
    monkeypatch.setenv("REARENA_DOCKER_NETWORK", f"container:{other.container.name}")
    said = (rf"REARENA_DOCKER_NETWORK='container:{other.container.name}' is not supported: set it to the name of "
            r"a docker network \(docker network ls")
    with pytest.raises(TrialError, match=said):  # the trial's container is made at its creation
        docker_service.create("sum_env:tiny", "ada", sandbox="docker", start=True)
    trial = max(docker_service.store.trials(), key=lambda made: made.id)
    assert trial.environment == "sum_env" and trial.end_reason == "sandbox_failed"
    with pytest.raises(SandboxError, match=said):  # opened again later: the same
        get_sandbox(replace(trial, status="running"), docker_service.store.data_dir, env=env)
    scope = containers.scope_of(docker_service.store.data_dir)
    made = containers.client().containers.list(all=True, filters={"label": [f"rearena.db={scope}",
                                                                            f"rearena.trial={trial.id}"]})
    assert made == []  # nothing was created
