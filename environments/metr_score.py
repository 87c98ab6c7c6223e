"""Call a METR Task Standard TaskFamily: in-process (score_family) or as a helper script that answers in JSON.

Stdlib only, so that it runs as `python -I environments/metr_score.py OP ...` in a subprocess without
importing the rest of rearena. Ops: info, instructions, start, score, aggregate (see `main`).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any

SUBMISSION_FILE = "submission.txt"
NO_SCORE = "the task family returned no score"


class FamilyError(Exception):
    """A TaskFamily broke the standard or raised; `stage` names the method, `location` file:line."""

    def __init__(self, stage: str, message: str, location: str = "", tb: str = "") -> None:
        super().__init__(message)
        self.stage, self.message, self.location, self.tb = stage, message, location, tb

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {"stage": self.stage, "error": self.message, "location": self.location, "traceback": self.tb}


def _location(exc: BaseException, folder: Path) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [fr for fr in frames if Path(fr.filename).resolve().is_relative_to(folder)]
    frame = (inside or frames or [None])[-1]
    return f"{frame.filename}:{frame.lineno}" if frame else ""


def _call(stage: str, folder: Path, fn: Any, *args: Any) -> Any:
    """fn(*args), turning any exception (even SystemExit) into a FamilyError for `stage`."""
    try:
        return fn(*args)
    except BaseException as exc:  # noqa: BLE001 - a family may raise anything, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        message = f"raised {type(exc).__name__}: {exc}"
        raise FamilyError(stage, message, _location(exc, folder), traceback.format_exc()) from None


def import_family(family_file: str | os.PathLike[str]) -> type:
    """Import `<family>.py` (its folder first on sys.path) and return its TaskFamily class."""
    path = Path(family_file).resolve()
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise FamilyError("import", f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    _call("import", path.parent, spec.loader.exec_module, module)
    family = getattr(module, "TaskFamily", None)
    if not isinstance(family, type):
        raise FamilyError("import", f"{path.name} defines no class TaskFamily")
    return family


def get_tasks(family: type, folder: Path) -> dict[str, Any]:
    """TaskFamily.get_tasks(), checked to be a dict of task name -> task dict."""
    if not callable(getattr(family, "get_tasks", None)):
        raise FamilyError("get_tasks", "TaskFamily has no get_tasks() (the standard requires it)")
    tasks = _call("get_tasks", folder, family.get_tasks)
    if not isinstance(tasks, dict):
        raise FamilyError("get_tasks", f"expected a dict of task name -> dict, got {type(tasks).__name__}")
    for name, task in tasks.items():
        if not isinstance(name, str) or not isinstance(task, dict):
            raise FamilyError("get_tasks", f"expected a dict of task name -> dict; task {str(name)[:80]!r} "
                                           f"({type(name).__name__}) is a {type(task).__name__}: {repr(task)[:80]}")
    return tasks


def get_task(family: type, folder: Path, task_name: str) -> dict[str, Any]:
    """The task dict for `task_name`; a missing name lists the family's tasks."""
    tasks = get_tasks(family, folder)
    if task_name not in tasks:
        raise FamilyError("get_tasks", f"no task {task_name!r}; tasks: {', '.join(tasks)}")
    return tasks[task_name]


def json_safe(value: Any) -> Any:
    """A copy that json.dumps accepts: paths and other objects become strings, NaN becomes None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def family_info(family_file: str | os.PathLike[str], default: str = "") -> dict[str, Any]:
    """What the adapter needs to know about a family, and the instructions of its default task.

    The default task is `default` if the family has it, else "main", else the first task.
    """
    path = Path(family_file).resolve()
    family = import_family(path)
    tasks = get_tasks(family, path.parent)
    methods = ["install", "start", "score", "intermediate_score", "aggregate_scores", "get_permissions", "teardown"]
    info: dict[str, Any] = {
        "standard_version": getattr(family, "standard_version", None),
        "required_environment_variables": list(getattr(family, "required_environment_variables", []) or []),
        "tasks": json_safe(tasks),
        "methods": [m for m in methods if callable(getattr(family, m, None))],
        "has_get_instructions": callable(getattr(family, "get_instructions", None)),
        "doc": ((family.__doc__ or "").strip().splitlines() or [""])[0],
        "default_task": None,
        "instructions": None,
    }
    if tasks:
        chosen = default if default in tasks else ("main" if "main" in tasks else next(iter(tasks)))
        info["default_task"] = chosen
        if info["has_get_instructions"]:
            info["instructions"] = instructions(family, path.parent, chosen)
    return json_safe(info)


def instructions(family: type, folder: Path, task_name: str) -> str:
    """TaskFamily.get_instructions(t) for one task, checked to be a string."""
    if not callable(getattr(family, "get_instructions", None)):
        raise FamilyError("get_instructions", "TaskFamily has no get_instructions() (the standard requires it)")
    text = _call("get_instructions", folder, family.get_instructions, get_task(family, folder, task_name))
    if not isinstance(text, str):
        raise FamilyError("get_instructions", f"expected a string, got {type(text).__name__}")
    return text


def start_family(family_file: str | os.PathLike[str], task_name: str) -> None:
    """TaskFamily.start(t), if the family defines it."""
    path = Path(family_file).resolve()
    family = import_family(path)
    task = get_task(family, path.parent, task_name)
    if callable(getattr(family, "start", None)):
        _call("start", path.parent, family.start, task)


def read_submission(candidate_dir: str | os.PathLike[str]) -> str:
    """candidate_dir/submission.txt without trailing newlines; "" when there is none."""
    try:
        return (Path(candidate_dir) / SUBMISSION_FILE).read_text(encoding="utf-8", errors="replace").rstrip("\r\n")
    except (FileNotFoundError, IsADirectoryError):
        return ""


def interpret(result: Any, method: str) -> dict[str, Any]:
    """Turn what score / intermediate_score returned into {"raw", "message", "details"}."""
    message: Any = ""
    details: dict[str, Any] = {}
    if isinstance(result, dict):  # IntermediateScoreResult: {"score", "message", "details"}
        message, details = result.get("message") or "", result.get("details") or {}
        result = result.get("score")
    elif isinstance(result, (tuple, list)) and len(result) == 2:  # older (score, message)
        result, message = result
    if not isinstance(details, dict):
        details = {"details": details}
    details = json_safe(details)
    if isinstance(message, dict):
        details = {**details, "task_message": json_safe(message)}
        message = json.dumps(json_safe(message), sort_keys=True)
    message = str(message)
    if result is None:
        return {"raw": None, "message": f"{NO_SCORE}{': ' + message if message else ''}", "details": details}
    if isinstance(result, bool) or not isinstance(result, (int, float)):
        text = f"TaskFamily.{method} returned {type(result).__name__} {result!r}; expected a number or None"
        return {"raw": None, "message": text, "details": details}
    if not math.isfinite(result):
        text = f"the task family scored this attempt {result} (invalid){': ' + message if message else ''}"
        return {"raw": None, "message": text, "details": details}
    return {"raw": float(result), "message": message, "details": details}


def score_family(
    family_file: str | os.PathLike[str], task_name: str, candidate_dir: str | os.PathLike[str], intermediate: bool
) -> dict[str, Any]:
    """Score a candidate with the family (intermediate_score or score); returns {"raw", "message", "details"}."""
    path = Path(family_file).resolve()
    try:
        family = import_family(path)
        task = get_task(family, path.parent, task_name)
        has_score = callable(getattr(family, "score", None))
        has_intermediate = callable(getattr(family, "intermediate_score", None))
        if (intermediate and has_intermediate) or (has_intermediate and not has_score):
            result = _call("intermediate_score", path.parent, family.intermediate_score, task)
            return interpret(result, "intermediate_score")
        if has_score:
            submission = read_submission(candidate_dir)
            return interpret(_call("score", path.parent, family.score, task, submission), "score")
        return {"raw": None, "message": "the task family defines neither score nor intermediate_score", "details": {}}
    except FamilyError as err:
        where = f" (at {err.location})" if err.location else ""
        return {"raw": None, "message": f"TaskFamily.{err.stage}: {err.message}{where}", "details": err.as_dict()}


def aggregate_family(family_file: str | os.PathLike[str], task_name: str, scores: list[dict[str, Any]]) -> float | None:
    """TaskFamily.aggregate_scores(t, scores), or None when the family does not define it."""
    path = Path(family_file).resolve()
    family = import_family(path)
    task = get_task(family, path.parent, task_name)
    if not callable(getattr(family, "aggregate_scores", None)):
        return None
    value = _call("aggregate_scores", path.parent, family.aggregate_scores, task, scores)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _run_op(op: str, args: list[str]) -> Any:
    if op == "info":
        return family_info(args[0], args[1] if len(args) > 1 else "")
    if op == "instructions":
        path = Path(args[0]).resolve()
        return instructions(import_family(path), path.parent, args[1])
    if op == "start":
        return start_family(args[0], args[1])
    if op == "score":
        os.chdir(args[2])
        return score_family(args[0], args[1], args[2], intermediate="--intermediate" in args[3:])
    if op == "aggregate":
        return aggregate_family(args[0], args[1], json.loads(Path(args[2]).read_text()))
    raise FamilyError("usage", f"unknown op {op!r}")


def main(argv: list[str] | None = None) -> int:
    """Run one op and write {"ok": true, "result": ...} or {"ok": false, ...} as JSON on the original stdout."""
    argv = sys.argv[1:] if argv is None else argv
    out = os.dup(1)
    os.dup2(2, 1)  # whatever the family prints goes to stderr; the answer alone goes to the real stdout
    try:
        if not argv:
            raise FamilyError("usage", "usage: metr_score.py OP FAMILY_FILE [ARGS...]")
        answer: dict[str, Any] = {"ok": True, "result": json_safe(_run_op(argv[0], argv[1:]))}
    except FamilyError as err:
        answer = {"ok": False, **err.as_dict()}
    except Exception as exc:  # noqa: BLE001 - a bug here must still answer in JSON
        answer = {
            "ok": False,
            "stage": "helper",
            "error": f"raised {type(exc).__name__}: {exc}",
            "location": "",
            "traceback": traceback.format_exc(),
        }
    sys.stdout.flush()
    with os.fdopen(out, "w", encoding="utf-8") as channel:
        channel.write(json.dumps(answer) + "\n")
    return 0 if answer["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
