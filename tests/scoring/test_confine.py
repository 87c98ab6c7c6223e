"""Local scoring as root confines a tripwire candidate (scoring/confine.py): the file system is
read-only but for its folder and private /tmp, /dev/shm and /run; no capabilities; its own PID and
network namespaces. Each probe below was a way out that a red-team review used or suggested."""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import pytest

from scoring import confine
from scoring.api import ScoringContext

PROBE = '''
import os, socket

def _write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except OSError as exc:
        return type(exc).__name__

def probe(venv, etc_name):
    status = open("/proc/self/status").read()
    caps = [line.split()[1] for line in status.splitlines() if line.startswith(("CapEff", "CapPrm", "CapBnd"))]
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.connect("/var/run/docker.sock")
        docker = "connected"
    except OSError as exc:
        docker = type(exc).__name__
    return {
        "own folder": _write("mine.txt"),
        "private tmp": _write("/tmp/scratch") + " " + ",".join(sorted(os.listdir("/tmp"))),
        "etc": _write("/etc/" + etc_name),
        "venv": _write(os.path.join(venv, "rearena-probe.pth")),
        "core_pattern": _write("/proc/sys/kernel/core_pattern"),
        "sysrq": _write("/proc/sysrq-trigger"),
        "docker.sock": docker,
        "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "caps": caps,
    }
'''


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
def test_a_confined_candidate_can_write_only_its_own_folder(tmp_path):
    if os.environ.get("CI") == "true":
        assert confine.available()
    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text(PROBE)
    ctx = ScoringContext(environment="t", variant="tiny", params={}, candidate_dir=folder,
                         deadline=time.monotonic() + 30, rng=random.Random(1))
    etc_name = f"rearena-probe-{os.getpid()}"
    with ctx.candidate("solution.py", "probe", tripwire=True) as cand:
        seen = cand.call(sys.prefix, etc_name, timeout=20)
    assert seen["own folder"] == "written" and (folder / "mine.txt").read_text() == "x"
    written, listing = seen["private tmp"].split(" ")
    kept = {Path(p).resolve().parts[2] for p in (folder, sys.prefix, os.path.realpath(sys.executable))
            if str(Path(p).resolve()).startswith("/tmp/")}  # its own folder, the python it runs (a checkout in /tmp)
    assert written == "written" and set(listing.split(",")) == {"scratch"} | kept, seen["private tmp"]
    for name in ("etc", "venv", "core_pattern", "sysrq"):
        assert seen[name] != "written", (name, seen)
    assert not os.path.exists(f"/etc/{etc_name}") and not os.path.exists(os.path.join(sys.prefix, "rearena-probe.pth"))
    assert seen["docker.sock"] != "connected"
    assert seen["processes"] == [1], seen["processes"]  # alone in its PID namespace
    assert all(int(value, 16) == 0 for value in seen["caps"]), seen["caps"]
