"""A trial's container is checked for its network each time it is used, against a real daemon: a review found the
check (no network unless the environment asks for one) made only when a container was created, so a container
found again (the console restarted, the daemon restarted, one made by hand) was used whatever its network."""

from __future__ import annotations

import secrets
from dataclasses import replace

import pytest

from console.sandbox import SandboxError, get_sandbox
from environments.model import Hardware
from scoring import containers

pytestmark = pytest.mark.slow


@pytest.fixture
def own_network(docker_ready):
    """A user-defined docker network of this test; removed afterwards, with what is still attached to it."""
    name = f"rearena-test-net-{secrets.token_hex(4)}"
    network = docker_ready.networks.create(name, labels={"rearena.test": "network_reuse"})
    yield name
    for container in docker_ready.containers.list(all=True, filters={"network": name}):
        containers.remove_container(container)
    network.remove()


def test_a_container_given_a_network_by_hand_is_refused_stopped_or_running(docker_trial, docker_service,
                                                                          own_network, docker_ready):
    trial, sandbox = docker_trial
    old = sandbox.container
    old.reload()
    image, labels, name = old.image.id, old.labels, old.name
    containers.remove_container(old)  # in its place, under its name and labels: one made by hand with a network
    by_hand = docker_ready.containers.create(image, ["sleep", "infinity"], name=name, labels=labels, init=True,
                                             network=own_network, user="root")
    data_dir = docker_service.store.data_dir
    with pytest.raises(SandboxError, match=rf"{name} of trial {trial.id} is refused: it has network mode "
                                           rf"'{own_network}' \(networks: {own_network}\), but its environment asks "
                                           rf"for no network .*docker rm -f {name}"):
        get_sandbox(docker_service.store.trial(trial.id), data_dir)
    by_hand.reload()
    assert by_hand.status == "created"  # never started
    by_hand.start()
    with pytest.raises(SandboxError, match="is refused: it has network mode"):
        get_sandbox(docker_service.store.trial(trial.id), data_dir)
    marker = by_hand.exec_run(["test", "-e", "/home/participant/.rearena/created"], user="root")
    assert marker.exit_code != 0  # nothing was copied into it
    containers.remove_container(by_hand)
    again = get_sandbox(docker_service.store.trial(trial.id), data_dir)  # removed: a new one, without a network
    assert again.container.attrs["HostConfig"]["NetworkMode"] == "none"
    assert again.exec("cat solution.py >/dev/null && echo ok", timeout=30).output == "ok\n"


def test_a_container_whose_environment_changed_its_network_is_refused(docker_service, own_network, monkeypatch):
    """Created with the network its environment asked for, then the manifest (or REARENA_DOCKER_NETWORK)
    changed: the container no longer matches, both ways."""
    registry = docker_service.registry
    hardware = Hardware(cpus=1, memory_gb=0.25, disk_gb=0.25, pids=96, network=True)
    with_network = registry.environments["sum_env"] = replace(registry.environments["sum_env"], hardware=hardware)
    monkeypatch.setenv("REARENA_DOCKER_NETWORK", own_network)
    trial = docker_service.create("sum_env:tiny", "ada", sandbox="docker", start=True)
    data_dir = docker_service.store.data_dir
    sandbox = get_sandbox(trial, data_dir, env=with_network)  # found again, as created: used
    assert sandbox.container.attrs["HostConfig"]["NetworkMode"] == own_network
    without = replace(with_network, hardware=replace(hardware, network=False))
    with pytest.raises(SandboxError, match=rf"network mode '{own_network}'.*asks for no network"):
        get_sandbox(trial, data_dir, env=without)
    monkeypatch.setenv("REARENA_DOCKER_NETWORK", "host")  # asked for another network than it has
    with pytest.raises(SandboxError, match=rf"network mode '{own_network}'.*asks for network 'host' alone"):
        get_sandbox(trial, data_dir, env=with_network)
