"""Processes the tests look for through /proc: whether one is alive, and what runs below another."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def below(root: int) -> dict[int, int]:
    """pid -> parent of every process below root, read from /proc now."""
    parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    data = f.read()
                parents[int(entry.name)] = int(data[data.rfind(b")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, todo = {}, [root]
    while todo:
        one = todo.pop()
        for pid, parent in parents.items():
            if parent == one and pid not in found:
                found[pid] = parent
                todo.append(pid)
    return found


def descendants(root: int) -> dict[int, str]:
    """pid -> command line of every process below root ("" where it could not be read)."""
    lines = {}
    for pid in below(root):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                lines[pid] = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            lines[pid] = ""
    return lines
