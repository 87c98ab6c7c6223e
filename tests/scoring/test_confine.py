"""Local scoring as root confines a tripwire candidate (scoring/confine.py): the file system is
read-only but for its folder and private /tmp, /dev/shm and /run; no capabilities; its own PID and
network namespaces. Each probe below was a way out that a red-team review used or suggested."""

from __future__ import annotations

import os
import random
import shutil
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


@pytest.mark.skipif(os.environ.get("CI") != "true" or os.geteuid() != 0, reason="CI runs as root: there it must hold")
def test_confinement_is_available_in_ci():
    """The confinement tests below skip where it is unavailable; in CI (root, unshare) a probe that fails
    must fail the run, not quietly leave every candidate unconfined."""
    assert confine.available()


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
def test_a_confined_candidate_can_write_only_its_own_folder(tmp_path):
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


PIECE_PROBE = r'''
import json, os, socket
seen = {"pid 1": os.getpid() == 1,
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
        "shm marker": os.path.exists(os.environ["SHM_MARKER"]),
        "tmp marker": os.path.exists(os.environ["TMP_MARKER"]),
        "own folder": sorted(os.listdir(os.environ["FOLDER"])),
        "uid": os.getuid(), "devices": sorted(os.listdir("/dev"))}
try:
    open("written-here", "w").close()
    os.remove("written-here")
    seen["folder write"] = "written"
except OSError as exc:
    seen["folder write"] = type(exc).__name__
try:
    open(os.environ["SHM_WRITE"], "w").close()  # torch's CUDA IPC writes its counters there
    seen["shm write"] = "written"
except OSError as exc:
    seen["shm write"] = type(exc).__name__
try:
    open("/etc/" + os.environ["ETC_NAME"], "w").close()
    seen["etc"] = "written"
except OSError as exc:
    seen["etc"] = type(exc).__name__
print(json.dumps(seen))
'''


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
@pytest.mark.parametrize("pieces", [frozenset(), {confine.PID}, {confine.NET}, {confine.SHM}, {confine.FILES},
                                    {confine.USER}, {confine.DEV}, {confine.USER, confine.SHM},
                                    confine.CPU_PATH - {confine.SHM}, confine.CPU_PATH],
                         ids=lambda p: "+".join(sorted(p)) or "covers-only")
@pytest.mark.parametrize("where", ["tmp", "shm"])
def test_each_confinement_piece_does_what_it_says_and_nothing_more(tmp_path, pieces, where):
    """The GPU path takes a subset of the pieces (the ones CUDA IPC works with, found on a GPU by
    scoring/kernel/gpu_confine.py), so each must work alone: a PID namespace without the read-only file
    system, a private /dev/shm without a private /tmp, and so on. /dev/shm stays writable (torch's
    CUDA IPC needs it), and the candidate's folder stays reachable by its path wherever it lies,
    /dev/shm included."""
    import json
    import socket
    import subprocess
    import uuid

    tag = uuid.uuid4().hex[:12]
    folder = tmp_path / "cand" if where == "tmp" else Path(f"/dev/shm/rearena-cand-{tag}")
    folder.mkdir()
    (folder / "mine.txt").write_text("x")
    shm_marker, tmp_marker = Path(f"/dev/shm/rearena-piece-{tag}"), Path(f"/tmp/rearena-piece-{tag}")
    etc = Path(f"/etc/rearena-piece-{tag}")
    shm_write = Path(f"/dev/shm/rearena-piece-w-{tag}")
    shm_marker.touch()
    tmp_marker.touch()
    try:
        argv = confine.wrap([sys.executable, "-I", "-c", PIECE_PROBE], [str(tmp_path / "off")], pieces=frozenset(pieces),
                            folder=folder)
        env = dict(os.environ, SHM_MARKER=str(shm_marker), TMP_MARKER=str(tmp_marker), ETC_NAME=etc.name,
                   SHM_WRITE=str(shm_write), FOLDER=str(folder))
        done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        for path in (shm_marker, tmp_marker, etc, shm_write):
            path.unlink(missing_ok=True)
        if where == "shm":
            shutil.rmtree(folder, ignore_errors=True)
    host_interfaces = sorted(name for _, name in socket.if_nameindex())
    assert seen["pid 1"] == (confine.PID in pieces), seen
    assert (seen["interfaces"] == ["lo"]) == (confine.NET in pieces) or host_interfaces == ["lo"], seen
    if not (where == "shm" and confine.FILES not in pieces):
        assert seen["shm marker"] == (confine.SHM not in pieces), seen
    assert seen["tmp marker"] == (confine.FILES not in pieces), seen
    # uid 0 without capabilities still owns /etc: the read-only file system or another uid keeps it out
    assert (seen["etc"] == "written") == (confine.FILES not in pieces and confine.USER not in pieces), seen
    assert seen["shm write"] == "written" and seen["own folder"] == ["mine.txt"], seen
    assert seen["folder write"] == "written" and seen["uid"] == (confine.CANDIDATE_UID if confine.USER in pieces else 0)
    private_dev = {"fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom",
                   "zero"}
    assert (set(seen["devices"]) <= private_dev) == (confine.DEV in pieces), seen["devices"]
    if where == "shm" and confine.SHM in pieces and confine.FILES not in pieces:
        assert seen["shm marker"], seen  # nothing staged: a folder inside /dev/shm keeps the shared one
    elif confine.SHM in pieces:
        assert not shm_write.exists(), "written to the shared /dev/shm"


@pytest.mark.skipif(not confine.available() or confine.DEV not in confine.usable(confine.CPU_PATH),
                    reason="the private /dev needs root and mknod in a mount namespace (both in CI)")
def test_a_gpus_nodes_reach_only_a_candidate_given_the_gpu(tmp_path, monkeypatch):
    """An environment of `gpu = false` runs its candidates on the CPU path: on a host with a GPU, their
    private /dev holds none of its nodes (the GPU stands in for a character device this host has)."""
    import json
    import stat
    import subprocess

    standin = next(name for name in ("loop-control", "kmsg", "mem", "port")
                   if os.path.exists(f"/dev/{name}") and stat.S_ISCHR(os.stat(f"/dev/{name}").st_mode))
    monkeypatch.setattr(confine, "GPU_DEVICES", (standin,))
    confine._device_nodes.cache_clear()
    seen = {}
    try:
        for gpu in (False, True):
            argv = confine.wrap([sys.executable, "-I", "-c", "import json, os; print(json.dumps(os.listdir('/dev')))"],
                                [], pieces=confine.CPU_PATH, folder=tmp_path, gpu=gpu)
            done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr[-2000:]
            seen[gpu] = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        confine._device_nodes.cache_clear()
    assert standin not in seen[False] and "null" in seen[False], seen
    assert standin in seen[True], seen


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
def test_the_read_only_pass_keeps_each_mounts_nosuid_nodev_and_noexec(tmp_path):
    """Remounting read-only must not clear a mount's other flags (a remount sets them all at once): a
    host mount of nosuid, nodev and noexec stays so, and read-only, in the candidate's namespace."""
    import subprocess

    flagged = tmp_path / "flagged"
    flagged.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,nodev,noexec,size=1m", "rearena-flags", str(flagged)],
                   check=True)
    try:
        argv = confine.wrap([sys.executable, "-I", "-c", "print(open('/proc/self/mountinfo').read())"], [],
                            pieces=confine.CPU_PATH, folder=tmp_path)
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run(["umount", "-l", str(flagged)], check=True)
    assert done.returncode == 0, done.stderr[-2000:]
    options = [line.split()[5] for line in done.stdout.splitlines() if line.split()[4:5] == [str(flagged)]]
    assert options and set(options[0].split(",")) >= {"ro", "nosuid", "nodev", "noexec"}, options


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
def test_a_step_that_fails_stops_the_candidate_before_it_runs(tmp_path):
    """The set-up fails closed: a cover that cannot be laid (here under a plain file) ends it, naming what
    failed, and the candidate never runs half confined."""
    import subprocess

    (tmp_path / "plain").write_text("x")
    marker = tmp_path / "ran"
    argv = confine.wrap(["/bin/sh", "-c", f"touch {marker}"], [], pieces=confine.CPU_PATH, folder=tmp_path)
    plan = confine.plan_of(argv)
    plan["covers"] = [(str(tmp_path / "plain" / "below"), True)]
    argv = confine.with_plan(argv, plan)
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and not marker.exists(), (done.returncode, done.stderr)
    assert "rearena-confine: the set-up failed" in done.stderr and "plain/below" in done.stderr, done.stderr


def test_mountinfo_is_split_on_spaces_only():
    """The kernel escapes space, tab, newline and backslash in a mount point, not \\v, \\f or \\r: a mount
    whose path holds one must still be found (and made read-only), its flags with it."""
    from scoring import confine_setup

    text = (b"36 25 0:32 / /srv/sp\\040ace rw,nosuid,relatime shared:1 - tmpfs a rw\n"
            b"37 25 0:33 / /srv/v\x0bt\x0c\r rw,nodev,noexec - tmpfs b\x0b\xff rw\n"
            b"38 25 0:34 / /srv/back\\134slash ro,nosymfollow - tmpfs c rw\n")
    found = confine_setup.parse_mountinfo(text)
    assert found == [("/srv/sp ace", confine_setup.MS_NOSUID),
                     ("/srv/v\x0bt\x0c\r", confine_setup.MS_NODEV | confine_setup.MS_NOEXEC),
                     ("/srv/back\\slash", confine_setup.MS_NOSYMFOLLOW)], found


STATUS_PROBE = r'''
import json, os
mounts = [line.split(" - ", 1)[1].split()[:2] for line in open("/proc/self/mountinfo")]
deep = os.environ.get("DEEP")
print(json.dumps({"ignored": int(os.environ["SIGIGN"].split(":")[1].strip(), 16), "sources": [m[1] for m in mounts],
                  "deep owner": os.stat(deep).st_uid if deep else None,
                  "inner": sorted(os.listdir(os.environ["INNER"])) if os.environ.get("INNER") else None}))
'''


def _confined_status(tmp_path, folder, off_limits=(), **env):
    import json
    import subprocess

    # through sh: python ignores SIGPIPE itself, a shell keeps what it was given
    command = 'SIGIGN=$(grep SigIgn /proc/self/status) exec "$0" -I -c "$1"'
    argv = confine.wrap(["/bin/sh", "-c", command, sys.executable, STATUS_PROBE], [str(p) for p in off_limits],
                        pieces=confine.CPU_PATH, folder=folder)
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=120, env=dict(os.environ, **env))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
def test_the_candidate_gets_default_signals_and_no_stage(tmp_path):
    """The set-up's python ignores SIGPIPE and SIGXFSZ; the candidate must not inherit that (a shell pipeline
    would run on after its reader ended). And once all is bound back, the stage is gone (a uid-0 candidate
    could have written the pythons kept there)."""
    import signal

    seen = _confined_status(tmp_path, tmp_path)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not seen["ignored"] & (1 << (sig - 1)), (sig, hex(seen["ignored"]))
    assert "rearena-stage" not in seen["sources"], seen["sources"]
    assert "rearena-dev" in seen["sources"] and "rearena-tmp" in seen["sources"], seen["sources"]


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
def test_the_candidate_gets_the_environment_it_was_given(tmp_path):
    """Exactly: the set-up's python adds LC_CTYPE=C.UTF-8 to its own where the locale is C (PEP 538)."""
    import subprocess

    env = {"PATH": "/usr/bin:/bin", "REARENA_MARK": "a b=c"}
    argv = confine.wrap(["/bin/sh", "-c", 'echo "${LC_CTYPE-unset}|${LANG-unset}|$REARENA_MARK"'], [],
                        pieces=confine.CPU_PATH, folder=tmp_path)
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "unset|unset|a b=c", done.stdout


@pytest.mark.skipif(not confine.available() or confine.USER not in confine.usable(confine.CPU_PATH),
                    reason="confinement needs root and unshare (it runs as root in CI)")
def test_a_folder_of_any_depth_is_made_the_candidates_own(tmp_path):
    """The copy accepts a tree deeper than Python's recursion limit; the candidate must still start, owning
    all of it."""
    import subprocess

    (tmp_path / "cand").mkdir()
    fd = os.open(tmp_path / "cand", os.O_RDONLY)
    for _ in range(1100):  # (os.makedirs and pathlib recurse too)
        os.mkdir("d", dir_fd=fd)
        fd, above = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(above)
    os.close(fd)
    try:
        seen = _confined_status(tmp_path, tmp_path / "cand", DEEP=str(tmp_path / "cand") + "/d" * 1100)
    finally:  # (pytest's own clean-up recurses too)
        subprocess.run(["rm", "-rf", "--", str(tmp_path / "cand")], check=True)
    assert seen["deep owner"] == confine.CANDIDATE_UID, seen


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
def test_an_off_limits_folder_inside_another_is_covered_with_it(tmp_path):
    """A cover inside a covered folder cannot be laid (its mount point is on a read-only, empty tmpfs); it
    is hidden with its parent, and the candidate starts."""
    (tmp_path / "off" / "inner").mkdir(parents=True)
    (tmp_path / "off" / "inner" / "secret").write_text("x")
    (tmp_path / "cand").mkdir()
    seen = _confined_status(tmp_path, tmp_path / "cand", [tmp_path / "off" / "inner", tmp_path / "off"],
                            INNER=str(tmp_path / "cand"))
    assert seen["inner"] == [], seen
    plan = confine.plan_of(confine.wrap(["/bin/true"], [str(tmp_path / "off" / "inner"), str(tmp_path / "off")],
                                        check=False))
    assert plan["covers"] == [(str(tmp_path / "off"), True)], plan


def test_an_unknown_confinement_piece_is_refused():
    with pytest.raises(ValueError, match="unknown confinement pieces"):
        confine.wrap(["true"], [], pieces=frozenset({"pid", "gpu"}), check=False)


def test_a_candidate_process_runs_on_the_cpus_it_is_given(tmp_path):
    """scoring/kernel/cpus.py's plan reaches the process for real: CandidateProcess(cpus=...) sets the
    affinity before the candidate's python starts, so it and everything it starts keep it."""
    from scoring.candidate import CandidateProcess

    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text(
        "import os, subprocess, sys\n"
        "def where():\n"
        "    child = subprocess.run([sys.executable, '-c', 'import os; print(sorted(os.sched_getaffinity(0)))'],\n"
        "                           capture_output=True, text=True).stdout.strip()\n"
        "    return sorted(os.sched_getaffinity(0)), child\n")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs to tell a pinned process from one left alone")
    cpu = max(os.sched_getaffinity(0))
    proc = CandidateProcess(folder, "solution.py", "where", memory_mb=2048, output_cap_bytes=1 << 20,
                            startup_timeout_s=30, cpus=frozenset({cpu}))
    try:
        own, child = proc.call(timeout=30)
    finally:
        proc.close()
    assert own == [cpu] and child == str([cpu])


def test_helpers_run_by_absolute_path_whatever_path_says(monkeypatch):
    """With PATH=":$PATH" (an empty entry: the working directory, the candidate's folder) an `unshare`
    left in the folder ran as root instead of the real one: the helpers are found on PATH's absolute
    entries only, and named by their absolute paths."""
    monkeypatch.setenv("PATH", ":.:" + os.environ.get("PATH", "/usr/bin:/bin"))
    argv = confine.wrap(["true"], [], check=False)
    assert os.path.isabs(argv[0]) and os.path.basename(argv[0]) == "unshare", argv[0]
    plan = confine.plan_of(argv)
    assert os.path.isabs(plan["setpriv"]) and os.path.basename(plan["setpriv"]) == "setpriv", plan
    assert "--no-new-privs" in plan["drop"] and f"--reuid={confine.CANDIDATE_UID}" in plan["drop"], plan
    assert os.path.isabs(argv[argv.index(confine.SETUP) - 4]), argv  # the set-up's python


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
def test_an_unshare_in_the_candidates_folder_is_not_run(tmp_path, monkeypatch):
    from scoring.candidate import CandidateProcess

    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text("def f():\n    return 7\n")
    marker = tmp_path / "hijacked"
    fake = folder / "unshare"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexec /usr/bin/unshare \"$@\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", ":" + os.environ.get("PATH", "/usr/bin:/bin"))
    proc = CandidateProcess(folder, "solution.py", "f", memory_mb=1024, output_cap_bytes=1 << 20,
                            startup_timeout_s=30, boot_args=(str(tmp_path / "off"),))
    try:
        assert proc.call(timeout=30) == 7
    finally:
        proc.close()
    assert not marker.exists(), "the candidate's unshare ran"


SIZE_PROBE = r'''
import json, os
sizes = {}
for where in ("/tmp", "/dev/shm", "/run"):
    s = os.statvfs(where)
    sizes[where] = s.f_blocks * s.f_frsize
print(json.dumps(sizes))
'''


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (it runs as root in CI)")
def test_the_private_tmpfs_mounts_are_sized(tmp_path):
    """Unsized, each private tmpfs could take half of the machine's memory."""
    import json
    import subprocess

    folder = tmp_path / "cand"
    folder.mkdir()
    argv = confine.wrap([sys.executable, "-I", "-c", SIZE_PROBE], [str(tmp_path / "off")], pieces=confine.CPU_PATH)
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    sizes = json.loads(done.stdout.strip().splitlines()[-1])
    assert sizes == {"/tmp": 1 << 30, "/dev/shm": 1 << 30, "/run": 16 << 20}, sizes


def test_the_scorers_python_in_tmp_is_kept_for_scripts_that_run_python(monkeypatch):
    """reproduce.sh runs `python` from PATH: the scorer's venv (a checkout in /tmp) stays visible under the
    private /tmp, whatever program argv starts (here bash)."""
    monkeypatch.setattr(confine.sys, "executable", "/tmp/checkout/.venv/bin/python")
    monkeypatch.setattr(confine, "available", lambda: True)
    plan = confine.plan_of(confine.wrap(["/bin/bash", "reproduce.sh"], [], check=False))
    assert plan["keeps"][0] == "/tmp/checkout/.venv", plan  # (then the pythons on hidden ways, USER)


def test_a_piece_that_fails_here_is_left_out_not_all_confinement(monkeypatch):
    """Where the whole set fails its probe (root in a user namespace may not mknod, say), the covers and
    each piece are probed alone and the ones that work are kept: one failing piece does not leave every
    candidate unconfined."""
    monkeypatch.setattr(confine.os, "geteuid", lambda: 0)
    monkeypatch.setattr(confine.os, "access", lambda *a: True)
    monkeypatch.setattr(confine, "_probe", lambda pieces, command: confine.DEV not in pieces)
    confine._found_pieces.cache_clear()
    try:
        assert confine._working_pieces() == confine.CPU_PATH - {confine.DEV}
        monkeypatch.delenv(confine.OFF_VARIABLE, raising=False)
        assert confine.available() and confine.usable(confine.CPU_PATH) == confine.CPU_PATH - {confine.DEV}
        monkeypatch.setattr(confine, "_probe", lambda pieces, command: False)
        confine._found_pieces.cache_clear()
        assert confine._working_pieces() is None and not confine.available()
    finally:
        confine._found_pieces.cache_clear()


def test_the_scorers_process_takes_the_runners_probe(monkeypatch):
    """The runner probes once (per console) and passes what works in the scorer's configuration: the
    scorer's process of each scoring does not probe again (it cost ~0.15 s a scoring)."""
    from scoring import runner

    monkeypatch.setattr(confine.os, "geteuid", lambda: 0)
    monkeypatch.setattr(confine.os, "access", lambda *a: True)
    probes = []
    monkeypatch.setattr(confine, "_probe", lambda pieces, command: probes.append(pieces) or confine.SHM not in pieces)
    monkeypatch.delenv(confine.PIECES_VARIABLE, raising=False)
    confine._found_pieces.cache_clear()
    try:
        word = runner._probed_pieces()  # the runner: probes
        assert word == "dev+files+net+pid+user" and probes
        assert confine.PIECES_VARIABLE not in runner._host_env(Path("/tmp"))
        probes.clear()
        confine._found_pieces.cache_clear()  # the scorer's process: a fresh one, given the word
        monkeypatch.setenv(confine.PIECES_VARIABLE, word)
        assert confine._working_pieces() == confine.CPU_PATH - {confine.SHM} and probes == []
        monkeypatch.setenv(confine.PIECES_VARIABLE, "none")
        confine._found_pieces.cache_clear()
        assert confine._working_pieces() is None and probes == []
    finally:
        confine._found_pieces.cache_clear()


def test_without_a_folder_to_stage_in_the_staged_pieces_are_left_out(monkeypatch):
    """FILES, USER and DEV stage folders (STAGES); where none exists, they are left out, and the result's
    label says so: a uid switch alone would leave the candidate no way to its python."""
    monkeypatch.setattr(confine, "_stage", lambda: None)
    monkeypatch.setattr(confine, "_working_pieces", lambda: confine.CPU_PATH)
    assert confine.usable(confine.CPU_PATH) == {confine.PID, confine.NET, confine.SHM}
    plan = confine.plan_of(confine.wrap(["/bin/true"], [], check=False))
    assert plan["pieces"] == ["net", "pid", "shm"] and plan["stage"] is None and plan["nodes"] == [], plan
    assert not any(flag.startswith("--reuid") for flag in plan["drop"]), plan


KEYRING = '''
import ctypes, os, platform
NUMBERS = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]  # add_key, keyctl
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def keep(name):
    """Store a key in this uid's keyring (kept by the kernel after every process of the uid has ended),
    then look for it: (errno of add_key or 0, errno of the search or 0, the key's id)."""
    kid = libc.syscall(NUMBERS[0], b"user", name.encode(), b"secret", 6, -4)  # KEY_SPEC_USER_KEYRING
    added = ctypes.get_errno() if kid < 0 else 0
    found = libc.syscall(NUMBERS[1], 10, -4, b"user", name.encode(), 0)  # KEYCTL_SEARCH
    return added, ctypes.get_errno() if found < 0 else 0, kid
'''


@pytest.mark.skipif(not confine.available() or os.uname().machine not in ("x86_64", "aarch64"),
                    reason="confinement needs root and unshare (it runs as root in CI)")
def test_a_confined_candidate_cannot_keep_anything_in_the_kernels_keyrings(tmp_path):
    """A user's keyring outlives its processes and is shared by every candidate of that uid: a scoring
    could leave there what the next one reads (a red-team review kept a counter, then scaling_law's
    refused runs, from one scoring to the next). The key calls are refused (EPERM), as in Docker."""
    import errno
    import uuid

    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text(KEYRING)
    ctx = ScoringContext(environment="t", variant="tiny", params={}, candidate_dir=folder,
                         deadline=time.monotonic() + 30, rng=random.Random(1))
    with ctx.candidate("solution.py", "keep") as cand:
        added, searched, kid = cand.call(f"rearena-test-{uuid.uuid4().hex}", timeout=20)
        if kid > 0:  # the old code: do not leave it to later runs
            import ctypes
            ctypes.CDLL(None).syscall(250 if os.uname().machine == "x86_64" else 219, 21, kid)  # KEYCTL_INVALIDATE
    assert (added, searched) == (errno.EPERM, errno.EPERM), (added, searched, kid)


def test_the_key_call_filter_jumps_where_it_says():
    """The BPF program, run here by a small interpreter: the key calls of each arch refused, others allowed,
    another arch refused altogether."""
    sys.path.insert(0, str(Path(confine.__file__).parent))
    try:
        import confine_setup as setup
    finally:
        sys.path.pop(0)

    def verdict(machine, arch, number):
        program, pc = setup.key_call_filter(machine), 0
        while True:
            code, jt, jf, k = program[pc]
            if code == setup.BPF_LD_W_ABS:
                acc = arch if k == 4 else number
            elif code == setup.BPF_JEQ_K:
                pc += jt if acc == k else jf
            else:
                return "refused" if k == setup.SECCOMP_RET_ERRNO | setup.EPERM else "allowed"
            pc += 1

    for machine, arches in setup.KEY_CALLS.items():
        for arch, numbers in arches:
            assert {verdict(machine, arch, number) for number in numbers} == {"refused"}, (machine, arch)
            assert verdict(machine, arch, 0) == verdict(machine, arch, 59) == "allowed", (machine, arch)
        assert verdict(machine, 0x12345678, 0) == "refused"
    assert setup.key_call_filter("riscv64") is None
