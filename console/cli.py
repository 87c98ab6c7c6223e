"""The `rearena` command: the console (no arguments), score, env and trial."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

USAGE_ERROR = 2
SIGPIPE_EXIT = 128 + 13  # what a shell reports for a program that SIGPIPE stopped
MAX_TRIAL_ID = 2**31 - 1  # the largest id a trial can have (PostgreSQL's integer; SQLite's reach further)
MAX_TIMEOUT_S = 24 * 3600.0
MAX_CALIBRATION_RUNS = 1000


class UsageError(Exception):
    """Bad arguments: the message says what was wrong and lists the choices."""


def parse_trial_id(text: str) -> int:
    """A trial id typed by the user (an argument or REARENA_TRIAL); ArgumentTypeError says what is wrong."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a trial id (a number; see `rearena trial list`)")
    if int(text) > MAX_TRIAL_ID:
        raise argparse.ArgumentTypeError(f"{text} is not a trial id (at most {MAX_TRIAL_ID})")
    return int(text)


def timeout_seconds(text: str) -> float:
    """--timeout: seconds, more than 0 and at most a day; ArgumentTypeError says what is wrong."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_TIMEOUT_S:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"give a number of seconds more than 0 and at most {MAX_TIMEOUT_S:g} "
                                         f"(a day), not {text!r}")
    return value


def calibration_runs(text: str) -> int:
    """--runs of `env calibrate`: a whole number from 1 to MAX_CALIBRATION_RUNS; ArgumentTypeError otherwise."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_CALIBRATION_RUNS:
        raise argparse.ArgumentTypeError(f"give a whole number of runs from 1 to {MAX_CALIBRATION_RUNS}, not {text!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="rearena", description=__doc__)
    parser.add_argument("--db", help="SQLAlchemy URL of the database (default: SQLite in the data folder; env REARENA_DB)")
    parser.add_argument("--data-dir", help="folder for the database, snapshots and workdirs (env REARENA_DATA_DIR)")
    parser.add_argument("--trial", dest="open_trial", type=parse_trial_id, metavar="TRIAL",
                        help="open the console on this trial (default: the one this terminal had open)")
    sub = parser.add_subparsers(dest="command")

    score = sub.add_parser("score", help="score a candidate folder against an environment")
    score.add_argument("spec", metavar="ENV[:VARIANT]")
    score.add_argument("path", type=Path, metavar="PATH")
    score.add_argument("--json", action="store_true", help="print the result as JSON")
    score.add_argument("--record", type=parse_trial_id, metavar="TRIAL",
                       help="record the result as a submission of a trial")
    score.add_argument("--timeout", type=timeout_seconds,
                       help="scoring timeout in seconds, at most a day (default: the environment's)")

    env = sub.add_parser("env", help="list, show and calibrate environments")
    env_sub = env.add_subparsers(dest="env_command", required=True)
    env_sub.add_parser("list", help="list environments (and any that failed to load)")
    show = env_sub.add_parser("show", help="show one environment")
    show.add_argument("name")
    cal = env_sub.add_parser("calibrate", help="measure the starting and reference solutions on this machine")
    cal.add_argument("spec", metavar="ENV[:VARIANT]")
    cal.add_argument("--runs", type=calibration_runs, default=3,
                     help=f"scorings of each solution, 1 to {MAX_CALIBRATION_RUNS} (median kept)")
    cal.add_argument("--sandbox", default="local", choices=["local", "docker"],
                     help="where the scorings run: local (this machine's processes, for local trials) or docker "
                     "(a scoring container of the environment's image, for docker trials); each is kept apart")
    build = env_sub.add_parser("build", help="build an environment's docker image (for the docker sandbox)")
    build.add_argument("name")
    build.add_argument("--base-image", help="the image to build on (default: $REARENA_BASE_IMAGE, else "
                       "rearena/base:bookworm from docker/build_base_image.sh)")

    replay = sub.add_parser("replay", help="open the console on two trials replayed side by side")
    replay.add_argument("first", type=parse_trial_id, metavar="TRIAL")
    replay.add_argument("second", type=parse_trial_id, metavar="TRIAL")

    from console.cli_trial import add_trial_parser

    add_trial_parser(sub)
    from console.cli_task import add_task_parser

    add_task_parser(sub)
    from console.serve import add_serve_parser

    add_serve_parser(sub)
    from console.compare.commands import add_compare_parsers

    add_compare_parsers(sub)
    from console.agents.cli import add_agent_parser

    add_agent_parser(sub)
    from scoring.rubric.cli import add_judge_parser

    add_judge_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 invalid or failed, 2 usage error, 141 its output's
    reader went away, as `rearena trial status | head -4`: quietly, as Unix tools stop on SIGPIPE)."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader gone shows here, not as a traceback when the interpreter exits
        return code
    except BrokenPipeError:
        if not _stdout_closed():  # another pipe (a scorer's, a server's) broke: not ours to hide
            raise
        # the interpreter flushes stdout once more as it exits: let that write go nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT


def _stdout_closed() -> bool:
    """Whether stdout is a pipe or socket whose reader has gone (poll says POLLERR); False where it cannot say."""
    import select

    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's captured stdout), no poll
        return False


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    use_data_dir(args.data_dir)
    use_db(args.db)
    try:
        if args.command in (None, "replay"):
            return run_console(args)
        if args.command == "score":
            return cmd_score(args)
        if args.command == "env":
            from console.cli_env import cmd_env

            return cmd_env(args)
        if args.command == "task":
            from console.cli_task import cmd_task

            return cmd_task(args)
        if args.command == "agent":
            from console.agents.cli import cmd_agent

            return cmd_agent(args)
        if args.command in ("report", "export", "import"):
            from console.compare.commands import cmd_compare

            return cmd_compare(args)
        if args.command == "judge-eval":
            from scoring.rubric.cli import cmd_judge_eval

            return cmd_judge_eval(args)
        if args.command == "serve":
            from console.serve import cmd_serve

            return cmd_serve(args)
        from console.cli_trial import cmd_trial

        return cmd_trial(args)
    except UsageError as exc:
        print(f"rearena: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:  # a scoring under way has been stopped with everything it started (scoring.runner)
        print("rearena: interrupted", file=sys.stderr)
        return 130


def use_data_dir(data_dir: str | None) -> None:
    """Make --data-dir this process's data folder for everything that asks the environment: the scorer's
    off-limits list (scoring.off_limits.data_dir) only reads REARENA_DATA_DIR, and scorings, sandboxes and
    served consoles started from here inherit it."""
    if data_dir:
        os.environ["REARENA_DATA_DIR"] = str(Path(data_dir).expanduser().absolute())


def use_db(db_url: str | None) -> None:
    """Make --db this process's database for everything that asks the environment: the scorer covers a
    SQLite file and its journals for candidates (scoring.runner reads REARENA_DB), and what starts from
    here inherits it. A relative SQLite path is made absolute, as the store opens it from here."""
    if db_url:
        from urllib.parse import quote

        from scoring.off_limits import sqlite_file

        database = sqlite_file(db_url)
        os.environ["REARENA_DB"] = (f"sqlite:///{quote(str(database))}" if database is not None and "?" not in db_url
                                    else db_url)


def load_registry():
    """The environment registry, reporting environments that failed to load on stderr."""
    from environments.registry import load_registry as load

    registry = load()
    return registry


def resolve(registry, spec: str):
    """ENV[:VARIANT] to (environment, variant); a UsageError lists the choices."""
    try:
        return registry.resolve(spec)
    except KeyError as exc:
        raise UsageError(exc.args[0] if exc.args else str(exc)) from None


def open_store(args):
    """The store named by --db / --data-dir (or their defaults)."""
    from console.config import Settings
    from console.store.db import StoreError, open_store as open_

    settings = Settings.load(args.data_dir, args.db)
    try:
        return open_(settings.db_url, settings.data_dir)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def _quick_calibrations(args, environment: str):
    """The environment's saved calibrations read without opening the store (see console.store.quick_read), or None."""
    from console.config import Settings
    from console.store.quick_read import quick_calibrations

    settings = Settings.load(args.data_dir, args.db)
    return quick_calibrations(settings.db_url, settings.data_dir, environment)


def cmd_score(args) -> int:
    """`rearena score ENV[:VARIANT] PATH`."""
    import tempfile

    from scoring.runner import start_probe

    start_probe()  # the confinement probe, meanwhile
    registry = load_registry()
    env, variant = resolve(registry, args.spec)
    _check_candidate_folder(env, args.path)
    if not _is_reference_folder(env, args.path):
        return _score_folder(args, registry, env, variant)
    with tempfile.TemporaryDirectory(prefix="rearena-reference-") as tmp:
        reference, args.path = args.path, _reference_laid_over_starting(env, variant, Path(tmp) / "candidate")
        print(f"rearena: {reference} is {env.name}'s reference solution: scoring it laid over the starting "
              "files (in a temporary folder), as a calibration does", file=sys.stderr)
        return _score_folder(args, registry, env, variant)


def _check_candidate_folder(env, path: Path) -> None:
    """UsageError unless path is a folder: a file is named as one, with the folder that holds it."""
    holds = f"the folder that holds {env.entry_point.split(':')[0] if env.entry_point else 'the solution'}"
    if path.is_dir():
        return
    if path.exists():
        raise UsageError(f"{path} is a file: give {holds} (its parent: {path.parent}{os.sep})")
    raise UsageError(f"candidate folder not found: {path} (give {holds})")


def _is_reference_folder(env, path: Path) -> bool:
    """Whether path is the environment's own reference solution folder (files meant to lie over starting/)."""
    from environments.registry import reference_dir

    reference = reference_dir(env)
    return reference is not None and path.resolve() == reference.resolve()


def _reference_laid_over_starting(env, variant, dest: Path) -> Path:
    """The starting files with the reference solution laid over them, in dest (as a calibration scores it)."""
    from environments.metr import MetrError
    from environments.registry import materialize_candidate

    try:
        return materialize_candidate(env, variant.name, dest, with_reference=True)
    except (OSError, MetrError) as exc:
        raise UsageError(f"cannot lay the reference solution of {env.name} over its starting files: {exc}") from None


def _score_folder(args, registry, env, variant) -> int:
    """Score args.path, print the verdict (as the participant may see it inside a trial), exit status."""
    import threading

    from console.trials.hidden import inside_trial, participant_lines, participant_result

    # Look up the calibration while the scorer runs: opening the store costs imports.
    found: dict = {}
    if args.record is not None:  # a trial that cannot take the result is said before the scoring, not after
        found["store"] = _record_target(args, registry, env, variant)

    def lookup() -> None:
        try:
            from console.trials.calibrations import choose_calibration

            source = found["store"] if "store" in found else _quick_calibrations(args, env.name)
            if source is None:  # a database the quick reader leaves to the store
                source = found["store"] = open_store(args)
            found["choice"] = choose_calibration(source, env, variant.name)
        except Exception as exc:  # a broken database must not stop scoring
            found["error"] = exc

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    with _scoring_pause(found, registry, args.record):  # a trial's clock stops at the request, as its own scorings do
        result = _scored(env, variant, args, worker, found, registry)
    visible = env.scores_visible or not inside_trial()  # operators see everything; participants what they may
    if args.json:
        print(json.dumps(participant_result(result, visible), indent=2, default=str))
    elif visible:
        from console.render import print_verdict

        print_verdict(result)
    else:
        from console.render import printable

        for line in participant_lines(result, recorded=args.record is not None):
            print(printable(line))
    return 0 if result.valid else 1


@contextmanager
def _scoring_pause(found, registry, trial_id):
    """The trial's scoring pause around `score --record`; a trial that cannot be scored now (another scoring of
    it under way, or it has ended) is a UsageError before the candidate is scored."""
    from console.trials.service import TrialError, TrialService

    with ExitStack() as stack:
        if trial_id is not None:
            try:
                stack.enter_context(TrialService(found["store"], registry).scoring_pause(trial_id))
            except TrialError as exc:
                raise UsageError(str(exc)) from None
        yield


def _scored(env, variant, args, worker, found, registry):
    """Score, apply the calibration, and record into --record's trial (inside its scoring pause)."""
    from scoring.normalize import apply_calibration
    from scoring.runner import score_candidate

    result = score_candidate(env, variant.name, args.path, timeout_s=args.timeout)
    worker.join()
    if "error" in found:
        if args.record is not None:
            raise UsageError(str(found["error"]))
        print(f"rearena: warning: using the manifest's calibration ({found['error']})", file=sys.stderr)
    choice = found.get("choice")
    if choice is not None and choice.stale is not None:
        from console.trials.calibrations import stale_notice

        print(stale_notice(env, variant.name, choice.stale), file=sys.stderr)
    elif env.calibrate_per_machine and result.valid and (choice is None or choice.calibration.source != "measured"):
        print(f"rearena: {env.name}'s scores depend on the machine and no calibration is measured here: normalized "
              f"with the manifest's ({env.calibration_for(variant.name).hardware or 'default'}); `rearena env "
              f"calibrate {env.name}:{variant.name}` measures this machine's (a trial made here measures it first)",
              file=sys.stderr)
    apply_calibration(result, choice.calibration if choice is not None else env.calibration_for(variant.name))
    if args.record is not None:
        _record(found["store"], registry, args.record, result, args.path)
    return result


def _record_target(args, registry, env, variant):
    """The store, once the trial to record into is found open and of this environment and variant."""
    from console.store.db import StoreError
    from console.trials.service import TrialService

    store = open_store(args)
    try:
        trial = TrialService(store, registry).check_limits(args.record)  # ends it if its time ran out
    except StoreError as exc:
        raise UsageError(f"cannot record into trial {args.record}: {exc}") from None
    if trial.status == "ended":
        raise UsageError(f"cannot record into trial {args.record}: it has ended ({trial.end_reason})")
    if (trial.environment, trial.variant) != (env.name, variant.name):
        raise UsageError(f"cannot record into trial {args.record}: it is a trial of {trial.environment}:"
                         f"{trial.variant}, not {env.name}:{variant.name}")
    return store


def _record(store, registry, trial_id: int, result, path: Path) -> None:
    from console.store.db import StoreError
    from console.trials.service import TrialError, TrialService

    try:
        TrialService(store, registry).record_folder(trial_id, result, path)
    except (StoreError, TrialError) as exc:
        raise UsageError(f"cannot record into trial {trial_id}: {exc}") from None


def run_console(args) -> int:
    """Open the Textual console."""
    from console.ui.app import run

    return run(args)
