"""The console's terminal driver: Textual's LinuxDriver, made to exit when its terminal goes away.

Left to itself, Textual 8's LinuxDriver outlives its terminal (`tmux kill-session`, a closed window or ssh
connection) whenever SIGHUP does not kill the process (the signal is ignored, as under `nohup` or a parent
that ignores it, or the console is not in the terminal's session):

- its input thread selects on stdin and reads; on a hung-up terminal the read returns EOF at once, every
  time, so the thread spins at ~100 % of a core, forever;
- its output thread dies on the first failed write (EIO), after which the app blocks once 30 writes queue up;
- the SIGCONT the kernel sends with the hang-up (to a console that leads the terminal's session) makes it
  start application mode a second time: a second input thread, which nothing ever stops (and which keeps
  the interpreter from exiting).

`ConsoleDriver` ends the app as `q` does (`App.exit`: screens unmount, the store is left as on quit) when
the process gets SIGHUP or when the terminal goes away (POLLHUP/POLLERR on stdin or the output, or a failed
write). Output to a dead terminal is dropped (the dead descriptors are pointed at /dev/null), so the
shutdown never blocks on it, and SIGCONT resumes only what our own SIGTSTP suspended. SIGHUP is handled even
where the console inherited it ignored: without its terminal, a console has nothing left to do.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import threading

from textual.drivers.linux_driver import LinuxDriver

DEAD = select.POLLHUP | select.POLLERR | select.POLLNVAL
WATCH_INTERVAL_MS = 500  # how often the watcher looks at its stop flag; a hang-up wakes it at once


def terminal_fds(fds) -> list[int]:
    """Those of the descriptors that are terminals (a pipe or a file at EOF is not a hang-up)."""
    found = []
    for fd in fds:
        try:
            if os.isatty(fd):
                found.append(fd)
        except OSError:
            pass
    return found


def not_terminals() -> list[str]:
    """Those of stdin, stdout and stderr that are not terminals (closed, a file, a pipe, /dev/null)."""
    import sys

    missing = []
    for name in ("stdin", "stdout", "stderr"):
        stream = getattr(sys, f"__{name}__")
        try:
            is_tty = stream is not None and os.isatty(stream.fileno())
        except (OSError, ValueError):
            is_tty = False
        if not is_tty:
            missing.append(name)
    return missing


def terminal_refusal() -> str | None:
    """Why the console cannot start here, or None. The terminal driver reads keys from stdin and draws on the
    standard outputs; without a terminal there it would spin on stdin's EOF (nothing to watch for a hang-up)
    or draw into a file. Another driver named by TEXTUAL_DRIVER (textual-serve's web driver, on pipes) is
    left to run."""
    from textual import constants

    if constants.DRIVER is not None:
        return None
    missing = not_terminals()
    if not missing:
        return None
    named = (missing[0] + " is not one" if len(missing) == 1
             else ", ".join(missing[:-1]) + f" and {missing[-1]} are not terminals")
    return (f"the console needs a terminal: it reads stdin and draws on stdout and stderr, and here {named}. "
            "From a script, use the commands instead: rearena trial, task, score, report, export or agent "
            "(rearena --help lists them); rearena serve opens the console in a web browser.")


def dead_fds(fds) -> list[int]:
    """Those of the descriptors whose other end is gone (a hung-up terminal, a pipe without reader)."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, 0)  # POLLHUP, POLLERR and POLLNVAL are always reported
    return [fd for fd, events in poller.poll(0) if events & DEAD]


class _Output:
    """The driver's output file (stderr): a write that fails means the terminal is gone; it is dropped."""

    def __init__(self, file, on_failure):
        self._file = file
        self._fd = file.fileno()
        self._on_failure = on_failure

    def write(self, text: str) -> None:
        try:
            self._file.write(text)
        except (OSError, ValueError):
            self._on_failure(failed=self._fd)

    def flush(self) -> None:
        try:
            self._file.flush()
        except (OSError, ValueError):
            self._on_failure(failed=self._fd)

    def fileno(self) -> int:
        return self._file.fileno()


class ConsoleDriver(LinuxDriver):
    """LinuxDriver that exits the app on SIGHUP or when the terminal goes away (see the module's docstring)."""

    def __init__(self, app, **kwargs):
        super().__init__(app, **kwargs)
        self._file = _Output(self._file, self._terminal_lost)
        # The terminals to watch, noted now: once hung up, a terminal no longer says it is one.
        self._ttys = terminal_fds(sorted({self.fileno, 1, 2, self._file.fileno()}))
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._exit_requested = False
        self._lost = threading.Lock()
        self._watch_stop: threading.Event | None = None
        self._stopped_by_us = False
        self._previous_sighup = signal.signal(signal.SIGHUP, self._sighup)

    # -- exiting -----------------------------------------------------------------------------------------

    def _request_exit(self) -> None:
        """Ask the app to exit as on quit (from any thread or a signal handler; once)."""
        if self._exit_requested or self._loop is None or self._loop.is_closed():
            return
        self._exit_requested = True
        try:
            self._loop.call_soon_threadsafe(self._app.exit)
        except RuntimeError:  # the loop closed meanwhile: the app is ending anyway
            pass

    def _sighup(self, signum, frame) -> None:
        self._request_exit()

    def _terminal_lost(self, failed: int | None = None) -> None:
        """The terminal is gone (a hang-up seen, or a write to `failed` failed): point the dead output
        descriptors at /dev/null (so that nothing blocks or fails on them again, the interpreter's last
        flush included), and exit."""
        with self._lost:
            try:
                dead = {fd for fd in dead_fds(self._ttys) if fd in (1, 2, self._file.fileno())}
            except (OSError, ValueError):
                dead = set()
            if failed is not None:
                dead.add(failed)
            try:
                null = os.open(os.devnull, os.O_WRONLY)
            except OSError:
                null = None
            if null is not None:
                for fd in dead:
                    try:
                        os.dup2(null, fd)
                    except OSError:
                        pass
                os.close(null)
        self._request_exit()

    def _watch_terminal(self, fds: list[int], stop: threading.Event) -> None:
        """Thread: wait (without spinning) for the terminal to hang up."""
        poller = select.poll()
        for fd in fds:
            poller.register(fd, 0)
        while not stop.is_set():
            try:
                events = poller.poll(WATCH_INTERVAL_MS)
            except OSError:
                events = [(None, DEAD)]
            if any(mask & DEAD for _, mask in events):
                if not stop.is_set():
                    self._terminal_lost()
                return

    # -- application mode --------------------------------------------------------------------------------

    def start_application_mode(self) -> None:
        self._loop = asyncio.get_running_loop()
        super().start_application_mode()
        if self._ttys:
            self._watch_stop = stop = threading.Event()
            threading.Thread(target=self._watch_terminal, args=(self._ttys, stop), name="rearena-terminal-watch",
                             daemon=True).start()

    def stop_application_mode(self) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()
            self._watch_stop = None
        super().stop_application_mode()

    def close(self) -> None:
        super().close()
        if self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)

    # -- job control -------------------------------------------------------------------------------------

    def _sigtstp_application(self, *args) -> None:
        self._stopped_by_us = self._auto_restart
        super()._sigtstp_application(*args)

    def _sigcont_application(self, *args) -> None:
        # The kernel sends SIGCONT with every hang-up; only a stop of our own is resumed.
        if self._stopped_by_us:
            self._stopped_by_us = False
            super()._sigcont_application(*args)
