"""What a candidate may not read or write while scored, and how it is covered.

Off limits: the scorer's files (`scoring/`, `environments/`, the repository's `.git`), the reference
solutions, the scorer's own processes in /proc, the Triton folders of the scorer's user (its kernel cache
holds the reference solution's compiled kernels and their source: triton_dirs), rearena's data folder
(every trial's database rows, snapshots and workdirs) and the SQLite database that --db / REARENA_DB
names outside that folder, with its journals (only those files, never their folder). Where the candidate
is a trial's workdir inside the data folder (scored from a copy: ORIGIN_VARIABLE), all of the data folder
is covered but the way down to that workdir; a data folder that holds the running python or the
repository is left uncovered (logged), and so is a Triton folder that holds them or the temp folder.

off_limits() is the list. scoring.confine covers each path in the candidate's mount namespace (an empty,
read-only tmpfs on a folder, /dev/null on a file; /proc is left to the tripwire), and the tripwire of
scoring.candidate_boot refuses opening them when they are its boot_args; _covers and _keep_own_folder keep
the candidate's own folder visible to itself.
"""

from __future__ import annotations

import logging
import os
import pwd
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote

logger = logging.getLogger(__name__)

# set by the runner in the scorer's environment: the candidate's folder as the participant has it (the
# candidate runs on a copy), left uncovered when it lies in rearena's data folder
ORIGIN_VARIABLE = "REARENA_CANDIDATE_ORIGIN"
DB_FILE_VARIABLE = "REARENA_DB_FILE"  # set by the runner: the SQLite database's file, outside the data folder
# for the runner to set in the scorer's environment (whose HOME is a temp folder): the Triton folders of the
# user who runs rearena, as triton_dirs() finds them there (os.pathsep between them)
TRITON_DIRS_VARIABLE = "REARENA_TRITON_DIRS"
TRITON_FOLDER_VARIABLES = ("TRITON_CACHE_DIR", "TRITON_DUMP_DIR", "TRITON_OVERRIDE_DIR")
REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path | None:
    """rearena's data folder (every trial's database rows, snapshots and workdirs), resolved as the
    console does; None where the console is not installed (a scoring container holds no data)."""
    try:
        from console.config import default_data_dir

        return Path(os.path.realpath(default_data_dir()))
    except (ImportError, RuntimeError):  # no console here (a scoring container), or no home folder
        return None


def sqlite_file(url: str | None) -> Path | None:
    """The file of a SQLite URL (sqlite:///relative or sqlite:////absolute, made absolute here); None for
    another database, an in-memory one, or no URL."""
    if not url or not url.startswith("sqlite:///"):
        return None
    path = unquote(url[len("sqlite:///"):].split("?", 1)[0])  # %XX decoded, as SQLAlchemy's make_url does
    return Path(os.path.abspath(path)) if path and path != ":memory:" else None


def database_files() -> list[Path]:
    """rearena's SQLite database and its journals where --db / REARENA_DB names a file outside the data
    folder (its rows are other trials' submissions, as the data folder's are): only these files, never
    their folder (which may hold the run's temp folder: /tmp)."""
    database = os.environ.get(DB_FILE_VARIABLE)
    if not database:
        return []
    database = os.path.realpath(database)
    return [Path(database + suffix) for suffix in ("", "-journal", "-wal", "-shm")]


def _inside(path: str | Path, folder: str | Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def _covers(boot_args: tuple[str, ...], candidate_dir: Path) -> list[str]:
    """What confinement covers for an untrusted candidate: off_limits() and the tripwire's own paths,
    less the data folder when it holds the candidate's folder."""
    paths = {*off_limits(), *(arg for arg in boot_args if os.path.isabs(arg))}
    return sorted(_keep_own_folder(tuple(paths), candidate_dir))


def _keep_own_folder(boot_args: tuple[str, ...], candidate_dir: Path) -> tuple[str, ...]:
    """boot_args without the data folder when it holds the candidate's own folder (covering it would
    hide the candidate's files from itself, and the tripwire would refuse every read of them)."""
    data = data_dir() if boot_args else None
    if data is None or not _inside(candidate_dir, data):
        return tuple(boot_args)
    return tuple(arg for arg in boot_args if not (os.path.isabs(arg) and os.path.realpath(arg) == str(data)))


def off_limits() -> list[str]:
    """What a candidate may not open while scored: the scorer's code, reference solutions, this process,
    and rearena's data folder (other trials' submissions and snapshots) where there is one."""
    roots = [REPO_ROOT / "reference_solutions", REPO_ROOT / "scoring", REPO_ROOT / "environments",
             REPO_ROOT / ".git", Path(f"/proc/{os.getpid()}"), Path(f"/proc/{os.getppid()}")]
    data = data_dir()
    if data is not None and data.is_dir() and not _holds_scorer(data):
        roots += _data_covers(data)
    roots += [path for path in database_files() if path.exists() and not (data is not None and _inside(path, data))]
    roots += _triton_covers()
    return sorted({os.path.realpath(p) for p in roots})


def triton_dirs() -> list[Path]:
    """The folders where Triton keeps this user's compiled kernels (with their source: the reference
    solution's, wherever the scorer or a benchmark compiled it), dumps and overrides: TRITON_CACHE_DIR,
    TRITON_DUMP_DIR, TRITON_OVERRIDE_DIR where set, and .triton in TRITON_HOME, HOME and the user's home
    by the password database (and $SUDO_USER's, under sudo) (the scorer's process runs with HOME a temp folder). A candidate compiles into
    .triton in its own folder (scoring.candidate gives it HOME = its folder and none of these variables)."""
    homes = [os.environ.get("TRITON_HOME"), os.environ.get("HOME")]
    try:
        homes.append(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:  # a uid without an entry (a container's): HOME is all there is
        pass
    if os.environ.get("SUDO_USER"):  # root by sudo (confinement needs root): the invoking user's cache too
        try:
            homes.append(pwd.getpwnam(os.environ["SUDO_USER"]).pw_dir)
        except KeyError:
            pass
    folders = [os.environ.get(name) for name in TRITON_FOLDER_VARIABLES]
    folders += os.environ.get(TRITON_DIRS_VARIABLE, "").split(os.pathsep)
    folders += [os.path.join(home, ".triton") for home in homes if home]
    return [Path(folder) for folder in dict.fromkeys(folders) if folder and os.path.isabs(folder)]


def _triton_covers() -> list[Path]:
    """triton_dirs(), less a folder that would hide what every candidate needs (the python, the repository,
    the temp folder that holds the candidates' copies): that one is left uncovered, logged."""
    needed = {"the python's prefix": sys.prefix, "the python's base prefix": sys.base_prefix,
              "the python's folder": os.path.dirname(os.path.realpath(sys.executable)),
              "the repository": REPO_ROOT, "the temp folder": tempfile.gettempdir()}
    covers = []
    for folder in triton_dirs():
        held = [f"{name} ({path})" for name, path in needed.items() if _inside(path, folder)]
        if held:
            logger.warning("the Triton folder %s is not off limits to candidates: it holds %s", folder, ", ".join(held))
        else:
            covers.append(folder)
    return covers


def _data_covers(data: Path) -> list[Path]:
    """The data folder; or, where the candidate's own folder lies in it (a trial's workdir, scored from a
    copy: ORIGIN_VARIABLE), everything in it but the way down to that folder, which the candidate may
    still name by its absolute path (the other trials, the database and the blobs stay covered)."""
    origin = os.environ.get(ORIGIN_VARIABLE)
    if not origin or not _inside(origin, data):
        return [data]
    here, covers = data, []
    for part in Path(os.path.realpath(origin)).relative_to(data).parts:
        try:
            names = os.listdir(here)
        except OSError:
            return [data]
        covers += [here / name for name in names if name != part]
        here = here / part
    return covers


def _holds_scorer(data: Path) -> bool:
    """Whether the data folder holds the running python or the repository: covering it would hide them
    from the candidate (and the tripwire would refuse its imports), so it is left uncovered, logged."""
    needed = {"the python's prefix": sys.prefix, "the python's base prefix": sys.base_prefix,
              "the python's folder": os.path.dirname(os.path.realpath(sys.executable)),
              "the repository": REPO_ROOT}
    held = [f"{name} ({path})" for name, path in needed.items() if _inside(path, data)]
    if held:
        logger.warning("rearena's data folder %s is not off limits to candidates: it holds %s; move it elsewhere to "
                       "protect it", data, ", ".join(held))
    return bool(held)
