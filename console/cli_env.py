"""`rearena env list|show|build|calibrate`: the installed environments, their docker images and calibrations."""

from __future__ import annotations

from console.cli import load_registry, open_store, resolve


def cmd_env(args) -> int:
    """`rearena env list|show|calibrate`."""
    from console.render import environments_table, make_console

    console = make_console()
    registry = load_registry()
    if args.env_command == "list":
        console.print(environments_table(registry))
        for problem in registry.problems:
            print(f"failed to load: {problem}")
        return 0
    if args.env_command == "show":
        env, _ = resolve(registry, args.name)
        _show(console, env)
        _show_stored_calibrations(console, args, env)
        return 0
    if args.env_command == "build":
        return _build(console, args, registry)
    return _calibrate(console, args, registry)


def _build(console, args, registry) -> int:
    from rich.text import Text

    from console.render import plain
    from scoring.container_exec import ContainerError
    from scoring.containers import base_image, build_image

    env, _ = resolve(registry, args.name)
    console.print(f"building the image of {env.name} on {base_image(args.base_image)} ...")
    try:
        name = build_image(env, args.base_image, log=lambda line: console.print(line, markup=False, highlight=False))
    except ContainerError as exc:
        console.print(Text.assemble(("build failed:", "red"), " ", plain(exc)))  # its text is not markup
        return 1
    console.print(f"built {name}")
    return 0


def _show(console, env) -> None:
    from rich.markdown import Markdown
    from rich.text import Text

    console.print(f"[bold]{env.name}[/bold] — {env.title}")
    console.print(f"folder: {env.path}  kind: {env.kind}  entry point: {env.entry_point or '-'}")
    console.print(f"budget: {env.budget_hours:g} h active (wall-clock backstop {env.wall_backstop_hours:g} h)")
    hw = env.hardware
    console.print(f"hardware: {hw.cpus} cpu, {hw.memory_gb:g} GB memory" + (", a GPU" if hw.gpu else ", no GPU"))
    console.print(f"metric: {env.metric.name}, {env.metric.direction} is better, transform {env.metric.transform}")
    console.print(f"scoring: timeout {env.scoring_timeout_s:g} s, memory {env.scoring_memory_mb} MB, "
                  f"scores {'visible' if env.scores_visible else 'hidden'} to the participant")
    cal = env.calibration
    console.print(f"calibration (manifest): start {cal.start:.4f}, reference {cal.reference:.4f} ({cal.hardware})")
    for name, variant in sorted(env.variants.items()):
        console.print(f"  variant [bold]{name}[/bold]: {variant.description} {variant.params}")
    if console.is_terminal:
        console.print(Markdown(env.instructions))
    else:  # rendered Markdown is cut at the console's width (a list item's end lost): the text as written, whole
        console.print(Text(env.instructions))


def _show_stored_calibrations(console, args, env) -> None:
    """The calibrations measured for env (any machine), each current or stale."""
    from console.trials.calibrations import is_current
    from scoring.calibrate import calibration_digest
    from scoring.hardware import fingerprint

    try:
        with open_store(args) as store:
            records = store.calibrations(env.name)
    except Exception as exc:  # a missing, locked or broken database must not stop `env show`
        console.print(f"calibrations (measured): cannot read the store: {exc}", markup=False)
        return
    machine = fingerprint()
    digests = {name: calibration_digest(env, name) for name in {r.variant for r in records} if name in env.variants}
    for record in records:
        cal, spec = record.calibration, f"{env.name}:{record.variant}"
        current = record.variant in digests and is_current(cal, digests[record.variant])
        state = "current" if current else (
            f"stale: measured on other solutions/scorer; re-run `rearena env calibrate {spec}`")
        where = cal.fingerprint + (" (this machine)" if cal.fingerprint == machine else "")
        console.print(f"calibration (measured, {record.variant}): start {cal.start:.4f}, reference {cal.reference:.4f} "
                      f"on {where} at {cal.measured_at}, digest {cal.digest or 'none'}: {state}",
                      markup=False, highlight=False)


def _calibrate(console, args, registry) -> int:
    from rich.text import Text

    from console.render import plain
    from scoring.calibrate import CalibrationError, calibrate

    env, variant = resolve(registry, args.spec)
    store = open_store(args)
    where = "in docker scoring containers" if args.sandbox == "docker" else "on this machine"
    console.print(f"calibrating {env.name}:{variant.name} ({args.runs} runs of each solution, {where})...")
    from console.trials.per_machine import measuring

    try:
        with measuring(store):  # one measurement at a time in this data folder (a trial's creation measures too)
            calibration, raws = calibrate(env, variant.name, runs=args.runs, sandbox=args.sandbox)
    except CalibrationError as exc:
        console.print(Text.assemble(("calibration failed:", "red"), " ", plain(exc)))  # its text is not markup
        return 1
    store.save_calibration(env.name, variant.name, calibration)
    console.print(f"start raw {calibration.start:.4f} (runs {', '.join(f'{r:.4f}' for r in raws['start_raws'])})")
    console.print(f"reference raw {calibration.reference:.4f} (runs {', '.join(f'{r:.4f}' for r in raws['reference_raws'])})")
    console.print(f"stored for hardware {calibration.fingerprint}: {calibration.hardware}", markup=False)
    console.print(f"used by {'docker' if args.sandbox == 'docker' else 'local'} trials made from now on and by "
                  f"{'`rearena score`' if args.sandbox == 'local' else 'no `rearena score` (it scores locally)'}; "
                  "a trial keeps the calibration it was made with")
    console.print(f"stored under digest {calibration.digest} (of the starting and reference solutions, "
                  "the scorer's files and the variant; a change to any makes it stale)")
    return 0
