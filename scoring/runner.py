"""The scorer runner: scores a candidate folder in a separate, limited process.

    result = score_candidate(env, "tiny", Path("my_solution"), calibration)

The candidate is copied to a private folder; the environment's scorer runs in a
child process (scoring.host) that starts the candidate in a grandchild process. The
result comes back on a private pipe, signed with a key only the runner and the
scorer's process know, so nothing the candidate prints, writes or forges counts.
The runner returns within the timeout plus a few seconds, whatever the candidate does.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from environments.model import Calibration, Environment
from scoring.candidate import OutputSink
from scoring.channel import ChannelTampered, verify
from scoring.result import ScoreResult

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from scoring.host import main; main()"
HOST_GRACE_S = 2.0  # the scorer's process gets this long beyond its own deadline to report
DEFAULT_OUTPUT_CAP = 10 * 1024 * 1024


def integrity_hash(env: Environment) -> str:
    """Hash of the scorer's files: the environment's folder (starting/ included: scorers may read the pristine
    starting files, e.g. a model definition or frozen weights) and the scoring package."""
    digest = hashlib.sha256()
    roots = [env.path, REPO_ROOT / "scoring"]
    if env.scorer.parent not in roots:
        roots.append(env.scorer.parent)
    for root in roots:
        for path in tree_files(root):
            digest.update(str(path).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def tree_files(root: Path) -> list[Path]:
    """The files under root, sorted, outside __pycache__ folders."""
    return [p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.relative_to(root).parts]


def _copy_candidate(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", ".git"))


def _host_env(tmp: Path) -> dict[str, str]:
    from scoring.candidate import CANDIDATE_ENV_KEEP  # the GPU variables too, or the scorer sees no GPU

    env = {k: os.environ[k] for k in CANDIDATE_ENV_KEEP if k in os.environ}
    # the rubric judge's endpoint and key reach the scorer's process only (never the candidate's)
    judge = [k for k in os.environ if k.startswith("REARENA_JUDGE_")]
    key_var = os.environ.get("REARENA_JUDGE_API_KEY_ENV", "")
    env.update({k: os.environ[k] for k in judge + ([key_var] if key_var in os.environ else [])})
    env.update(HOME=str(tmp), TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1")
    return env


def _kill_group(proc: subprocess.Popen, grace_s: float = 0.0) -> None:
    """Kill the scorer's process group; with a grace, SIGTERM first (the scorer then kills what it started)."""
    if grace_s > 0 and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace_s)
        except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_until_eof(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Read a pipe until EOF or the deadline; return (data, reached_eof)."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"".join(chunks), False
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        if sum(map(len, chunks)) > 64 * 1024 * 1024:
            return b"".join(chunks), True


def _invalid(reason: str, message: str, **details) -> dict:
    return {"valid": False, "reason": reason, "message": message, "details": details}


def resolve_request(env: Environment, variant: str | None, candidate_dir: Path, calibration: Calibration | None,
                    timeout_s: float | None):
    """(variant, calibration, timeout, folder) of a scoring request, with the environment's defaults."""
    var = env.variant(variant)
    calibration = calibration or env.calibration_for(var.name)
    timeout_s = timeout_s if timeout_s is not None else env.timeout_for(var.name)
    candidate_dir = Path(candidate_dir)
    if not candidate_dir.is_dir():
        raise FileNotFoundError(f"candidate folder not found: {candidate_dir}")
    return var, calibration, timeout_s, candidate_dir


def score_candidate(
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
) -> ScoreResult:
    """Score a candidate folder against an environment variant and return the verdict."""
    started = time.monotonic()
    var, calibration, timeout_s, candidate_dir = resolve_request(env, variant, candidate_dir, calibration, timeout_s)
    tmp = Path(tempfile.mkdtemp(prefix="rearena-score-"))
    try:
        payload = _run_host(env, var.name, var.params, candidate_dir, tmp, timeout_s, memory_mb, output_cap_bytes,
                            intermediate, python or sys.executable)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result_from_payload(payload, env, var.name, calibration, started)


def result_from_payload(payload: dict, env: Environment, variant: str, calibration: Calibration,
                        started: float) -> ScoreResult:
    """The ScoreResult of a scorer's verified payload, normalized with the calibration if valid."""
    result = ScoreResult(
        valid=bool(payload["valid"]),
        raw=payload.get("raw"),
        normalized=None,
        message=payload.get("message", ""),
        details=payload.get("details", {}),
        duration_s=time.monotonic() - started,
        calibration=calibration.as_dict(),
        reason=payload.get("reason", ""),
        environment=env.name,
        variant=variant,
    )
    if result.valid:
        result.normalized = calibration.normalize(result.raw)
    return result


def _run_host(env, variant, params, candidate_dir, tmp, timeout_s, memory_mb, output_cap_bytes, intermediate,
              python) -> dict:
    work = tmp / "candidate"
    _copy_candidate(candidate_dir, work)
    before = integrity_hash(env)
    key, nonce = secrets.token_bytes(32), secrets.token_hex(16)
    read_fd, write_fd = os.pipe()
    config = {
        "key": key.hex(),
        "nonce": nonce,
        "result_fd": write_fd,
        "environment": env.name,
        "variant": variant,
        "params": params,
        "kind": env.kind,
        "scorer": str(Path(env.scorer).resolve()),
        "candidate_dir": str(work),
        "timeout_s": timeout_s,
        "memory_mb": memory_mb or env.scoring_memory_mb,
        "output_cap_bytes": output_cap_bytes,
        "intermediate": intermediate,
        "python": python,
    }
    argv = [python, "-I", "-B", "-c", HOST_BOOT, str(REPO_ROOT)]
    host_env = _host_env(tmp)
    if env.kind == "metr":
        from environments.agent_home import HOME_VARIABLE, agent_home_argv, isolation_available
        from environments.metr import metr_task_name

        config["variant"] = metr_task_name(env, variant)
        argv, home = agent_home_argv(work, argv, isolation_available())
        host_env.update(HOME=home, **{HOME_VARIABLE: home})
    proc = subprocess.Popen(
        argv,
        cwd=str(work),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(write_fd,),
        start_new_session=True,
        env=host_env,
    )
    os.close(write_fd)
    scorer_output = OutputSink(proc.stdout, output_cap_bytes, on_flood=lambda: None)
    try:
        proc.stdin.write(json.dumps(config).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    data, eof = _read_until_eof(read_fd, time.monotonic() + timeout_s + HOST_GRACE_S)
    os.close(read_fd)
    if not eof:
        _kill_group(proc, grace_s=1.0)
    try:
        code = proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        code = proc.wait()
    _kill_group(proc)
    scorer_output.join(1.0)
    log = scorer_output.text()[-4000:]
    if integrity_hash(env) != before:
        return _invalid("scorer_tampered", "scorer tampering: the scorer's files changed while the candidate ran",
                        scorer_output=log)
    try:
        payload = verify(key, nonce, data)
    except ChannelTampered as exc:
        return _invalid("result_forged", f"forged result: {exc}", scorer_output=log)
    if payload is not None:
        return payload
    if not eof:
        return _invalid("timeout", f"timeout: scoring did not finish within {timeout_s:g} s and was stopped",
                        scorer_output=log)
    how = f"killed by {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
    return _invalid("scorer_died", f"the scorer's process ended without a result ({how})", scorer_output=log)
