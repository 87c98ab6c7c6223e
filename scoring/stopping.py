"""Scorings that another thread may stop: the console's quit stops the one its user waits for.

    with stoppable():                  # in the thread that scores (the console's score worker)
        score_candidate(...)           # raises ScoringStopped once stop_all() is called
    stop_all()                         # from any thread: every stoppable scoring under way

The runners (scoring.runner, scoring.docker_runner) call `check()` while they wait; a stopped scoring
kills the scorer's process and what it started (or removes its container) and records nothing. A
scoring outside `stoppable()` (the CLI, agents) is never stopped this way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ScoringStopped(Exception):
    """The scoring was stopped (stop_all) before it finished: it has no result."""


_lock = threading.Lock()
_under_way: set[threading.Event] = set()
_local = threading.local()


@contextmanager
def stoppable() -> Iterator[threading.Event]:
    """Make the scorings this thread runs inside the block stoppable by stop_all()."""
    event = threading.Event()
    with _lock:
        _under_way.add(event)
    _local.event = event
    try:
        yield event
    finally:
        _local.event = None
        with _lock:
            _under_way.discard(event)


def under_way() -> int:
    """How many stoppable blocks are running now (each holds at most one scoring)."""
    with _lock:
        return len(_under_way)


def stop_all() -> int:
    """Stop every stoppable scoring under way; how many there were."""
    with _lock:
        events = list(_under_way)
    for event in events:
        event.set()
    return len(events)


def requested() -> bool:
    """Whether this thread's scoring has been asked to stop."""
    event = getattr(_local, "event", None)
    return event is not None and event.is_set()


def check() -> None:
    """Raise ScoringStopped if this thread's scoring has been asked to stop."""
    if requested():
        raise ScoringStopped("the scoring was stopped before it finished")
