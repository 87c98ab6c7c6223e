"""The generic candidate boot's tripwire: with ctx.candidate(..., tripwire=True), a candidate that
reads the reference solutions or the scorer's files is refused with reason forbidden_access."""

from __future__ import annotations

import random
import time

import pytest

from scoring import confine
from scoring.api import Invalid, ScoringContext
from testpaths import REPO

READER = '''
def peek(path):
    with open(path) as f:
        return f.read(20)

def swallow(path):
    try:
        open(path).read()
    except OSError:
        pass
    return "nothing to see"
'''

AT_IMPORT = '''
try:
    LEAK = open(%r).read()
except OSError:
    LEAK = None

def peek(path):
    return "fine"
'''


def _ctx(tmp_path, source: str) -> ScoringContext:
    (tmp_path / "solution.py").write_text(source)
    return ScoringContext(environment="t", variant="tiny", params={}, candidate_dir=tmp_path,
                          deadline=time.monotonic() + 30, rng=random.Random(1))


TARGET = str(REPO / "reference_solutions" / "rolling_median" / "solution.py")


def test_without_the_tripwire_the_read_succeeds_only_unconfined(tmp_path):
    """Without the tripwire nothing is recorded; where confinement is available the read still fails."""
    from scoring import confine
    from scoring.errors import CandidateRaised

    with _ctx(tmp_path, READER).candidate("solution.py", "peek") as cand:
        if confine.available():
            with pytest.raises(CandidateRaised, match="PermissionError"):
                cand.call(TARGET, timeout=20)
        else:
            assert cand.call(TARGET, timeout=20) == open(TARGET).read(20)


@pytest.mark.parametrize("function", ["peek", "swallow"])
def test_a_read_of_the_reference_solutions_is_forbidden_even_when_the_error_is_swallowed(tmp_path, function):
    with pytest.raises(Invalid) as info:
        with _ctx(tmp_path, READER).candidate("solution.py", function, tripwire=True) as cand:
            cand.call(TARGET, timeout=20)
    assert info.value.reason == "forbidden_access"
    assert "reference_solutions/rolling_median/solution.py" in info.value.message
    assert info.value.details["attempts"]


def test_a_read_at_import_time_is_reported_on_the_first_call(tmp_path):
    (tmp_path / "c").mkdir()
    ctx = _ctx(tmp_path / "c", AT_IMPORT % TARGET)
    with pytest.raises(Invalid) as info:
        with ctx.candidate("solution.py", "peek", tripwire=True) as cand:
            cand.call("x", timeout=20)
    assert info.value.reason == "forbidden_access"


def test_reads_of_its_own_files_are_allowed(tmp_path):
    (tmp_path / "data.txt").write_text("mine")
    with _ctx(tmp_path, READER).candidate("solution.py", "peek", tripwire=True) as cand:
        assert cand.call(str(tmp_path / "data.txt"), timeout=20) == "mine"


COMMANDS = '''
import os, subprocess

def run(kind, path):
    if kind == "subprocess":
        return subprocess.run(["cat", path], capture_output=True, text=True).stdout[:20]
    if kind == "shell":
        return subprocess.run("cat " + path, shell=True, capture_output=True, text=True).stdout[:20]
    return os.system("cat %s > /dev/null" % path)
'''


@pytest.mark.parametrize("kind", ["subprocess", "shell", "system"])
def test_a_command_naming_the_reference_solutions_is_forbidden(tmp_path, kind):
    with pytest.raises(Invalid) as info:
        with _ctx(tmp_path, COMMANDS).candidate("solution.py", "run", tripwire=True) as cand:
            cand.call(kind, TARGET, timeout=20)
    assert info.value.reason == "forbidden_access"


def test_commands_on_its_own_files_are_allowed(tmp_path):
    (tmp_path / "data.txt").write_text("mine")
    with _ctx(tmp_path, COMMANDS).candidate("solution.py", "run", tripwire=True) as cand:
        assert cand.call("subprocess", str(tmp_path / "data.txt"), timeout=20) == "mine"


# Ways around the tripwire a red-team review found or suggested: each must still end in forbidden_access
# (or a refused read), never in the reference's text.
TAMPER = '''
import gc, os, subprocess, sys
import __main__


def attempt(kind, path):
    if kind == "busy_flag":  # the re-entry flag and the folder list were once __main__ globals
        for name in ("_busy", "DENY", "_WATCHED"):
            if hasattr(__main__, name):
                setattr(__main__, name, [True] if name == "_busy" else ())
        return open(path).read(20)
    if kind == "cleared_record":
        try:
            open(path).read()
        except OSError:
            pass
        __main__._violations.clear()
        return open(path).read(20)
    if kind == "str_subclass":  # code of the candidate's run inside the hook, where reads are not checked
        class Sneaky(str):
            def startswith(self, *args):
                leak.append(open(path).read(20))
                return False
            def __add__(self, other):
                leak.append(open(path).read(20))
                return str.__add__(self, other)
        leak = []
        class P:
            def __fspath__(self):
                return Sneaky("/tmp/nothing-here")
        try:
            open(P())
        except OSError:
            pass
        return leak[0] if leak else "no leak"
    if kind == "class_property":
        class Fake:
            @property
            def __class__(self):
                leak.append(open(path).read(20))
                return str
        leak = []
        try:
            subprocess.run(["true", Fake()])
        except Exception:
            pass
        return leak[0] if leak else "no leak"
    if kind == "gc_walk":
        hooks = [o for o in gc.get_objects() if getattr(o, "__name__", "") == "audit"]
        for hook in hooks:
            for cell in hook.__closure__ or ():
                if isinstance(cell.cell_contents, list):
                    cell.cell_contents[:] = [True]
        return open(path).read(20)
    if kind == "dir_fd":  # an fd of an allowed folder above, then a path relative to it
        root = os.open(os.path.dirname(os.path.dirname(os.path.dirname(path))), os.O_RDONLY)
        fd = os.open(os.path.relpath(path, os.path.dirname(os.path.dirname(os.path.dirname(path)))), os.O_RDONLY,
                     dir_fd=root)
        return os.read(fd, 20).decode()
    if kind == "patched_abspath":  # the hook once used posixpath's Python functions
        import posixpath
        def sneaky(p, frames=sys._getframe):
            frame = frames()
            while frame is not None:  # set every re-entry flag found on the way to True
                for value in list(frame.f_locals.values()):
                    if isinstance(value, list) and value == [False]:
                        value[0] = True
                frame = frame.f_back
            return "/nowhere"
        posixpath.abspath = sneaky
        os.fspath = lambda p: "/nowhere"
        try:
            open(path).read()
        except OSError:
            pass
        return open(path).read(20)
    if kind == "hard_link":
        link = os.path.join(os.getcwd(), "linked.py")
        os.link(path, link)
        return open(link).read(20)
    if kind == "scorer_thread":  # /proc/<tid> of a thread of the scorer's process
        parent = os.getppid()
        for entry in range(parent + 1, parent + 5000):  # thread ids are not listed in /proc, but open
            try:
                status = open("/proc/%s/status" % entry).read()
            except OSError:
                continue
            if "\\nTgid:\\t%d\\n" % parent in status:
                return open("/proc/%s/cmdline" % entry, "rb").read()[:20].decode(errors="replace")
        return "no leak"
    raise ValueError(kind)
'''


KINDS = ["busy_flag", "cleared_record", "str_subclass", "class_property", "gc_walk", "dir_fd", "patched_abspath",
         "hard_link", "scorer_thread"]


@pytest.mark.parametrize("confined", [False, True], ids=["tripwire-only", "confined"])
@pytest.mark.parametrize("kind", KINDS)
def test_tampering_with_the_tripwire_does_not_open_the_reference(tmp_path, monkeypatch, kind, confined):
    """With the tripwire alone (not root, or confinement off) and with the confinement of
    scoring/confine.py (root): no route of these gets the reference's text (or the scorer's)."""
    if confined and not confine.available():
        pytest.skip("confinement needs root and unshare here")
    if not confined:
        monkeypatch.setattr(confine, "available", lambda: False)
    try:
        with _ctx(tmp_path, TAMPER).candidate("solution.py", "attempt", tripwire=True) as cand:
            answer = cand.call(kind, TARGET, timeout=20)
    except Invalid as exc:
        assert exc.reason == "forbidden_access" or "off limits" in str(exc), exc
        answer = None
    assert answer in (None, "no leak"), f"the tripwire was bypassed: {answer!r}"
