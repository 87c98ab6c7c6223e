"""The console as a real process: refused without a terminal (it spun at ~100 % of a core forever on stdin's EOF),
and, in a real terminal (a pty), back on screen after an editor that cannot be executed (it stayed suspended
for good: Textual's suspend() does not resume after an exception)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

from testpaths import REPO, TEST_ENV_ROOT

pytestmark = pytest.mark.slow

STARTUP_S = 120.0  # generous: a loaded 2-core machine imports Textual and SQLModel slowly
EXIT_S = 30.0
ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def console_env(data, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TMUX", "REARENA_", "TEXTUAL_")) and k not in ("VISUAL", "EDITOR")}
    env.update(REARENA_DATA_DIR=str(data), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT), TERM="xterm-256color", **extra)
    return env


def console_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "console", *args]


def take_terminal() -> None:
    """In the child: a session of its own, with the pty (its stdin) as controlling terminal, so that Ctrl-C
    typed there is a SIGINT to the foreground process group, as in a terminal window."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


class Pty:
    """A pseudo-terminal of a fixed size, whose output a thread keeps reading (a full pty blocks its writer)."""

    def __init__(self, rows: int = 45, cols: int = 140):
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.output = bytearray()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the last writer is gone
                return
            if not chunk:
                return
            self.output.extend(chunk)

    def text(self, since: int = 0) -> str:
        """What was written from byte `since` on, without escape sequences."""
        return ESCAPES.sub(b"", bytes(self.output[since:])).decode("utf-8", "replace")

    def wait_for(self, words: str, timeout: float, since: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while words not in self.text(since):
            assert time.monotonic() < deadline, f"{words!r} not shown within {timeout:g} s"
            time.sleep(0.2)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.mark.parametrize("command", [(), ("replay", "1", "2")])
def test_without_a_terminal_the_console_refuses_at_once(tmp_path, command):
    """`rearena </dev/null >out 2>&1` (or `rearena replay 1 2` from a script): exit status 2 and what to do."""
    data = tmp_path / "data"
    with open(tmp_path / "out", "wb") as out:
        proc = subprocess.Popen(console_argv("--data-dir", str(data), *command), cwd=REPO, env=console_env(data),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            status = proc.wait(STARTUP_S)
        except subprocess.TimeoutExpired:
            pytest.fail("the console kept running without a terminal")
        finally:
            stop(proc)
    said = (tmp_path / "out").read_text()
    assert status == 2, said
    assert "the console needs a terminal" in said and "stdin, stdout and stderr are not terminals" in said, said
    assert "rearena trial" in said  # what to use from a script
    assert not data.exists()  # refused before anything was opened


def test_stdin_at_eof_alone_is_refused_even_with_a_terminal_to_draw_on(tmp_path):
    data = tmp_path / "data"
    term = Pty()
    proc = subprocess.Popen(console_argv("--data-dir", str(data)), cwd=REPO, env=console_env(data),
                            stdin=subprocess.DEVNULL, stdout=term.slave, stderr=term.slave, start_new_session=True)
    try:
        status = proc.wait(STARTUP_S)
    except subprocess.TimeoutExpired:
        pytest.fail("the console kept running with stdin at EOF")
    finally:
        stop(proc)
        time.sleep(0.2)  # the reader takes what is left
        said = term.text()
        term.close()
    assert status == 2, said
    assert "the console needs a terminal" in said and "here stdin is not one" in said, said


def test_an_editor_that_cannot_be_executed_leaves_the_console_usable(tmp_path, sqlite_store, registry):
    """$EDITOR is found and executable, but not a program (a script without #!: exec fails, ENOEXEC): the
    console says so and answers keys again (ctrl+q quits it)."""
    from console.trials.service import TrialService

    trial = TrialService(sqlite_store, registry).create("sum_env:tiny", "ada")
    editor = tmp_path / "not-a-program"
    editor.write_text("echo this has no #! line\n")
    editor.chmod(0o755)
    data = sqlite_store.data_dir
    term = Pty()
    proc = subprocess.Popen(console_argv("--data-dir", str(data), "--trial", str(trial.id)), cwd=REPO,
                            env=console_env(data, EDITOR=str(editor)),
                            stdin=term.slave, stdout=term.slave, stderr=term.slave, start_new_session=True)
    try:
        term.wait_for("Score now", STARTUP_S)  # the trial screen's footer
        before = len(term.output)
        term.type(b"e")
        term.wait_for("Exec format error", EXIT_S, since=before)
        assert sqlite_store.trial(trial.id).started_at is not None  # found and executable: the clock started
        term.type(b"\x11")  # ctrl+q
        try:
            status = proc.wait(EXIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail("the console no longer answers keys after the editor failed to start")
        assert status == 0
    finally:
        stop(proc)
        term.close()


def test_ctrl_c_in_a_line_editor_is_the_editors_not_the_consoles(tmp_path, sqlite_store, registry):
    """An editor in the terminal's cooked mode (ed and the like) runs in the console's process group: Ctrl-C
    there reached the console too, which quit and killed the editor. Now the editor handles it and carries on,
    and the console comes back when it exits."""
    from console.trials.service import TrialService

    trial = TrialService(sqlite_store, registry).create("sum_env:tiny", "ada")
    log = tmp_path / "editor.log"
    editor = tmp_path / "line-editor"
    editor.write_text(f"#!/bin/sh\ntrap 'echo interrupted >> {log}' INT\necho started >> {log}\n"
                      f"sleep 3\necho saved >> {log}\n")
    editor.chmod(0o755)
    data = sqlite_store.data_dir
    term = Pty()
    proc = subprocess.Popen(console_argv("--data-dir", str(data), "--trial", str(trial.id)), cwd=REPO,
                            env=console_env(data, EDITOR=str(editor)), stdin=term.slave, stdout=term.slave,
                            stderr=term.slave, preexec_fn=take_terminal)
    try:
        term.wait_for("Score now", STARTUP_S)
        term.type(b"e")
        deadline = time.monotonic() + EXIT_S
        while not (log.exists() and "started" in log.read_text()):
            assert time.monotonic() < deadline, "the editor did not start"
            time.sleep(0.1)
        term.type(b"\x03")  # ctrl+c
        while "saved" not in log.read_text():
            assert time.monotonic() < deadline, f"the editor was killed: {log.read_text()!r}"
            time.sleep(0.1)
        assert log.read_text().split() == ["started", "interrupted", "saved"]
        time.sleep(1)
        assert proc.poll() is None, "the console quit on the editor's Ctrl-C"
        term.type(b"\x11")  # ctrl+q
        assert proc.wait(EXIT_S) == 0
    finally:
        stop(proc)
        term.close()
