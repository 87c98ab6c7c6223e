"""The confinement's set-up, run as root inside a candidate's new namespaces (scoring/confine.py's wrap):

    unshare --mount --propagation private [--pid ...] -- PYTHON -I -S -B confine_setup.py PLAN -- ARGV...

It lays the mount namespace out as PLAN (marshal, in hex, made by confine.wrap) says, in the order below, then
execs setpriv, which drops every capability (and, for USER, switches to the candidate's uid) and runs
ARGV. Standard library only, all imported before anything is covered. A failing step ends it (exit 1,
naming the step) before the candidate runs, but for the few allowed to fail (noted). It does with
system calls what a shell script did with some 60 programs (mount, mkdir, mknod, ln, chown): the
CPU path's set-up took ~110 ms that way.

1. the stage: a private tmpfs (PLAN["stage"]) where the candidate's folder and the pythons to keep are
   bound while /tmp is replaced, and where the private /dev is made (FILES, USER, DEV);
2. DEV: a tmpfs of the usual character devices (PLAN["nodes"]: made with mknod as the host has them),
   the host's /dev/shm bound in, a devpts of its own (allowed to fail), moved over /dev;
3. FILES: every mount read-only but the stage (its nosuid, nodev, noexec kept), then private, sized
   /tmp, /run (and /var/run) and, with SHM, /dev/shm; SHM alone: a private /dev/shm unless the
   candidate's folder lies in the shared one;
4. the staged folders bound back where they were (the pythons read-only), after a tmpfs was laid over
   each folder on their way that USER's uid cannot pass (PLAN["hidden"]);
5. the covers: an empty read-only tmpfs of mode 000 on each off-limits folder, /dev/null on each file;
6. the participant's folder (PLAN["shown"]) showing the candidate's copy (allowed to fail);
7. USER: the candidate's folder (the run's copy) owned by its uid, links not followed (chown -R -h);
8. the stage detached, unless something bound back lies inside it.

Last, a seccomp filter refuses the kernel's key management calls (add_key, request_key, keyctl), as
Docker's default profile does: a user's keyring outlives all of its processes and is shared by every
candidate of that uid, so a candidate could keep there what it learnt in one scoring (a result, a run
its lab refused) for the next one.
"""

import _signal  # (not signal, json or re: their imports cost more than the rest of the set-up)
import ctypes
import marshal
import os
import stat
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NOSYMFOLLOW = 1, 2, 4, 8, 256
MS_REMOUNT, MS_BIND, MS_MOVE = 32, 4096, 8192
MNT_DETACH = 2
# per-mount flags a read-only remount keeps, by their name in /proc/self/mountinfo and their statvfs bit
KEPT = {"nosuid": (MS_NOSUID, 2), "nodev": (MS_NODEV, 4), "noexec": (MS_NOEXEC, 8), "nosymfollow": (MS_NOSYMFOLLOW, 8192)}
LINKS = (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
         ("stderr", "/proc/self/fd/2"))

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def _bytes(value):
    return None if value is None else os.fsencode(value)


def _checked(result, target):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), target)


def mount(source, target, fstype=None, flags=0, data=None):
    _checked(_libc.mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data)), target)


def tmpfs(name, target, options, flags=0):
    mount(name, target, "tmpfs", flags, options)


def bind(source, target):
    mount(source, target, None, MS_BIND)


def kept_flags(path):
    """The flags of the mount at path that a remount must repeat (or lose)."""
    bits = os.statvfs(path).f_flag
    return sum(flag for flag, bit in KEPT.values() if bits & bit)


def remount_read_only(target, flags):
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)


def _unescape(field):
    """A mountinfo path with its \\ooo escapes undone."""
    head, *rest = field.split(b"\\")
    parts = [head]
    for part in rest:
        octal = part[:3]
        if len(octal) == 3 and all(48 <= c <= 55 for c in octal):
            parts.append(bytes([int(octal, 8) & 0xFF]) + part[3:])
        else:
            parts.append(b"\\" + part)
    return os.fsdecode(b"".join(parts))


def parse_mountinfo(text):
    """(mount point, flags to keep) of each line of /proc/self/mountinfo. Fields are split on single spaces
    only: the kernel escapes space, tab, newline and backslash in a path (\\ooo), but not \\v, \\f or \\r,
    which a plain split() would take for separators (and then miss that mount)."""
    found = []
    for line in text.split(b"\n"):
        fields = line.split(b" ")
        if len(fields) > 5:
            options = fields[5].split(b",")
            found.append((_unescape(fields[4]), sum(flag for name, (flag, _) in KEPT.items()
                                                    if name.encode() in options)))
    return found


def mounts():
    """(mount point, flags to keep) of every mount of this namespace, in /proc/self/mountinfo's order."""
    with open("/proc/self/mountinfo", "rb") as info:
        return parse_mountinfo(info.read())


def private_shm(size):
    if os.path.isdir("/dev/shm"):
        tmpfs("rearena-shm", "/dev/shm", f"mode=1777,size={size}")


def private_dev(stage, nodes, cand):
    dev = f"{stage}/dev"
    os.mkdir(dev)
    tmpfs("rearena-dev", dev, "mode=755,size=1m", MS_NOSUID)
    for name, mode, major, minor in nodes:
        path = f"{dev}/{name}"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.mknod(path, stat.S_IFCHR | mode, os.makedev(major, minor))
        os.chmod(path, mode)  # as the host has it, whatever the umask
    os.mkdir(f"{dev}/shm")
    os.mkdir(f"{dev}/pts")
    if os.path.isdir("/dev/shm"):
        bind("/dev/shm", f"{dev}/shm")
    try:
        mount("rearena-pts", f"{dev}/pts", "devpts", 0, "newinstance,ptmxmode=0666,mode=0620")
    except OSError:
        pass  # allowed to fail: no terminal of its own then, and still none of the host's
    for name, target in LINKS:
        os.symlink(target, f"{dev}/{name}")
    mount(dev, "/dev", None, MS_MOVE)
    os.chdir(cand)


def read_only(plan, stage):
    shm = "shm" in plan["pieces"]
    if not shm and os.path.isdir("/dev/shm") and not os.path.islink("/dev/shm"):
        bind("/dev/shm", "/dev/shm")  # a mount of its own (it may be a plain folder of /dev), skipped below
    for point, flags in mounts():
        if point == stage or point.startswith(stage + "/") or (not shm and point == "/dev/shm"):
            continue
        try:
            remount_read_only(point, flags)
        except OSError:
            pass  # a mount that cannot be remounted (gone, or shadowed): as the host has it
    sizes = plan["sizes"]
    tmpfs("rearena-tmp", "/tmp", f"mode=1777,size={sizes['tmp']}")
    if shm:
        private_shm(sizes["shm"])
    tmpfs("rearena-run", "/run", f"mode=755,size={sizes['run']}")
    if os.path.isdir("/var/run") and not os.path.islink("/var/run"):
        tmpfs("rearena-run", "/var/run", f"mode=755,size={sizes['run']}")


def restore(plan, stage, cand):
    for folder in plan["hidden"]:
        os.makedirs(folder, exist_ok=True)  # (one in a private /dev/shm is made anew, as the candidate's own)
        tmpfs("rearena-hidden", folder, "mode=755,size=64k")
    for i, path in enumerate(plan["keeps"]):
        os.makedirs(path, exist_ok=True)
        bind(f"{stage}/k{i}", path)
        remount_read_only(path, kept_flags(path))
    os.makedirs(cand, exist_ok=True)
    bind(f"{stage}/cand", cand)
    os.chdir(cand)


def cover(path, is_folder):
    if is_folder:
        os.makedirs(path, exist_ok=True)
        tmpfs("rearena-off-limits", path, "mode=000,size=4k", MS_RDONLY)
    elif os.path.exists(path):
        bind("/dev/null", path)
        remount_read_only(path, kept_flags(path))


def run(argv):
    """Run a program (by absolute path) and wait for it; an error unless it exits 0."""
    pid = os.posix_spawn(argv[0], argv, os.environ)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError(f"{' '.join(argv)} failed ({os.waitstatus_to_exitcode(status)})")


def set_up(plan):
    os.umask(0o022)  # folders made on the way (tmpfs parents) must be reachable by USER
    pieces, stage = set(plan["pieces"]), plan["stage"]
    staged = pieces & {"files", "user"}
    cand = os.getcwd()
    if stage is not None:
        tmpfs("rearena-stage", stage, "mode=700,size=64k")
    if staged:
        os.mkdir(f"{stage}/cand")
        bind(cand, f"{stage}/cand")
        for i, path in enumerate(plan["keeps"]):
            os.mkdir(f"{stage}/k{i}")
            bind(path, f"{stage}/k{i}")
    if "dev" in pieces:
        private_dev(stage, plan["nodes"], cand)
    if "files" in pieces:
        read_only(plan, stage)
    elif "shm" in pieces and not (cand == "/dev/shm" or cand.startswith("/dev/shm/")):
        private_shm(plan["sizes"]["shm"])  # alone: a candidate's folder in /dev/shm keeps the shared one
    if staged:
        restore(plan, stage, cand)
    for path, is_folder in plan["covers"]:
        cover(path, is_folder)
    if plan["shown"]:
        try:
            os.makedirs(plan["shown"], exist_ok=True)
            bind(os.getcwd(), plan["shown"])
        except OSError:
            pass  # allowed to fail (a read-only file system there): the path is only left unshown
    if "user" in pieces:  # chown -R -h: links themselves, never what they name; any depth (no recursion)
        run([plan["chown"], "-R", "-h", f"{plan['uid']}:{plan['uid']}", "."])
    if stage is not None and not any(inside(path, stage) for path in
                                     [cand, *plan["keeps"], *plan["hidden"], plan["shown"] or "",
                                      *(path for path, _ in plan["covers"])]):
        detach(stage)  # what was staged is bound where it belongs: nothing is left to reach through it


# seccomp: (audit arch, its numbers of add_key, request_key and keyctl) by machine; the first is the native one.
# x32 calls reach the same table with bit 30 set: refused too. Calls of another arch are all refused.
KEY_CALLS = {
    "x86_64": ((0xC000003E, (248, 249, 250, 0x400000F8, 0x400000F9, 0x400000FA)), (0x40000003, (286, 287, 288))),
    "aarch64": ((0xC00000B7, (217, 218, 219)), (0x40000028, (309, 310, 311))),
}
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, EPERM = 0x7FFF0000, 0x00050000, 1
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def key_call_filter(machine):
    """The BPF program, as (code, jt, jf, k), that refuses the key calls with EPERM and allows the rest:
    load the arch, jump to its block (any other arch: refuse), load the call's number, refuse the listed
    ones. None for a machine not in KEY_CALLS."""
    arches = KEY_CALLS.get(machine)
    if arches is None:
        return None
    refuse, allow = (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM), (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)
    starts = [1 + len(arches) + 1]  # after the arch's load, its tests and the refuse for any other arch
    for _, numbers in arches:
        starts.append(starts[-1] + 1 + len(numbers) + 1)  # a block: load, tests, allow
    deny = starts.pop()  # the last instruction
    program = [(BPF_LD_W_ABS, 0, 0, 4)]
    for (arch, _), start in zip(arches, starts):
        program.append((BPF_JEQ_K, start - len(program) - 1, 0, arch))
    program.append(refuse)
    for _, numbers in arches:
        program.append((BPF_LD_W_ABS, 0, 0, 0))
        for number in numbers:
            program.append((BPF_JEQ_K, deny - len(program) - 1, 0, number))
        program.append(allow)
    program.append(refuse)
    return program


def refuse_key_calls():
    """Install key_call_filter for this process and all it execs (as root: no no_new_privs needed yet)."""
    program = key_call_filter(os.uname().machine)
    if program is None:
        return
    filters = (_SockFilter * len(program))(*[_SockFilter(*instruction) for instruction in program])
    fprog = _SockFprog(len(program), filters)
    _libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong)
    _checked(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0), "seccomp")


def inside(path, folder):
    """Whether path is folder or lies below it (as written: no link is resolved)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def detach(target):
    _checked(_libc.umount2(os.fsencode(target), MNT_DETACH), target)


def main():
    plan = marshal.loads(bytes.fromhex(sys.argv[1]))  # made by confine.wrap with this same python
    argv = sys.argv[3:]  # after "--"
    try:
        set_up(plan)
        refuse_key_calls()
    except Exception as exc:  # noqa: BLE001  (any failure: the candidate must not run half confined)
        sys.stderr.write(f"rearena-confine: the set-up failed: {type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        os._exit(1)
    # python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across exec: the candidate gets
    # them as any program does (a shell pipeline ends when its reader does; a write past its file limit kills)
    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)
    os.execve(plan["setpriv"], [plan["setpriv"], *plan["drop"], "--", *argv], environment_given())


def environment_given():
    """The environment this process was started with, as /proc/self/environ keeps it: python's start may add
    to its own (LC_CTYPE=C.UTF-8 where the locale was C), which the candidate must not inherit."""
    with open("/proc/self/environ", "rb") as environ:
        items = environ.read().split(b"\0")
    return dict(item.split(b"=", 1) for item in items if b"=" in item)


if __name__ == "__main__":
    main()
