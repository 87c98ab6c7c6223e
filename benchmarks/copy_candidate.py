"""How long copying a candidate's folder takes before a scoring (scoring.runner._copy_candidate, every
folder and file opened without following a link and checked to be inside the folder), against
shutil.copytree(symlinks=True) of the same folder in the same run; and the rubric judge's read of its
text files (scoring.rubric.judge.candidate_files) against a plain read of the same files.

    python benchmarks/copy_candidate.py [--repeats 3] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.machine import machine_line  # noqa: E402


def _many(root: Path, folders: int, per_folder: int) -> None:
    for i in range(folders):
        folder = root / f"d{i:04d}"
        folder.mkdir(parents=True)
        for j in range(per_folder):
            (folder / f"f{j:04d}.py").write_text(f"x = {j}\n")


def _deep(root: Path, depth: int) -> None:
    here = root
    for i in range(depth):
        here = here / "d"
        here.mkdir(parents=True)
        (here / "f.py").write_text(f"x = {i}\n")


def _remove(path: Path) -> None:
    from scoring.runner import remove_tree

    remove_tree(path)  # rm -rf: a deep tree is too deep for shutil.rmtree


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _plain_read(folder: Path) -> None:
    for path in folder.rglob("*.py"):
        path.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the folders are made (default: the temporary folder)")
    args = parser.parse_args()
    from scoring.rubric.judge import candidate_files
    from scoring.runner import _copy_candidate

    print(machine_line())
    print(f"best of {args.repeats}; folders under {args.dir or tempfile.gettempdir()}")
    cases = {"20,000 files in one folder": lambda r: _many(r, 1, 20_000),
             "200 folders of 100 files": lambda r: _many(r, 200, 100),
             "a tree 300 folders deep": lambda r: _deep(r, 300)}
    for name, make in cases.items():
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            src = Path(tmp) / "cand"
            src.mkdir()
            make(src)
            count = [0]

            def timed(copier) -> float:
                dest = Path(tmp) / f"copy{count[0]}"
                count[0] += 1
                started = time.perf_counter()
                copier(dest)
                took = time.perf_counter() - started
                _remove(dest)
                return took

            ours = min(timed(lambda d: _copy_candidate(src, d, cap_bytes=1 << 30)) for _ in range(args.repeats))
            base = min(timed(lambda d: shutil.copytree(src, d, symlinks=True)) for _ in range(args.repeats))
            print(f"{name}: copy {ours:.3f} s, shutil.copytree {base:.3f} s, ratio {ours / base:.2f}")
            if "deep" not in name:  # the judge reads what the copy reads: the broad cases tell
                judge, plain = _best(lambda: candidate_files(src), args.repeats), _best(lambda: _plain_read(src), args.repeats)
                print(f"{name}: judge's read {judge:.3f} s, plain read {plain:.3f} s, ratio {judge / plain:.2f}")


if __name__ == "__main__":
    main()
