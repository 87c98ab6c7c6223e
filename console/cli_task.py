"""`rearena task score|submit|status|note|pause|resume|instructions`: act on the trial of this shell ($REARENA_TRIAL).

Like the `task` command of Inspect AI's human agent: typed inside a trial's shell, each call
first ingests the commands typed so far, then acts on the trial named by $REARENA_TRIAL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from console.cli import UsageError, load_registry, open_store, parse_trial_id

ALIASES = {"start": "resume", "stop": "pause"}


def add_task_parser(sub) -> None:
    """Add the `task` subcommands to the main parser."""
    task = sub.add_parser("task", help="act on the trial of this shell ($REARENA_TRIAL): score, submit, status...")
    tsub = task.add_subparsers(dest="task_command", required=True, metavar="COMMAND")
    score = tsub.add_parser("score", help="score the workdir now (the clock stops while it scores)")
    score.add_argument("--json", action="store_true", help="print the submission as JSON")
    submit = tsub.add_parser("submit", help="score one last time and end the trial")
    submit.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    status = tsub.add_parser("status", help="clock, budget and submissions")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    note = tsub.add_parser("note", help="add a note to the trial's record")
    note.add_argument("text", nargs="+", help="the note (several words are joined)")
    pause = tsub.add_parser("pause", aliases=["stop"], help="stop the clock, with a reason")
    pause.add_argument("--reason", default="human", help="human, break, system, ... (default: human)")
    pause.add_argument("--note", default="", help="a few words about the pause")
    tsub.add_parser("resume", aliases=["start"], help="restart the clock after a pause")
    tsub.add_parser("instructions", help="print the environment's instructions")


def task_trial_id() -> int:
    """The trial of this shell, from $REARENA_TRIAL; UsageError when it is missing or not a number."""
    value = os.environ.get("REARENA_TRIAL", "").strip()
    if not value:
        raise UsageError("no trial: run `rearena task` inside a trial's shell, or set REARENA_TRIAL to a trial id")
    try:
        return parse_trial_id(value)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"REARENA_TRIAL must be a trial id: {exc}") from None


def note_text(words: list[str], usage: str = "rearena task note TEXT") -> str:
    """The note made of the words typed; UsageError when it says nothing (an empty note is never recorded)."""
    text = " ".join(words)
    if not text.strip():
        raise UsageError(f"the note is empty: `{usage}` says what to note")
    return text


def require_trial(service, trial_id: int) -> None:
    """UsageError "no trial N" unless the trial exists (a wrong id is a usage error, as for `rearena export`)."""
    from console.store.db import StoreError

    try:
        service.store.trial(trial_id)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def cmd_task(args) -> int:
    """Dispatch a `task` subcommand: 0 done, 1 failed (ended trial, invalid score, ...), 2 usage error."""
    from console.store.db import StoreError
    from console.trials.service import TrialError, TrialService

    trial_id = task_trial_id()
    command = ALIASES.get(args.task_command, args.task_command)
    store = open_store(args)
    service = TrialService(store, load_registry())
    try:
        require_trial(service, trial_id)
        _ingest(service, trial_id)
        return run_trial_command(command, args, service, trial_id)
    except (TrialError, StoreError) as exc:
        print(f"rearena: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _ingest(service, trial_id: int) -> None:
    """Record the commands typed so far; a problem here is reported, never fatal."""
    from console.store.db import StoreError
    from console.trials.commands import ingest_commands

    try:
        ingest_commands(service, trial_id)
    except (OSError, StoreError) as exc:
        print(f"rearena: warning: could not record the shell's commands: {exc}", file=sys.stderr)


def _ended(service, trial_id: int, visible: bool) -> str | None:
    """A message when the trial has ended (checking its budget and backstop first), else None."""
    trial = service.check_limits(trial_id)
    if trial.status != "ended":
        return None
    why = {"budget": "its time budget ran out", "wall_backstop": "its wall-clock backstop passed",
           "submitted": "it was submitted"}.get(trial.end_reason, trial.end_reason or "ended")
    return f"trial {trial_id} has ended ({why}); final score {_final(trial, visible)}. Nothing more can be done in it."


def _final(trial, visible: bool) -> str:
    """The trial's final score as shown to the participant."""
    if not visible:
        return "hidden"
    return "-" if trial.final_score is None else f"{trial.final_score:.3f}"


def _warn_unloaded(service, trial) -> None:
    """Warn when the trial's environment no longer loads (hidden.scores_visible then hides its scores)."""
    from environments.registry import UnknownEnvironment

    try:
        service.registry.get(trial.environment)
    except UnknownEnvironment as exc:
        print(f"rearena: warning: trial {trial.id}'s environment did not load ({exc}); its scores are not shown",
              file=sys.stderr)


def run_trial_command(command: str, args, service, trial_id: int) -> int:
    """status, instructions, score, submit, note, pause, resume or end on one trial (shared by `task` and `trial`).

    An environment that no longer loads stops only what needs it (scoring, instructions): exit status 1."""
    from environments.registry import UnknownEnvironment, UnknownVariant

    try:
        return _run_trial_command(command, args, service, trial_id)
    except (UnknownEnvironment, UnknownVariant) as exc:
        print(f"rearena: trial {trial_id}'s environment did not load ({exc}); check REARENA_ENVIRONMENTS",
              file=sys.stderr)
        return 1


def _run_trial_command(command: str, args, service, trial_id: int) -> int:
    from console.cli_trial import _confirm, _status_dict, _submission_dict
    from console.render import print_task_status
    from console.trials.hidden import blank_hidden, scores_visible

    if command == "note":
        note_text(args.text)  # a usage error before anything is read or ended
    trial = service.store.trial(trial_id)
    if command in ("score", "submit", "instructions"):  # these need the environment; the rest do without
        service.registry.get(trial.environment)
    else:
        _warn_unloaded(service, trial)
    visible = scores_visible(service.registry, trial.environment)
    ended = _ended(service, trial_id, visible)
    if command == "status":
        status = service.status(trial_id)
        if getattr(args, "json", False):
            print(json.dumps(blank_hidden(_status_dict(status), visible), indent=2))
        else:
            print_task_status(status, service.store.submissions(trial_id), visible)
            from console.trials.calibrations import trial_calibration_line

            print(trial_calibration_line(status.trial.settings))
    if ended:
        print(f"rearena: {ended}", file=sys.stderr)
        return 0 if command == "status" else 1
    if command == "status":
        return 0
    if command == "instructions":
        print(service.instructions(trial_id))
    elif command == "score":
        print("scoring... (the clock is paused while the scorer runs)", file=sys.stderr)
        sub = service.score(trial_id)
        if getattr(args, "json", False):
            print(json.dumps(_submission_dict(sub, visible), indent=2))
        else:
            _print_score(sub, visible)
        return 0 if sub.valid else 1
    elif command == "submit":
        if not args.yes and not _confirm(f"Submit trial {trial_id}? This scores once more and ends the trial."):
            print("not submitted")
            return 1
        trial = service.submit(trial_id)
        print(f"trial {trial_id} submitted; final score {_final(trial, visible)}")
    elif command == "end":
        trial = service.end(trial_id, args.reason)
        print(f"trial {trial_id} ended ({trial.end_reason}); final score {_final(trial, visible)}")
    elif command == "note":
        after_end = service.note(trial_id, note_text(args.text))
        print(f"note recorded after trial {trial_id}'s end (an annotation)" if after_end else "note recorded")
    elif command == "pause":
        pause = service.pause(trial_id, args.reason, args.note)
        again = "rearena task resume" if args.command == "task" else f"rearena trial resume {trial_id}"
        print(f"trial {trial_id} paused ({pause.reason}); `{again}` restarts the clock")
    elif command == "resume":
        pause = service.resume(trial_id)
        print(f"trial {trial_id} resumed after {pause.ended_at - pause.started_at:.0f} s paused ({pause.reason})")
    return 0


def _print_score(sub, visible: bool) -> None:
    """The verdict of a submission; raw and normalized scores only where the environment shows them."""
    from console.render import print_verdict_row, printable
    from console.trials.hidden import participant_lines

    if visible:
        print_verdict_row(sub, True)
        return
    for line in participant_lines(sub, recorded=True, label=f"submission {sub.id}"):
        print(printable(line))
