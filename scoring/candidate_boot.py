"""Code run inside the candidate's process: imports the entry point and answers calls.

It is passed to `python -I -c`, so it imports nothing from this repository. It is not
trusted: the scorer checks every answer and times every call from its own process.
Arguments: the request and answer pipes, the file and function, then the folders that are off
limits (the tripwire below; none by default). A candidate that tripped the wire answers
("forbidden", [what it tried]) instead of its result.
"""

# The tripwire shared by the boots: an audit hook that refuses, and remembers, plain reads of the
# folders named in DENY (the scorer's files, reference solutions, the scorer's /proc entries), and
# commands whose command line names one of them (`cat <scorer file>`). It is a tripwire, not a
# sandbox: the docker sandbox is what keeps the files out of reach.
# Its state (the folders, the re-entry flag) lives in a closure that no name in __main__ reaches, the
# hook never runs the candidate's code (str/bytes subclasses are copied to plain ones, other path
# objects are not called), and gc's object-graph walks, the way to the hook's closure, are refused.
# `_violations` is the record of refused attempts (clearing it hides an attempt; the read still failed).
TRIPWIRE = r'''
_violations = []


def _install_tripwire(deny, record):
    # Only C functions bound now and plain str/bytes/list/tuple values are used from here on: nothing
    # the candidate can later replace (module attributes such as posixpath.abspath or os.fspath) or
    # define (__fspath__, str subclasses, __class__ properties) ever runs inside the hook.
    import stat as stat_module
    from pathlib import PosixPath, PurePath, PurePosixPath

    deny = tuple(str(root) for root in deny)
    proc_roots = tuple(root for root in deny if root.startswith("/proc/"))
    busy = [False]
    lstat, stat, readlink, getcwd, listdir = os.lstat, os.stat, os.readlink, os.getcwd, os.listdir
    is_link, is_dir = stat_module.S_ISLNK, stat_module.S_ISDIR
    encoding = sys.getfilesystemencoding()
    error = PermissionError
    watched = frozenset(("open", "os.listdir", "os.scandir", "os.chdir", "shutil.copyfile", "shutil.copytree",
                         "glob.glob", "os.chmod", "os.remove", "os.rename", "os.truncate", "os.link", "os.symlink"))
    commands = frozenset(("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn"))
    graph = frozenset(("gc.get_objects", "gc.get_referrers", "gc.get_referents"))
    paths = (PosixPath, PurePosixPath)
    try:  # a pathlib path's text from its slots, read with the slot descriptors taken now (CPython 3.11)
        slot = [PurePath.__dict__[name].__get__ for name in ("_drv", "_root", "_parts")]
    except (KeyError, AttributeError):
        slot = None

    def text(item):
        # a plain str of a path-like argument, without calling anything the candidate defined
        kind = type(item)
        if kind is str or kind is bytes:
            plain = item
        elif issubclass(kind, str):  # type() and issubclass(): no __class__ of the candidate's is consulted
            plain = str.__str__(item)
        elif issubclass(kind, (bytes, bytearray)):
            plain = bytes(memoryview(item))
        elif (kind is paths[0] or kind is paths[1]) and slot is not None:
            try:
                drv, root, parts = slot[0](item), slot[1](item), slot[2](item)
            except Exception:
                return None
            if type(drv) is not str or type(root) is not str or type(parts) is not list:
                return None
            if [part for part in parts if type(part) is not str]:
                return None
            plain = drv + root + "/".join(parts[1:] if drv or root else parts)
        else:
            return None
        if type(plain) is bytes:
            try:
                return plain.decode(encoding, "surrogateescape")
            except Exception:
                return None
        return plain

    def resolve(path):
        # the absolute path with every symlink resolved (like os.path.realpath, in C calls only)
        todo = [part for part in path.split("/") if part][::-1]
        done, hops = [], 0
        while todo:
            part = todo.pop()
            if part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            here = "/" + "/".join(done + [part])
            try:
                link = is_link(lstat(here).st_mode)
            except OSError:
                link = False
            if link and hops < 40:
                hops += 1
                target = readlink(here)
                if target.startswith("/"):
                    done = []
                todo.extend([p for p in target.split("/") if p][::-1])
            else:
                done.append(part)
        return "/" + "/".join(done)

    def bases():
        # where a relative path may be resolved: the working directory and every open directory fd
        # (os.open(rel, dir_fd=fd), os.fwalk: the audit event does not say which fd)
        found = [getcwd()]
        try:
            fds = listdir("/proc/self/fd")
        except OSError:
            return found
        for fd in fds:
            try:
                target = readlink("/proc/self/fd/" + fd)
                if target.startswith("/") and is_dir(stat(target).st_mode) and target not in found:
                    found.append(target)
            except OSError:
                pass
        return found

    def matches(real):
        for root in deny:
            if real == root or real.startswith(root + "/"):
                return real
        if proc_roots and real.startswith("/proc/"):  # a thread of the scorer: /proc/<tid> is its process too
            tid = real[6:].split("/", 1)[0]
            if tid.isdigit():
                for root in proc_roots:
                    try:
                        lstat(root + "/task/" + tid)
                        return real
                    except OSError:
                        pass
        return None

    def off_limits(path):
        path = text(path)
        if path is None:
            return None
        if path.startswith("/"):
            return matches(resolve(path))
        for base in bases():
            real = matches(resolve(base + "/" + path))
            if real is not None:
                return real
        return None

    def named_in_command(args):
        # a command line (or its argv, cwd) that names an off-limits folder, e.g. `cat <scorer file>`
        todo, seen = list(args), 0
        while todo and seen < 10000:
            item, seen = todo.pop(), seen + 1
            if type(item) is list or type(item) is tuple:
                todo.extend(item)
                continue
            line = text(item)
            if line is None:
                continue
            for root in deny:
                if root in line:
                    return root
        return None

    def audit(event, args):
        if busy[0]:
            return
        if event in graph:
            raise error("rearena: walking the object graph (%s) is off limits while scoring" % event)
        if not args or (event not in watched and event not in commands):
            return
        busy[0] = True
        try:
            real = off_limits(args[0]) if event in watched else named_in_command(args[:3])
        finally:
            busy[0] = False
        if real is not None:
            record.append("%s %s" % (event, real))
            raise error("rearena: %s is off limits while scoring" % real)

    def denied(exc):
        # an error that the operating system raised on an off-limits path (where the scorer confines the
        # candidate, the folders are covered and even a stat fails): recorded as an attempt
        for _ in range(10):
            if exc is None:
                return False
            if isinstance(exc, OSError) and exc.errno in (1, 13):  # EPERM, EACCES
                for name in (exc.filename, exc.filename2):
                    real = off_limits(name) if name is not None else None
                    if real is not None:
                        record.append("denied %s" % real)
                        return True
            exc = exc.__cause__ or exc.__context__
        return False

    if deny:
        sys.addaudithook(audit)
    return denied if deny else (lambda exc: False)


_denied = _install_tripwire(DENY, _violations)
del _install_tripwire
'''

# Frames in and out (8-byte length, then a pickle) and a short traceback, shared by both boots.
FRAMING = r'''
def _framing(read, write, dumps, pack, join, in_fd, out_fd, len, memoryview, Exception, EOFError):
    # The frame I/O with every helper bound now, before the candidate's code runs: rebinding os.write,
    # pickle.dumps, a builtin or a name of __main__ afterwards changes nothing in what these read and send.
    def read_exact(n):
        chunks = []
        while n:
            chunk = read(in_fd, n if n < 1048576 else 1048576)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return join(chunks)

    def send(obj):
        try:
            data = dumps(obj, protocol=5)
        except Exception as exc:
            data = dumps(("raised", "TypeError", "the result cannot be sent back: %s" % (exc,), ""), protocol=5)
        view = memoryview(pack(">Q", len(data)) + data)
        while view:
            view = view[write(out_fd, view):]

    return read_exact, send


# a boot may define _FRAME_READ before this (the kernel boot's polling read on a GPU)
_read_exact, _send = _framing(globals().get("_FRAME_READ", os.read), os.write, pickle.dumps, struct.pack, b"".join,
                              IN_FD, OUT_FD, len, memoryview, Exception, EOFError)
del _framing


def _tail(exc):
    _denied(exc)
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])[-4000:]
'''

# Importing the entry point and reading requests, shared by the boots.
ENTRY = r'''
def _load_entry():
    # Import FILE and return its FUNC; or answer why not (missing, memory, forbidden, raised) and return None.
    sys.path.insert(0, os.getcwd())
    if not os.path.isfile(FILE):
        _send(("missing", "the candidate has no file %s" % FILE))
        return None
    try:
        module = importlib.import_module(FILE[:-3] if FILE.endswith(".py") else FILE)
    except MemoryError:
        _send(("memory", "MemoryError while importing %s" % FILE))
        return None
    except BaseException as exc:
        if _denied(exc) or _violations:
            _send(("forbidden", _violations[:20]))
        else:
            _send(("raised", type(exc).__name__, "importing %s failed: %s" % (FILE, str(exc)[:2000]), _tail(exc)))
        return None
    fn = getattr(module, FUNC, None)
    if not callable(fn):
        _send(("missing", "%s defines no function %s" % (FILE, FUNC)))
        return None
    return fn


def _requests():
    # (args, kwargs) of every call, until the scorer says exit or closes the pipe.
    while True:
        try:
            header = _read_exact(8)
        except EOFError:
            return
        msg = pickle.loads(_read_exact(struct.unpack(">Q", header)[0]))
        if msg[0] == "exit":
            return
        yield msg[1], msg[2]
'''

BOOT = r'''
import os, sys, pickle, struct, traceback, importlib

IN_FD, OUT_FD = int(sys.argv[1]), int(sys.argv[2])
FILE, FUNC = sys.argv[3], sys.argv[4]
DENY = tuple(p for p in sys.argv[5:] if p)
''' + TRIPWIRE + FRAMING + ENTRY + r'''

def _plain(value):
    # numpy arrays and torch tensors go back as nested lists
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, str, bytes)):
        return value.tolist()
    return value


fn = _load_entry()
if fn is not None:
    _send(("ready",))
    for args, kwargs in _requests():
        try:
            answer = ("ok", _plain(fn(*args, **kwargs)))
        except MemoryError:
            answer = ("memory", "MemoryError in %s" % FUNC)
        except BaseException as exc:
            answer = ("raised", type(exc).__name__, str(exc)[:2000], _tail(exc))
        _send(("forbidden", _violations[:20]) if _violations else answer)
sys.stdout.flush()
os._exit(0)
'''
