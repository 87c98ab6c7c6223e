"""`rearena trial start|status|pause|resume|score|submit|note|end|list`: run a whole trial from a shell."""

from __future__ import annotations

import argparse
import json
import os
import sys

from console.cli import UsageError, load_registry, open_store, parse_trial_id, resolve

# the commands that make, score or end trials, and so start or leave docker containers, clean up those left
# behind; the others (list, status, ...) answer without asking the docker daemon
CLEANS_UP = ("start", "score", "submit", "end")
NOTE_HELP = ("Add a note to a trial's record. A first word that is a number is the trial's id, as in the other "
             "trial commands: `rearena trial note 5 tried a prefix sum`. Without one, --trial ID or $REARENA_TRIAL "
             "names the trial. A note that starts with a number needs the trial named first: "
             "`rearena trial note 5 3 runs failed` or `rearena trial note --trial 5 3 runs failed`. Inside a trial's "
             "shell ($REARENA_TRIAL set) a leading number other than its trial is refused: name the trial with "
             "--trial ID.")


def add_trial_parser(sub) -> None:
    """Add the `trial` subcommands to the main parser."""
    trial = sub.add_parser("trial", help="run a trial from a shell")
    tsub = trial.add_subparsers(dest="trial_command", required=True)

    start = tsub.add_parser("start", help="create a trial and start its clock")
    start.add_argument("spec", metavar="ENV[:VARIANT]")
    start.add_argument("--participant", required=True, help="who is attempting it")
    start.add_argument("--budget", help="active-time budget, e.g. 8h, 90m (default: the environment's)")
    start.add_argument("--sandbox", default="local", choices=["local", "docker"],
                       help="where commands run (local does not isolate; docker needs a daemon)")
    start.add_argument("--workdir", help="folder for the workdir (default: in the data folder)")
    start.add_argument("--no-start", action="store_true", help="create only; the clock starts at the first action")

    for name, text in [("status", "clock, budget and submissions"), ("resume", "restart the clock"),
                       ("score", "score the workdir now"), ("submit", "score one last time and end the trial")]:
        p = tsub.add_parser(name, help=text)
        p.add_argument("trial", nargs="?", type=parse_trial_id, help="trial id (default: $REARENA_TRIAL)")
        p.add_argument("--json", action="store_true")
        if name == "submit":
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    pause = tsub.add_parser("pause", help="stop the clock, with a reason")
    pause.add_argument("trial", nargs="?", type=parse_trial_id)
    pause.add_argument("--reason", default="human", help="human, system, break, ... (default: human)")
    pause.add_argument("--note", default="")
    note = tsub.add_parser("note", help="add a note to the record: note [ID] TEXT",
                           usage="%(prog)s [-h] [--trial ID] [ID] TEXT [TEXT ...]", description=NOTE_HELP)
    note.add_argument("text", nargs="+", metavar="TEXT", help="[ID] then the note (several words are joined)")
    note.add_argument("--trial", type=parse_trial_id, metavar="ID", help="the trial; then every word is the note")
    end = tsub.add_parser("end", help="end a trial without a final scoring")
    end.add_argument("trial", nargs="?", type=parse_trial_id)
    end.add_argument("--reason", default="ended", help="why it ended, kept in its record (default: ended)")
    lst = tsub.add_parser("list", help="list trials")
    lst.add_argument("--env", help="only this environment")
    lst.add_argument("--json", action="store_true")


def _trial_id(args, usage: str = "give its id") -> int:
    value = getattr(args, "trial", None)
    if value is not None:
        return value
    if not os.environ.get("REARENA_TRIAL", "").strip():
        raise UsageError(f"which trial? {usage} (see `rearena trial list`) or set REARENA_TRIAL")
    from console.cli_task import task_trial_id

    return task_trial_id()


def _note_target(args) -> int:
    """`trial note [ID] TEXT`: the trial (a leading number, else --trial, else $REARENA_TRIAL); args.text left
    holding the note's words, which must say something."""
    from console.cli_task import note_text

    words = list(args.text)
    if args.trial is None and words and words[0].strip().isascii() and words[0].strip().isdigit():
        try:
            leading = parse_trial_id(words[0])
        except argparse.ArgumentTypeError as exc:
            raise UsageError(str(exc)) from None
        shell = _shell_trial()
        if shell is not None and leading != shell:
            # inside trial N's shell, `note 1 of 3 tests fail` is a note that starts with a number, not one for trial 1
            raise UsageError(f"this is trial {shell}'s shell and the note starts with another number ({leading}): "
                             f"name the trial with --trial ID (`rearena trial note --trial {shell} TEXT` notes this "
                             f"trial, `--trial {leading} TEXT` trial {leading}); nothing was recorded")
        args.trial = leading
        words.pop(0)
    trial_id = _trial_id(args, "`rearena trial note ID TEXT`")
    args.text = words
    note_text(words, f"rearena trial note {trial_id} TEXT")
    return trial_id


def _shell_trial() -> int | None:
    """The trial of this shell ($REARENA_TRIAL), None outside a trial's shell."""
    if not os.environ.get("REARENA_TRIAL", "").strip():
        return None
    from console.cli_task import task_trial_id

    return task_trial_id()


def cmd_trial(args) -> int:
    """Dispatch a `trial` subcommand: 0 done, 1 failed (ended trial, invalid score, ...), 2 usage error."""
    from console.store.db import StoreError
    from console.trials.service import TrialError, TrialService

    store = open_store(args)
    if args.trial_command in CLEANS_UP:
        _cleanup_orphans(store)
    registry = load_registry()
    service = TrialService(store, registry)
    try:
        return _dispatch(args, service, registry)
    except (TrialError, StoreError) as exc:
        print(f"rearena: {exc}", file=sys.stderr)
        return 1


def _cleanup_orphans(store) -> None:
    """Remove docker containers left behind (ended or unknown trials, dead scorers); at once without docker."""
    from console.sandbox import cleanup_orphans

    removed = cleanup_orphans(store)
    if removed:
        print(f"rearena: removed {len(removed)} container(s) left behind: {', '.join(removed)}", file=sys.stderr)


def _dispatch(args, service, registry) -> int:
    from console.trials.clock import parse_duration

    command = args.trial_command
    if command == "start":
        env, variant = resolve(registry, args.spec)
        if not args.participant.strip():
            raise UsageError("--participant must name who attempts the trial")
        try:
            budget = parse_duration(args.budget) if args.budget is not None else None  # "" is no budget: an error
        except ValueError as exc:
            raise UsageError(f"--budget: {exc}") from None
        if budget == 0:
            raise UsageError("--budget must be more than 0")
        from console.trials.calibrations import trial_calibration_line
        from console.trials.per_machine import PER_MACHINE_RUNS, needs_measurement

        if needs_measurement(service.store, env, variant.name, args.sandbox):
            print(f"measuring this machine's calibration of {env.name}:{variant.name} first ({PER_MACHINE_RUNS} "
                  "scorings of the starting and of the reference solution; once per machine, before the clock)...",
                  flush=True)
        trial = service.create(args.spec, args.participant, sandbox=args.sandbox, budget_s=budget,
                               workdir=args.workdir, start=not args.no_start)
        print(f"trial {trial.id}: {trial.environment}:{trial.variant} for {trial.participant}")
        if env.calibrate_per_machine:
            print(trial_calibration_line(trial.settings))
        print(f"workdir: {trial.workdir}")
        print(f"export REARENA_TRIAL={trial.id}")
        return 0
    if command == "list":
        return _list(args, service, registry)
    from console.cli_task import require_trial, run_trial_command

    if command == "end" and not args.reason.strip():
        raise UsageError("--reason must say why the trial ended")
    trial_id = _note_target(args) if command == "note" else _trial_id(args)
    require_trial(service, trial_id)
    return run_trial_command(command, args, service, trial_id)


def _list(args, service, registry) -> int:
    """`trial list`: a hidden score is shown only where console.trials.hidden says so (never while the trial runs)."""
    from functools import partial

    from console.render import make_console, trials_table
    from console.trials.hidden import best_shown, blank_hidden, inside_trial, scores_visible

    visible, participant = partial(scores_visible, registry), inside_trial()
    rows = [service.status(t.id) for t in service.store.trials(environment=args.env)]
    if args.json:
        data = [blank_hidden(_status_dict(s), best_shown(s.trial, visible(s.trial.environment), participant))
                for s in rows]  # fmt: skip
        print(json.dumps(data, indent=2))
    else:
        make_console().print(trials_table(rows, visible, participant))
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("submitting needs confirmation: run it in a terminal or pass --yes")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _submission_dict(sub, visible: bool = True) -> dict:
    from console.trials.hidden import participant_message

    data = {"id": sub.id, "active_s": sub.active_s, "valid": sub.valid, "message": participant_message(sub, visible),
            "reason": sub.reason, "final": sub.final, "snapshot": sub.snapshot}
    if visible:
        data.update(raw=sub.raw, normalized=sub.normalized)
    return data


def _status_dict(status) -> dict:
    from console.trials.calibrations import TRIAL_KEY

    t = status.trial
    return {
        "id": t.id, "environment": t.environment, "variant": t.variant, "participant": t.participant,
        "status": t.status, "end_reason": t.end_reason, "active_s": status.active_s,
        "remaining_s": status.remaining_s, "wall_s": status.wall_s, "budget_s": t.budget_s,
        "backstop_remaining_s": status.backstop_remaining_s,
        "paused": status.pause.reason if status.pause else None, "best": status.best,
        "final_score": t.final_score, "submissions": status.submissions, "workdir": t.workdir,
        "calibration": (t.settings or {}).get(TRIAL_KEY),  # the one its scorings use, and where it came from
    }
