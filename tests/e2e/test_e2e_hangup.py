"""The console does not outlive its terminal: killed tmux session or SIGHUP, it exits within seconds, as on quit.

Textual's own driver, left alone, keeps a console whose terminal hung up running at ~100 % of a core (its input
thread reads EOF in a loop) whenever SIGHUP does not kill it: here because SIGHUP is ignored (as under `nohup`
or a parent that ignores it), or because the console is in a session of its own and gets no SIGHUP at all.
Each case records the console's exit status: 0 is a clean exit (the app's own shutdown), not a kill.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys

import pytest
from e2e_support import Tmux, alive, console_env, require_tool, wait_for

from testpaths import REPO

pytestmark = pytest.mark.slow

STARTUP_S = 120.0  # generous: a loaded 2-core machine imports Textual and SQLModel slowly
EXIT_S = 10.0  # the console must be gone this soon after its terminal or SIGHUP

# case: (how the launcher runs the console, what ends it)
CASES = {
    # the tmux session is killed; SIGHUP ignored, so only the console's own handling ends it
    "kill-session, SIGHUP ignored": ("trap '' HUP\n", "", "kill-session"),
    # the tmux session is killed; the console is not in the terminal's session: no SIGHUP, only EOF and EIO
    "kill-session, no SIGHUP (own session)": ("trap '' HUP\n", "setsid -w ", "kill-session"),
    # `kill -HUP` with the terminal still there
    "kill -HUP": ("", "", "sighup"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_console_exits_when_its_terminal_goes_away(tmp_path, case):
    tmux_bin = require_tool("tmux", "/usr/bin/tmux")
    if CASES[case][1]:
        require_tool("setsid", "/usr/bin/setsid")
    shell_prefix, console_prefix, ending = CASES[case]
    pidfile, statusfile = tmp_path / "console.pid", tmp_path / "console.status"
    # The launcher survives the hang-up where SIGHUP is ignored, and writes the console's exit status.
    console = f"echo $$ > {shlex.quote(str(pidfile))}; exec {shlex.quote(sys.executable)} -m console"
    launcher = tmp_path / "console.sh"
    launcher.write_text(
        f"cd {shlex.quote(str(REPO))}\n"
        f"{shell_prefix}"
        f"{console_prefix}bash -c {shlex.quote(console)}\n"
        f"echo $? > {shlex.quote(str(statusfile))}\n")
    tmux = Tmux(tmux_bin, console_env(tmp_path / "data"))
    pid = None
    try:
        tmux.start(["bash", str(launcher)])
        pid = wait_for(lambda: pidfile.exists() and pidfile.read_text().strip().isdigit()
                       and int(pidfile.read_text()), STARTUP_S, "the console's process to start")
        last = [""]

        def home_screen():
            last[0] = tmux.screen()
            return "Environments" in last[0] and "New trial" in last[0]

        try:
            wait_for(home_screen, STARTUP_S, "the home screen")
        except pytest.fail.Exception:
            print(f"--- last screen ---\n{last[0]}")
            raise
        assert alive(pid)

        if ending == "kill-session":
            tmux("kill-session", "-t", tmux.target)
        else:
            os.kill(pid, signal.SIGHUP)
        wait_for(lambda: not alive(pid), EXIT_S, f"the console (pid {pid}) to exit after {ending}")
        status = wait_for(lambda: statusfile.exists() and statusfile.read_text().strip(), EXIT_S,
                          "the launcher to write the console's exit status")
        assert status == "0", f"the console exited with status {status} (128 + n: killed by signal n), not as on quit"
    finally:
        tmux.close()
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)
