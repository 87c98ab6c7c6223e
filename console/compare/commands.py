"""`rearena report ENV`, `rearena export TRIAL FILE`, `rearena import FILE | --inspect LOG`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

COMMANDS = ("report", "export", "import")


def add_compare_parsers(sub) -> None:
    """Add the report, export and import subcommands to the `rearena` parser."""
    from console.cli import parse_trial_id

    report = sub.add_parser("report", help="compare the trials of an environment: curves and score@k")
    report.add_argument("spec", metavar="ENV[:VARIANT]")
    report.add_argument("--json", action="store_true", help="print the whole report (curves, submissions) as JSON")
    report.add_argument("--csv", type=Path, metavar="FILE",
                        help="write curves to FILE, submissions to FILE-submissions.csv and score@k to "
                        "FILE-score_at_k.csv")
    report.add_argument("--figure", type=Path, metavar="FILE.svg", help="draw the curves as an SVG figure")
    report.add_argument("--budget", metavar="T", help="total time T of the score@k table (default: the trial budget)")
    report.add_argument("--include-running", action="store_true",
                        help="also count trials that have not ended (score@k uses them up to their active time so far)")
    export = sub.add_parser("export", help="write one trial (events, submissions, snapshots) to a single file")
    export.add_argument("trial_id", type=parse_trial_id, metavar="TRIAL")
    export.add_argument("file", type=Path, metavar="FILE")
    imp = sub.add_parser("import", help="load a trial file, or an Inspect AI eval log, into the database")
    imp.add_argument("file", type=Path, nargs="?", metavar="FILE", help="a file written by `rearena export`")
    imp.add_argument("--inspect", type=Path, metavar="LOG", help="an Inspect AI log (.json or .eval)")
    imp.add_argument("--environment", metavar="ENV[:VARIANT]",
                     help="with --inspect: the environment the samples attempted (default: the log's task)")
    imp.add_argument("--scorer", help="with --inspect: whose final scores to take (default: the first scorer)")
    for parser in (export, imp, report):
        parser.add_argument("--db", default=argparse.SUPPRESS, help="SQLAlchemy URL of the database")


def cmd_compare(args) -> int:
    """Run report, export or import; 0 ok, 1 failed (bad file), 2 usage error."""
    return {"report": cmd_report, "export": cmd_export, "import": cmd_import}[args.command](args)


def cmd_report(args) -> int:
    """`rearena report ENV[:VARIANT]`."""
    from console.cli import UsageError, load_registry, open_store
    from console.compare.groups import load_groups
    from console.compare.report import build_report, csv_paths, render_text, write_csv
    from console.trials.clock import parse_duration
    from console.trials.hidden import participant_refusal, scores_visible

    name, _, variant = args.spec.partition(":")
    try:
        total = parse_duration(args.budget) if args.budget else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if total is not None and total <= 0:
        raise UsageError("--budget must be positive")
    if args.figure is not None and args.figure.suffix.lower() != ".svg":
        raise UsageError(f"cannot write {args.figure}: figures are SVG (FILE.svg); no PNG library is installed")
    # the files are checked before the report is made: a report printed, then a traceback, wrote nothing
    outputs = ([("--figure", args.figure)] if args.figure is not None else []) + (
        [("--csv", p) for p in csv_paths(args.csv)] if args.csv is not None else [])
    for flag, path in outputs:
        check_writable(path, flag)
    store = open_store(args)
    registry = load_registry()
    known = set(registry.names()) | set(store.environments_with_trials())
    if name not in known:
        raise UsageError(f"unknown environment {name!r}; choices: {', '.join(sorted(known)) or '(none)'}")
    visible = scores_visible(registry, name)
    refusal = participant_refusal(visible, f"a report of {name}")
    if refusal:  # a report is made of the trials' scores
        raise UsageError(refusal)
    if variant:
        _check_variant(store, registry, name, variant)
    groups, left_out = load_groups(store, name, variant or None, include_running=args.include_running,
                                   visible=visible)
    report = build_report(name, groups, total, variant=variant or None, left_out=left_out)
    out = sys.stderr if args.json else sys.stdout
    if args.json:
        from console.store.db import dumps_json

        print(dumps_json(report))
    else:
        from console.render import make_console

        render_text(report, make_console())
    try:
        if args.csv is not None:
            for path in write_csv(report, args.csv):
                print(f"wrote {path}", file=out)
        if args.figure is not None:
            from console.compare.svg import svg_figure

            args.figure.write_text(svg_figure(report))
            print(f"wrote {args.figure}", file=out)
    except OSError as exc:  # checked writable above; a full disk, or a folder removed since
        print(f"rearena: error: cannot write {exc.filename or 'the output'}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def check_writable(path: Path, flag: str = "") -> None:
    """UsageError unless `path` can be written: its folder exists and is writable, and it is not a folder or a
    read-only file (a missing folder is not made: a mistyped path would scatter files)."""
    from console.cli import UsageError

    folder, what = path.parent, f"{flag} {path}" if flag else str(path)
    if path.is_dir():
        raise UsageError(f"cannot write {what}: it is a folder; give a file name")
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"cannot write {what}: the folder {folder} {problem}")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write {what}: {'it' if path.exists() else f'the folder {folder}'} is not writable")


def _check_variant(store, registry, name: str, variant: str) -> None:
    """UsageError unless the environment has the variant (in its manifest, or among its recorded trials)."""
    from console.cli import UsageError

    known = set(registry.get(name).variants) if name in registry.names() else set()
    known |= {t.variant for t in store.trials(environment=name)}
    if variant not in known:
        raise UsageError(f"environment {name!r} has no variant {variant!r}; choices: {', '.join(sorted(known))}")


def cmd_export(args) -> int:
    """`rearena export TRIAL FILE`."""
    from console.cli import UsageError, load_registry, open_store
    from console.compare.bundle import export_trial
    from console.store.errors import StoreError
    from console.trials.clock import format_duration
    from console.trials.hidden import participant_refusal, scores_visible
    from console.trials.service import TrialService

    store = open_store(args)
    registry = load_registry()
    try:
        trial = store.trial(args.trial_id)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    refusal = participant_refusal(scores_visible(registry, trial.environment), f"exporting trial {trial.id}")
    if refusal:  # the file holds every submission's scores
        raise UsageError(refusal)
    check_writable(args.file)
    # the trial as it is now: one whose budget, backstop or agent's process is gone ends (at its last event, for a
    # dead agent) before it is written, not exported as running with the time since counted as active
    trial = TrialService(store, registry).status(args.trial_id).trial
    result = export_trial(store, args.trial_id, args.file)
    c = result.counts
    print(f"exported trial {args.trial_id} to {result.path}: {c['events']} events, {c['submissions']} submissions, "
          f"{c['pauses']} pauses, {c['snapshots']} snapshots, {c['blobs']} blobs")  # fmt: skip
    if result.missing_blobs:
        print(f"rearena: warning: {len(result.missing_blobs)} snapshot blob(s) are missing from this data folder "
              "and were left out", file=sys.stderr)  # fmt: skip
    if trial.status != "ended":
        print(f"rearena: note: trial {args.trial_id} has not ended: imported elsewhere, this file is a record that "
              f"nothing changes there, of its {format_duration(result.active_s)} of active time so far; an export "
              "once it has ended replaces it", file=sys.stderr)  # fmt: skip
    return 0


def cmd_import(args) -> int:
    """`rearena import FILE` or `rearena import --inspect LOG`."""
    from console.cli import UsageError, open_store
    from console.compare.bundle import BundleError

    if (args.file is None) == (args.inspect is None):
        raise UsageError("give either a trial FILE (from `rearena export`) or --inspect LOG, not both or neither")
    path = args.file or args.inspect
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file (a trial file from `rearena export`, or an Inspect log)")
    if not path.is_file():
        raise UsageError(f"file not found: {path}")
    if args.file is not None and (args.environment or args.scorer):
        raise UsageError("--environment and --scorer go with --inspect only")
    store = open_store(args)
    try:
        return _import_bundle(store, path) if args.file else _import_inspect(store, path, args)
    except BundleError as exc:
        print(f"rearena: error: {exc}", file=sys.stderr)
        return 1


def _import_bundle(store, path: Path) -> int:
    from console.compare.bundle import import_trial
    from console.compare.bundle_identity import UNFINISHED_REASON
    from console.trials.clock import active_seconds, format_duration

    result = import_trial(store, path)
    if not result.created:
        print(f"{path} is already in this database as trial {result.trial_id}; nothing was written")
    elif result.replaced:
        print(f"imported {path} as trial {result.trial_id}, replacing its earlier import (exported before the trial "
              f"ended): {result.events} events, {len(result.submissions)} submissions")
    else:
        print(f"imported {path} as trial {result.trial_id} ({result.events} events, "
              f"{len(result.submissions)} submissions)")  # fmt: skip
    trial = store.trial(result.trial_id)
    if result.created and trial.end_reason == UNFINISHED_REASON:
        active = active_seconds(trial.started_at, trial.ended_at, store.pauses(trial.id), trial.ended_at)
        print(f"trial {trial.id} had not ended when it was exported: it is a record of the "
              f"{format_duration(active)} of active time it had reached then ({UNFINISHED_REASON}), which nothing "
              "here ends, scores or snapshots")  # fmt: skip
    return 0


def _import_inspect(store, path: Path, args) -> int:
    from console.compare.inspect_log import import_inspect

    env, variant = None, None
    if args.environment:
        env, _, variant = args.environment.partition(":")
    for r in import_inspect(store, path, env, variant or None, args.scorer):
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(r.skipped.items()))
        what = (f"imported as trial {r.trial_id}: {r.events} events, {r.submissions} submissions"
                if r.created else f"already imported as trial {r.trial_id}; nothing written")  # fmt: skip
        left_out = f" (left out: {skipped})" if skipped and r.created else ""
        print(f"sample {r.sample_id} (epoch {r.epoch}) {what}{left_out}")
    return 0
