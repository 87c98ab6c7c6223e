"""The Sandbox protocol: where a participant's commands and shell run, and the files of a trial's folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

COMMANDS_FILE = "commands.jsonl"  # one JSON line per command typed in the trial's shell
COMMANDS_LOCK = "commands.lock"  # flock'ed while commands are ingested
RCFILE = "rearena.bashrc"
HISTORY_FILE = "bash_history"
DEFAULT_OUTPUT_CAP = 1_000_000


@dataclass(frozen=True)
class ExecResult:
    """What one non-interactive command did: exit status (negative signal when killed), output, time.

    limit names the sandbox limits the command ran into, comma-separated: timeout, output,
    memory, pids, disk ("" when none; the local sandbox reports only timeouts by timed_out).
    """

    exit_code: int
    output: str
    timed_out: bool
    duration_s: float
    limit: str = ""


@runtime_checkable
class Sandbox(Protocol):
    """A place to run a trial's commands: one-off (exec) or an interactive shell and editor."""

    kind: str
    isolates: bool
    warning: str
    workdir: Path
    trial_dir: Path

    def exec(self, command: str, timeout: float, output_cap: int = DEFAULT_OUTPUT_CAP, stop=None) -> ExecResult:
        """Run a command in the workdir with a timeout; output (stdout and stderr) capped; `stop` (a
        threading.Event): each sandbox kills the command when it is set."""
        ...

    def shell_argv(self) -> list[str]:
        """The argv of an interactive shell in the workdir that records each command."""
        ...

    def shell_env(self) -> dict[str, str]:
        """The environment of that interactive shell."""
        ...

    def editor_argv(self) -> list[str]:
        """The argv of the participant's editor opened on the workdir."""
        ...


def trial_dir_of(trial) -> Path:
    """The folder holding a trial's workdir, command log and shell files."""
    if not trial.workdir:
        raise ValueError(f"trial {trial.id} has no workdir")
    return Path(trial.workdir).parent


def commands_path(trial) -> Path:
    """The command log (commands.jsonl) of a trial."""
    return trial_dir_of(trial) / COMMANDS_FILE
