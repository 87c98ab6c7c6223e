"""Official scoring for docker trials: the scorer runs in a separate, disposable container.

    result = score_in_container(env, "tiny", Path(host_copy_of_workdir), calibration)

Same signature and verdicts as scoring.runner.score_candidate, but nothing runs on the
host. A fresh container is started from the environment's image (no network, read-only
root, tmpfs disks, the manifest's limits); the participant's container is not used.

- The scorer's files (the scoring package, the environment folder with its pristine starting/,
  the run's configuration with its secret key) go to /opt/rearena, a root-only (0700)
  tmpfs. They never enter the participant's container; reference solutions never
  enter any container.
- The candidate (a copy of the workdir) goes to /candidate, owned by `participant`.
- The scorer's process (scoring.host) runs as root, by absolute paths (/bin/sh, the image's python3 found
  on a PATH of absolute entries only), in /opt/rearena/run, with the image's search paths (PATH,
  LD_LIBRARY_PATH...) stripped of empty and relative entries: no entry names the working directory,
  so no library or program the candidate leaves in its folder stands in for the scorer's.
- The candidate's folder goes in as a tar walked without recursion, within runner.copy_cap(env):
  folders, regular files and symlinks that stay inside it; pipes, sockets, devices and links that reach
  outside (tree_walk.link_escapes: the scorer's process reads the folder as root) are left out
  (details.not_copied).
- Every candidate process the scorer starts
  goes through /opt/rearena/bin/candidate-python, which drops to uid 1000 with
  setpriv (no capabilities, no new privileges) before python starts. So the candidate
  can neither read the scorer, its seeds and key, nor write the result file. The scorer's
  helpers that run untrusted input (restricted_mlm's graph runner) go through
  /opt/rearena/bin/helper-python, to uid 1001 likewise: the candidate can neither signal
  nor trace them (docker's seccomp profile lets a process trace another of its uid).
- The verdict is the signed line that scoring.host writes to fd 3, a root-only file,
  read back by the runner and verified with the run's key, as in scoring.runner.
- A hang past the timeout, a flood or anything else: the container is killed; it is
  always removed afterwards (orphans of a dead console: console.sandbox.cleanup_orphans).
"""

from __future__ import annotations

import io
import json
import secrets
import tarfile
import tempfile
import time
from pathlib import Path

from environments.model import Calibration, Environment
from scoring import containers as dk
from scoring import stopping
from scoring.confine import SEARCH_PATHS, clean_search_paths
from scoring.container_exec import (ContainerError, TailBuffer, add_bytes, daemon_unreachable, describe_error,
                                    docker_errors, put_folder, run_exec, tar_folder, write_tar)
from scoring.result import ScoreResult
from scoring.runner import (DEFAULT_OUTPUT_CAP, HOST_BOOT, HOST_GRACE_S, REPO_ROOT, integrity_hash,
                            copy_cap, resolve_request, result_from_payload)
from scoring.tree_walk import TreeRefused

ROOT = "/opt/rearena"
CANDIDATE_DIR = "/candidate"
CANDIDATE_PYTHON = f"{ROOT}/bin/candidate-python"
START_SLACK_S = 5.0  # python start-up of the scorer's process inside the container
HELPER_PYTHON = f"{ROOT}/bin/helper-python"
PYTHON_TEXT = """#!/bin/sh
# {what}: drops from root to uid {uid} (no capabilities, no new privileges) before anything it runs starts.
exec setpriv --reuid={uid} --regid={uid} --clear-groups --no-new-privs --inh-caps=-all /usr/bin/python3 "$@"
"""
# the candidate's python; and the python of the scorer's helpers that run untrusted input (restricted_mlm's
# graph runner), under a uid of their own: a candidate's process cannot signal them, trace them or read
# their memory (same-uid ptrace works in a container: docker's seccomp profile allows it)
CANDIDATE_PYTHON_TEXT = PYTHON_TEXT.format(what="The candidate's python", uid=dk.PARTICIPANT_UID)
HELPER_PYTHON_TEXT = PYTHON_TEXT.format(what="The scorer's helpers' python", uid=dk.HELPER_UID)
SCORER_CWD = f"{ROOT}/run"  # root-only: nothing of the candidate's is in the scorer's working directory
SHELL = "/bin/sh"
# python3 resolved to an absolute path on the cleaned PATH (absolute entries only), then run by that path
RUN_SCORER = (f'umask 077; PY=$(command -v python3); case "$PY" in /*) ;; *) echo "no python3 on PATH" >&2; '
              f'exit 127;; esac; exec 3>{ROOT}/run/result <{ROOT}/run/config.json; rm -f {ROOT}/run/config.json; '
              f'exec "$PY" -I -B -c "$0" {ROOT}')


def _stopped(api, container_id: str, settle_s: float = 0.0) -> tuple[str, str] | None:
    """(reason, message) saying why the scoring container no longer runs; None while it does (after up to
    settle_s of asking again)."""
    deadline = time.monotonic() + settle_s
    while True:
        try:
            state = api.inspect_container(container_id)["State"]
        except Exception as exc:  # noqa: BLE001 - removed meanwhile, or the daemon is gone
            if daemon_unreachable(exc):
                return "sandbox_error", f"the scoring container failed: {describe_error(exc)}"
            return "sandbox_error", f"the scoring container is gone before the scoring ended ({type(exc).__name__})"
        if not state.get("Running") or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if state.get("Running"):
        return None
    if state.get("OOMKilled"):
        return "out_of_memory", "out of memory: the scoring container reached its memory limit and was stopped"
    return "sandbox_error", (f"the scoring container stopped before the scoring ended (exit status "
                             f"{state.get('ExitCode')}): stopped from outside the scoring (docker kill, the daemon)")


def _invalid(reason: str, message: str, **details) -> dict:
    return {"valid": False, "reason": reason, "message": message, "details": details}


def scorer_archive(env: Environment, config: dict) -> bytes:
    """The tar of what goes to /opt/rearena: scoring/, environments/*.py, env/, bin/, run/."""
    data = io.BytesIO()
    data.write(tar_folder(REPO_ROOT / "scoring", prefix="scoring"))
    data.seek(0)
    with tarfile.open(fileobj=data, mode="a") as tar:
        for module in sorted((REPO_ROOT / "environments").glob("*.py")):
            add_bytes(tar, f"environments/{module.name}", module.read_bytes())
        env_tar = tarfile.open(fileobj=io.BytesIO(tar_folder(env.path, prefix="env")))
        for member in env_tar:
            tar.addfile(member, env_tar.extractfile(member) if member.isreg() else None)
        add_bytes(tar, "bin/candidate-python", CANDIDATE_PYTHON_TEXT.encode(), mode=0o755)
        add_bytes(tar, "bin/helper-python", HELPER_PYTHON_TEXT.encode(), mode=0o755)
        add_bytes(tar, "run/config.json", json.dumps(config).encode(), mode=0o600)
    return data.getvalue()


def scorer_env(container_env: list[str] | None) -> dict[str, str]:
    """The environment of the scorer's exec: the container's search paths (from its image: `NAME=value`
    items) with only absolute entries, each set explicitly ("" where none is left) since docker exec
    would otherwise keep the image's value."""
    inherited = dict(item.partition("=")[::2] for item in container_env or [])
    found = {name: inherited[name] for name in SEARCH_PATHS if name in inherited}
    cleaned = clean_search_paths(found)
    env = {name: cleaned.get(name, "") for name in found}
    env.update(PATH=cleaned["PATH"], HOME=SCORER_CWD, TMPDIR="/tmp", PYTHONDONTWRITEBYTECODE="1")
    return env


def _scoring_container(env: Environment, memory_mb: int, image: str, scorer_bytes: int):
    hw = env.hardware
    memory = max(hw.memory_gb * dk.GB, memory_mb * dk.MB) + 512 * dk.MB  # candidate + the scorer itself
    labels = {"rearena.kind": "scoring", "rearena.env": env.name, "rearena.owner": dk.owner()}
    tmpfs = {ROOT: (2 * scorer_bytes + 64 * dk.MB, 0, "0700"),
             CANDIDATE_DIR: (int(hw.disk_gb * dk.GB), dk.PARTICIPANT_UID, "0755"),
             "/tmp": (int(min(1.0, hw.disk_gb / 2) * dk.GB), 0, "1777")}
    return dk.start_container(image, hw, labels=labels, tmpfs=tmpfs, memory_bytes=int(memory))


def score_in_container(
    env: Environment,
    variant: str | None,
    candidate_dir: Path,
    calibration: Calibration | None = None,
    *,
    intermediate: bool = True,
    timeout_s: float | None = None,
    memory_mb: int | None = None,
    output_cap_bytes: int = DEFAULT_OUTPUT_CAP,
    python: str | None = None,
    image: str | None = None,
) -> ScoreResult:
    """Score a candidate folder in a fresh container from the environment's image; `python` is ignored."""
    started = time.monotonic()
    var, calibration, timeout_s, candidate_dir = resolve_request(env, variant, candidate_dir, calibration, timeout_s)
    try:
        payload = _score(env, var, candidate_dir, timeout_s, memory_mb or env.scoring_memory_mb, output_cap_bytes,
                         intermediate, image)
    except docker_errors() as exc:  # ContainerError, the SDK's errors, the daemon gone
        stopping.check()  # a build or copy cut short by a stop: nothing is recorded (ScoringStopped)
        payload = _invalid("sandbox_error", f"the scoring container failed: {describe_error(exc)}")
    payload.setdefault("details", {})["sandbox"] = "docker"
    return result_from_payload(payload, env, var.name, calibration, started)


def _score(env, var, candidate_dir, timeout_s, memory_mb, output_cap_bytes, intermediate, image) -> dict:
    key, nonce = secrets.token_bytes(32), secrets.token_hex(16)
    scorer = Path(env.scorer).resolve().relative_to(env.path.resolve())
    config = {"key": key.hex(), "nonce": nonce, "result_fd": 3, "environment": env.name, "variant": var.name,
              "params": var.params, "kind": env.kind, "scorer": f"{ROOT}/env/{scorer.as_posix()}",
              "candidate_dir": CANDIDATE_DIR, "timeout_s": timeout_s, "memory_mb": memory_mb,
              "output_cap_bytes": output_cap_bytes, "intermediate": intermediate, "python": CANDIDATE_PYTHON,
              "helper_python": HELPER_PYTHON}
    if env.kind == "metr":
        from environments.metr import metr_task_name

        config["variant"] = metr_task_name(env, var.name)
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as candidate_tar:
        try:
            skipped = write_tar(candidate_dir, candidate_tar, cap_bytes=copy_cap(env), what="the candidate's folder",
                                links_inside=True)  # the scorer's process reads it as root
        except TreeRefused as exc:
            return _invalid(exc.reason, exc.message)
        candidate_tar.seek(0)
        payload = _score_tar(env, config, key, nonce, candidate_tar, timeout_s, memory_mb, output_cap_bytes, image)
    if skipped and isinstance(payload.get("details"), dict):
        payload["details"]["not_copied"] = skipped[:20]
    return payload


def _score_tar(env, config, key, nonce, candidate_tar, timeout_s, memory_mb, output_cap_bytes, image) -> dict:
    before = integrity_hash(env)
    archive = scorer_archive(env, config)
    image = image or dk.ensure_image(env, stop=stopping.requested)  # a build, or a copy in, stops with the scoring
    container = _scoring_container(env, memory_mb, image, len(archive))
    api = container.client.api
    try:
        put_folder(api, container.id, archive, ROOT, user="root", stop=stopping.requested)
        put_folder(api, container.id, candidate_tar, CANDIDATE_DIR, user=dk.PARTICIPANT, stop=stopping.requested)
        log = TailBuffer(64 * 1024)
        exec_env = scorer_env(container.attrs.get("Config", {}).get("Env"))
        outcome = run_exec(api, container.id, [SHELL, "-c", RUN_SCORER, HOST_BOOT], user="root",
                           # a METR family's scorer works in its agent's home, the candidate's folder (runner.py)
                           workdir=CANDIDATE_DIR if env.kind == "metr" else SCORER_CWD,
                           timeout=timeout_s + HOST_GRACE_S + START_SLACK_S,
                           env=exec_env, on_stdout=log.add, on_limit=lambda _: container.kill(),
                           flood_bytes=max(64 << 20, 4 * output_cap_bytes), is_done=stopping.requested)
        stopping.check()  # stopped (the console quit): the container goes below, nothing is recorded
        scorer_output = log.text()[-4000:]
        if outcome.timed_out:
            return _invalid("timeout", f"timeout: scoring did not finish within {timeout_s:g} s and was stopped",
                            scorer_output=scorer_output)
        if outcome.flooded:
            return _invalid("output_flood", "output flood: the scorer's process printed too much and was stopped",
                            scorer_output=scorer_output)
        # a container stopped from outside (docker kill, the daemon) is not the candidate's doing: its result,
        # or what dockerd writes into an exec's output instead, is never read as one
        stopped = _stopped(api, container.id)
        if stopped:
            return _invalid(*stopped, scorer_output=scorer_output)
        chunks: list[bytes] = []
        read = run_exec(api, container.id, ["/bin/cat", f"{ROOT}/run/result"], user="root", timeout=30,
                        workdir=SCORER_CWD, env=exec_env, on_stdout=chunks.append)
        if read.exit_code != 0:  # stopped meanwhile (a kill takes a moment to show), or docker failed
            return _invalid(*(_stopped(api, container.id, settle_s=2.0) or (
                "sandbox_error", f"the scoring container's result could not be read (exit status {read.exit_code})")),
                scorer_output=scorer_output)
    except ContainerError:
        stopped = _stopped(api, container.id)
        if stopped:
            return _invalid(*stopped)
        raise
    finally:
        dk.remove_container(container)
    if integrity_hash(env) != before:
        return _invalid("scorer_tampered", "scorer tampering: the scorer's files changed while the candidate ran",
                        scorer_output=scorer_output)
    from scoring.channel import ChannelTampered, verify

    try:
        payload = verify(key, nonce, b"".join(chunks))
    except ChannelTampered as exc:
        return _invalid("result_forged", f"forged result: {exc}", scorer_output=scorer_output)
    if payload is not None:
        return payload
    return _invalid("scorer_died", f"the scorer's process ended without a result (exit code {outcome.exit_code})",
                    scorer_output=scorer_output)


def runtime(env: Environment) -> str:
    """What a docker scoring of env runs in, for calibrations (scoring.hardware.fingerprint): its image by name
    and id, so that a rebuilt image (another python, other packages) never uses one measured in the old."""
    name = dk.image_name(env)
    try:
        image_id = dk.client().images.get(name).id
    except Exception as exc:  # noqa: BLE001 - no daemon, no image: a runtime no calibration was measured in
        return f"docker image {name} (unavailable: {type(exc).__name__})"
    return f"docker image {name} ({image_id.split(':')[-1][:12]})"
