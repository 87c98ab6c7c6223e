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
    import posixpath
    from pathlib import PosixPath, PurePosixPath

    deny = tuple(str(root) for root in deny)
    busy = [False]
    realpath, fsdecode = posixpath.realpath, os.fsdecode
    error = PermissionError
    watched = frozenset(("open", "os.listdir", "os.scandir", "os.chdir", "shutil.copyfile", "shutil.copytree",
                         "glob.glob", "os.chmod", "os.remove", "os.rename", "os.truncate"))
    commands = frozenset(("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn"))
    graph = frozenset(("gc.get_objects", "gc.get_referrers", "gc.get_referents"))
    paths = (PosixPath, PurePosixPath)

    def text(item):
        # a plain str of a path-like argument, without calling anything the candidate defined
        kind = type(item)
        if kind is str or kind is bytes:
            plain = item
        elif issubclass(kind, str):  # type() and issubclass(): no __class__ of the candidate's is consulted
            plain = str.__str__(item)
        elif issubclass(kind, (bytes, bytearray)):
            plain = bytes(memoryview(item))
        elif kind is paths[0] or kind is paths[1]:
            plain = str(item)
        else:
            return None
        try:
            return fsdecode(plain)
        except Exception:
            return None

    def off_limits(path):
        path = text(path)
        if path is None:
            return None
        real = realpath(path)
        for root in deny:
            if real == root or real.startswith(root + "/"):
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

    if deny:
        sys.addaudithook(audit)


_install_tripwire(DENY, _violations)
del _install_tripwire
'''

# Frames in and out (8-byte length, then a pickle) and a short traceback, shared by both boots.
FRAMING = r'''
def _read_exact(n):
    chunks = []
    while n:
        chunk = os.read(IN_FD, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _send(obj):
    try:
        data = pickle.dumps(obj, protocol=5)
    except Exception as exc:
        data = pickle.dumps(("raised", "TypeError", "the result cannot be sent back: %s" % exc, ""), protocol=5)
    view = memoryview(struct.pack(">Q", len(data)) + data)
    while view:
        n = os.write(OUT_FD, view)
        view = view[n:]


def _tail(exc):
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
        if _violations:
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
