"""The console in a real terminal (tmux): create a trial, score twice, `kill -9` it, restart it in the same
pane, and check from the screen and from the SQLite file that nothing was lost and the clock kept running."""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from e2e_support import Tmux, alive, console_env, require_tool, wait_for

from testpaths import REPO

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 160, 48
PARTICIPANT = "ada-tmux"
DOWNTIME_S = 8.0  # how long the console stays dead; the active clock must count it
STARTUP_S = 120.0  # generous: a loaded 2-core machine imports Textual and SQLModel slowly
SCORE_S = 120.0
ROW = re.compile(r"│\s*(\d+)\s+(\d+:\d\d:\d\d)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s+yes\b")
LEADERBOARD = re.compile(r"Leaderboard: (\S+)")
ACTIVE = re.compile(r"active (\d+):(\d\d):(\d\d) of (\d+):(\d\d):(\d\d) budget")


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])


def active_shown(screen: str) -> float | None:
    """The active time the trial screen shows in its text line (the big digits are not plain text)."""
    m = ACTIVE.search(screen)
    if m is None:
        return None
    h, mi, s = (int(g) for g in m.groups()[:3])
    return h * 3600 + mi * 60 + s


def rows_shown(screen: str) -> dict[int, tuple]:
    return {int(m.group(1)): m.groups()[1:] for m in ROW.finditer(screen)}


def db_state(path: Path) -> dict:
    """What the SQLite file says about the (only) trial: read-only, while the console may be writing."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        trial = con.execute("SELECT t.id, t.environment, t.variant, t.status, t.started_at, p.name FROM trials t "
                            "JOIN participants p ON p.id = t.participant_id").fetchall()
        assert len(trial) == 1, trial
        trial_id = trial[0][0]
        subs = con.execute("SELECT valid, normalized, active_s FROM submissions WHERE trial_id = ? ORDER BY id",
                           (trial_id,)).fetchall()
        pauses = con.execute("SELECT reason, started_at, ended_at FROM pauses WHERE trial_id = ? ORDER BY id",
                             (trial_id,)).fetchall()
    finally:
        con.close()
    return {"trial": trial[0], "submissions": subs, "pauses": pauses}


def db_active(state: dict, now: float) -> float:
    """Active seconds at `now` from the stored timestamps (wall time since start minus closed pauses)."""
    started = state["trial"][4]
    paused = sum((min(end if end is not None else now, now) - start) for _, start, end in state["pauses"])
    return now - started - paused


@pytest.fixture
def tmux_bin() -> str:
    return require_tool("tmux", "/usr/bin/tmux")


def test_console_survives_kill_9_in_a_real_terminal(tmp_path, tmux_bin):
    data = tmp_path / "data"
    pidfile = tmp_path / "console.pid"
    # What a user types to (re)start the console: reset the terminal (the killed console leaves it in the
    # alternate screen with mouse reporting on), note the pid, then become the console.
    launcher = tmp_path / "console.sh"
    launcher.write_text(
        "printf '\\033c'\n"
        f"cd {shlex.quote(str(REPO))}\n"
        f"echo $$ > {shlex.quote(str(pidfile))}\n"
        f"exec {shlex.quote(sys.executable)} -m console\n")
    tmux = Tmux(tmux_bin, console_env(data), WIDTH, HEIGHT)
    pids: list[int] = []

    def launch(previous: int | None) -> int:
        tmux.type(f"bash {shlex.quote(str(launcher))}")
        tmux.keys("Enter")

        def started():
            try:
                pid = int(pidfile.read_text().strip())
            except (OSError, ValueError):
                return None
            return pid if pid != previous and alive(pid) else None

        pid = wait_for(started, STARTUP_S, "the console's process to start")
        pids.append(pid)
        return pid

    def screen_with(what: str, check, timeout: float = STARTUP_S) -> str:
        last = [""]

        def look():
            last[0] = tmux.screen()
            return last[0] if check(last[0]) else None

        try:
            return wait_for(look, timeout, what)
        except pytest.fail.Exception:
            print(f"--- last screen ---\n{last[0]}")
            raise

    try:
        tmux.start(["bash", "--norc", "--noprofile", "-i"])
        wait_for(lambda: tmux.pane("#{pane_current_command}") == "bash", 30, "the shell in the pane")
        assert tmux.pane("#{pane_width}x#{pane_height}") == f"{WIDTH}x{HEIGHT}"

        # -- first run: home screen, new trial for sum_env, two scorings -------------------------------
        first = launch(None)
        screen_with("the home screen", lambda s: "Environments" in s and "sum_env" in s and "New trial" in s)
        # The environments table has the focus; move its cursor down, one row at a time, until the
        # leaderboard names sum_env, so that the new-trial dialog proposes it.
        for _ in range(20):
            shown = LEADERBOARD.search(tmux.screen())
            if shown and shown.group(1) == "sum_env":
                break
            tmux.keys("Down")
            screen_with("the highlighted environment to change", lambda s, was=shown and shown.group(1):
                        (m := LEADERBOARD.search(s)) is not None and m.group(1) != was, 30)
        screen_with("sum_env highlighted", lambda s: "Leaderboard: sum_env" in s, 30)
        tmux.keys("n")
        screen_with("the New trial dialog", lambda s: "New trial" in s and "Participant" in s and "Create" in s)
        tmux.type(PARTICIPANT)
        screen_with("the participant's name typed", lambda s: PARTICIPANT in s, 30)
        tmux.keys("Enter")
        screen_with("the trial screen", lambda s: f"trial 1 · sum_env:tiny · {PARTICIPANT}" in s
                    and "Score now" in s and "NOT STARTED" in s)

        tmux.keys("s")
        screen_with("the first submission in the table",
                    lambda s: 1 in rows_shown(s) and "1 submissions" in s, SCORE_S)
        tmux.keys("s")
        screen = screen_with("the second submission in the table",
                             lambda s: 2 in rows_shown(s) and "2 submissions" in s and "RUNNING" in s, SCORE_S)
        assert sorted(rows_shown(screen)) == [1, 2]

        # -- the active time shown just before the kill --------------------------------------------------
        screen_with("the clock to move", lambda s: (active_shown(s) or 0) >= 1, 30)
        before_at = time.time()
        before = active_shown(tmux.screen())
        assert before is not None
        state = db_state(data / "rearena.db")
        assert abs(before - db_active(state, before_at)) <= 3, (before, db_active(state, before_at))

        # -- kill -9, stay down, restart in the same pane ------------------------------------------------
        assert parent(first) == int(tmux.pane("#{pane_pid}")), "the console is not the pane shell's child"
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: not alive(first), 30, "the console to die")
        wait_for(lambda: tmux.pane("#{pane_current_command}") == "bash", 30, "the shell prompt after the kill")
        killed_at = time.time()
        stale = tmux.screen()  # what the dead console left on the screen
        time.sleep(DOWNTIME_S)  # the downtime itself, which the active clock must count
        second = launch(first)
        screen = screen_with("the trial screen reopened with both submissions",
                             lambda s: s != stale and f"trial 1 · sum_env:tiny · {PARTICIPANT}" in s
                             and "Score now" in s and sorted(rows_shown(s)) == [1, 2] and "RUNNING" in s
                             and active_shown(s) is not None)
        after_at = time.time()
        after = active_shown(tmux.screen())
        print(f"active shown: {before:.0f} s before the kill, {after:.0f} s after the restart; "
              f"{after_at - before_at:.1f} s of wall time between the readings, {DOWNTIME_S:g} s down")
        assert second != first and alive(second) and parent(second) == int(tmux.pane("#{pane_pid}"))

        # The clock kept running while the console was down: the active time gained between the two
        # readings is the wall time between them (up to the screen's one-second refresh), downtime included.
        assert after - before >= DOWNTIME_S, (before, after)
        assert abs((after - before) - (after_at - before_at)) <= 4, (before, after, after_at - before_at)

        # -- the database agrees --------------------------------------------------------------------------
        state = db_state(data / "rearena.db")
        trial_id, env_name, variant, status, started_at, name = state["trial"]
        assert (trial_id, env_name, variant, status, name) == (1, "sum_env", "tiny", "running", PARTICIPANT)
        assert len(state["submissions"]) == 2 and all(valid for valid, _, _ in state["submissions"])
        # every pause is a closed scoring pause from before the kill: the downtime is not a pause
        assert [reason for reason, _, _ in state["pauses"]] == ["scoring", "scoring"]
        assert all(end is not None and end <= killed_at for _, _, end in state["pauses"])
        assert abs(after - db_active(state, after_at)) <= 3, (after, db_active(state, after_at))
        shown = {n: float(row[2]) for n, row in rows_shown(screen).items()}
        assert [round(shown[n], 3) for n in (1, 2)] == [round(norm, 3) for _, norm, _ in state["submissions"]]
    finally:
        tmux.close()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
