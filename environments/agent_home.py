"""Run a command with a folder standing in for /home/agent (private bind mount as root, else HOME=folder).

METR task families read and write /home/agent. As root, the command runs inside a private mount
namespace (`unshare --mount --propagation private`) where the folder is bind-mounted onto
/home/agent, so concurrent trials each see their own /home/agent and the host sees nothing.
Otherwise (not root, or unshare/mount unavailable) it runs with HOME, METR_AGENT_HOME and the
working directory set to the folder; families that honour METR_AGENT_HOME (or relative paths)
then work, ones that hard-code /home/agent do not.

unshare, sh and mount run by absolute path, and every command with search paths of absolute entries only
(scoring.confine): an empty or relative PATH entry names the working directory, which is the agent's
folder, so a file left there could otherwise run as root in place of them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scoring.confine import clean_search_paths, tool

AGENT_HOME = Path("/home/agent")
HOME_VARIABLE = "METR_AGENT_HOME"
OUTPUT_LIMIT = 1_000_000  # bytes kept of each of stdout and stderr
_BIND_AND_EXEC = '{mount} --bind "$1" /home/agent || exit 125; shift; cd /home/agent || exit 125; exec "$@"'


@dataclass(frozen=True)
class RunResult:
    """How a command ended: exit code, captured output (capped), timeout and whether /home/agent was mapped."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    isolated: bool


@functools.lru_cache(maxsize=1)
def isolation_available() -> bool:
    """Whether this process can bind-mount a folder onto /home/agent in a private mount namespace."""
    if os.name != "posix" or os.geteuid() != 0 or not all(os.access(tool(name), os.X_OK)
                                                          for name in ("unshare", "sh", "mount")):
        return False
    with tempfile.TemporaryDirectory(prefix="rearena-probe-") as probe:
        script = f'{shlex.quote(tool("mount"))} --bind "$1" "$1"'
        argv = [tool("unshare"), "--mount", "--propagation", "private", tool("sh"), "-c", script, "sh", probe]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=10, cwd=probe,
                                  env=clean_search_paths(dict(os.environ)))
        except (OSError, subprocess.SubprocessError):
            return False
    return done.returncode == 0


def run_captured(
    argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float | None = None
) -> RunResult:
    """Run argv in its own process group; on timeout kill the whole group. Output goes through temp files."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
            )
        except OSError as exc:
            return RunResult(127, "", f"cannot run {argv[0]}: {exc}", False, False)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            proc.wait()
        _kill_group(proc.pid)  # leftovers that outlived the leader
        return RunResult(proc.returncode, _read(out), _read(err), timed_out, False)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _read(handle: object) -> str:
    handle.seek(0)  # type: ignore[attr-defined]
    data = handle.read(OUTPUT_LIMIT + 1)  # type: ignore[attr-defined]
    text = data[:OUTPUT_LIMIT].decode("utf-8", errors="replace")
    return text + ("\n[output truncated]" if len(data) > OUTPUT_LIMIT else "")


def agent_home_argv(dest: Path, argv: list[str], isolated: bool) -> tuple[list[str], str]:
    """argv wrapped so that `dest` is bind-mounted on /home/agent (when isolated), and the HOME to set."""
    if not isolated:
        return argv, str(dest)
    AGENT_HOME.mkdir(parents=True, exist_ok=True)
    script = _BIND_AND_EXEC.format(mount=shlex.quote(tool("mount")))
    wrapped = [tool("unshare"), "--mount", "--propagation", "private", tool("sh"), "-c", script, "sh", str(dest), *argv]
    return wrapped, str(AGENT_HOME)


def run_with_agent_home(
    dest: Path,
    argv: list[str],
    *,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    isolate: bool | None = None,
) -> RunResult:
    """Run argv with `dest` as /home/agent (bind mount when possible, else HOME=dest; see module doc)."""
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    isolated = isolation_available() if isolate is None else isolate
    environ = clean_search_paths(dict(os.environ if env is None else env))  # its folder is the working one
    argv, home = agent_home_argv(dest, argv, isolated)
    environ.update({"HOME": home, HOME_VARIABLE: home})
    result = run_captured(argv, cwd=dest, env=environ, timeout=timeout)
    return RunResult(result.returncode, result.stdout, result.stderr, result.timed_out, isolated)
