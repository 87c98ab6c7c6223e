"""`rearena agent ENV[:VARIANT] --model NAME ...`: run K agent trials, P at a time, one line per trial as it ends."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
from pathlib import Path

EXIT_HELP = """output: one line per trial as it ends (--json: one object); a trial that ended in an error
(api_error, agent_error) shows its last error message. Failed API attempts and their retries are
reported on stderr as they happen.

exit status: 0 when at least one trial made progress (got a model response) or ended at a limit;
1 when no trial made any: every trial ended in an error (api_error, agent_error) before its first
model response, or could not start; 2 for a usage error; 130 when interrupted (Ctrl-C), 143 on
SIGTERM, 129 on SIGHUP: the running trials then end as "stopped" at their current step (a command
under way is killed) and the trials not started never start."""


def add_agent_parser(sub) -> None:
    """Add the `agent` subcommand to the main parser."""
    p = sub.add_parser("agent", help="run agent trials with an OpenAI-compatible model", epilog=EXIT_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="ENV[:VARIANT]")
    p.add_argument("--model", required=True, help="the model name sent to the endpoint")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (default: OpenAI)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="environment variable holding the API key (default: OPENAI_API_KEY)")
    p.add_argument("--budget", help="active-time budget per trial, e.g. 2h, 90m (default: the environment's)")
    p.add_argument("--runs", type=int, default=1, metavar="K", help="how many trials (default 1)")
    p.add_argument("--parallel", type=int, default=1, metavar="P", help="trials at a time (default 1)")
    p.add_argument("--max-steps", type=int, metavar="N", help="model calls per trial")
    p.add_argument("--max-tokens", type=int, metavar="N", help="prompt + completion tokens per trial")
    p.add_argument("--max-cost", type=float, metavar="USD", help="dollars per trial (needs a price for the model)")
    p.add_argument("--price", metavar="IN,OUT", help="the model's price: dollars per 1M input and output tokens")
    p.add_argument("--prices", type=Path, metavar="FILE", help='JSON price table {"model": [in, out], ...}')
    p.add_argument("--temperature", type=float)
    p.add_argument("--participant", help="participant name (default: the model name)")
    p.add_argument("--system-prompt", type=Path, metavar="FILE", help="replace the default system prompt")
    p.add_argument("--sandbox", default="local", help="where the agent's commands run (default: local)")
    p.add_argument("--request-timeout", type=float, default=600.0, metavar="S",
                   help="seconds per HTTP request, all of it (default 600)")
    p.add_argument("--json", action="store_true", help="print one JSON object per trial")


def build_config(args):
    """An AgentConfig from the parsed arguments; UsageError says what was wrong."""
    from console.agents.config import AgentConfig, AgentConfigError, parse_price
    from console.cli import UsageError
    from console.trials.clock import parse_duration

    for name in ("runs", "parallel", "max_steps", "max_tokens"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    from console.sandbox import SANDBOX_KINDS

    if args.sandbox not in SANDBOX_KINDS:
        raise UsageError(f"unknown sandbox {args.sandbox!r}; choices: {', '.join(SANDBOX_KINDS)}")
    if not (math.isfinite(args.request_timeout) and args.request_timeout > 0):
        raise UsageError(f"--request-timeout must be a positive number of seconds, got {args.request_timeout}")
    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url must start with http:// or https://, got {args.base_url!r}")
    try:
        budget = parse_duration(args.budget) if args.budget is not None else None  # "" is an error, not the default
    except ValueError as exc:
        raise UsageError(f"--budget: {exc}") from None
    try:
        prices = _price_table(args.prices) if args.prices else {}
        if args.price:
            prices[args.model] = parse_price(args.price)
        if args.max_cost is not None and args.model not in prices:
            raise AgentConfigError(f"--max-cost needs a price for model {args.model!r}: "
                                   "give --price IN,OUT or --prices FILE")
        prompt = {}
        if args.system_prompt:
            prompt["system_prompt"] = args.system_prompt.read_text()
        config = AgentConfig(
            model=args.model, base_url=args.base_url, api_key_env=args.api_key_env, participant=args.participant or "",
            budget_s=budget, max_steps=args.max_steps, max_tokens=args.max_tokens, max_cost_usd=args.max_cost,
            prices=prices, temperature=args.temperature, request_timeout_s=args.request_timeout,
            sandbox=args.sandbox, **prompt)
        config.resolve_api_key()
    except (ValueError, OSError) as exc:  # AgentConfigError is a ValueError
        raise UsageError(str(exc)) from None
    return config


def _price_table(path: Path) -> dict[str, tuple[float, float]]:
    from console.agents.config import AgentConfigError

    try:
        data = json.loads(path.read_text())
        return {str(k): (float(v[0]), float(v[1])) for k, v in data.items()}
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise AgentConfigError(f"cannot read the price table {path}: expected JSON "
                               f'{{"model": [in, out], ...}} ({exc})') from None


def cmd_agent(args) -> int:
    """Run the trials; prints one line per trial as it ends; the exit status as EXIT_HELP says."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from console.agents.runner import run_agent_trial
    from console.cli import load_registry, open_store, resolve
    from console.trials.service import TrialService

    config = build_config(args)
    registry = load_registry()
    resolve(registry, args.spec)
    store = open_store(args)
    from console.sandbox import cleanup_orphans

    cleanup_orphans(store)  # containers of ended or unknown trials, dead scorers (at once without docker)
    service = TrialService(store, registry)
    stop = threading.Event()
    runs: dict[int, object] = {}
    lock = threading.Lock()

    def progress(text: str) -> None:
        """A failed API attempt, said at once: a person waiting on a dead server sees why."""
        with lock:
            print(f"rearena: {text}", file=sys.stderr, flush=True)

    def one(index: int):
        """Run trial number `index` to its end."""
        return run_agent_trial(service, args.spec, config, stop=stop, progress=progress,
                               on_run=lambda run: runs.__setitem__(index, run))

    print(f"{args.runs} trial(s) of {args.spec} with {config.model}, {args.parallel} at a time", file=sys.stderr)
    reported: set[int] = set()
    progressed: list[int] = []  # the trials that made progress (see EXIT_HELP)

    def report(future, index: int) -> None:
        """Print the line of a finished trial."""
        reported.add(index)
        try:
            trial = future.result()
        except Exception as exc:  # creating the trial failed (bad store, full disk, ...)
            print(f"rearena: trial {index + 1} could not run: {exc}", file=sys.stderr)
            return
        run = runs.get(index)
        if not failed_at_once(trial, run):
            progressed.append(index)
        with lock:
            _report(trial, run, args.json)

    pool = ThreadPoolExecutor(max_workers=args.parallel, thread_name_prefix="rearena-agent")
    futures = {pool.submit(one, i): i for i in range(args.runs)}
    previous = _catch_signals()
    try:
        for future in as_completed(futures):
            report(future, futures[future])
    except (KeyboardInterrupt, Signalled) as exc:
        stop.set()  # running trials end as "stopped" at their current step; queued ones never start
        _ignore_signals()  # a second SIGTERM must not cut the trials' ending short
        print("rearena: stopping the running trials (each at its current step)...", file=sys.stderr)
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True)
        for future, index in futures.items():
            if index not in reported and not future.cancelled():
                report(future, index)
        return 128 + exc.signum if isinstance(exc, Signalled) else 130
    finally:
        _restore_signals(previous)
    pool.shutdown(wait=True)
    if not progressed:
        print(f"rearena: no trial made progress: all {args.runs} failed before a model response", file=sys.stderr)
        return 1
    return 0


class Signalled(Exception):
    """SIGTERM or SIGHUP arrived: stop as Ctrl-C does."""

    @property
    def signum(self) -> int:
        """The signal's number."""
        return self.args[0]


STOP_SIGNALS = ("SIGTERM", "SIGHUP")


def _raise_signalled(signum, _frame) -> None:
    raise Signalled(signum)


def _catch_signals() -> dict:
    """Make SIGTERM and SIGHUP raise Signalled in the main thread (a process manager's stop, a closed terminal);
    the handlers they had. Nothing where this is not the main thread (signals go only there)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for name in STOP_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, _raise_signalled)
    return previous


def _ignore_signals() -> None:
    """While the trials end: further SIGTERM and SIGHUP are ignored (SIGKILL still works)."""
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS:
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)


def _restore_signals(previous: dict) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def failed_at_once(trial, run) -> bool:
    """True when the trial ended in an error (api_error, agent_error, sandbox_failed) before its first model
    response."""
    from console.agents.loop import ERROR_REASONS

    return trial.end_reason in ERROR_REASONS and getattr(run, "steps", 0) == 0


def error_of(trial, run) -> str | None:
    """The last error message of a trial that ended in an error, on one line; None otherwise."""
    from console.agents.loop import ERROR_REASONS

    text = getattr(run, "last_error", None)
    if trial.end_reason not in ERROR_REASONS or not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _report(trial, run, as_json: bool) -> None:
    """One line (or JSON object) for an ended trial."""
    steps = getattr(run, "steps", 0)
    tokens = getattr(run, "tokens", 0)
    cost = getattr(run, "cost_usd", 0.0)
    error = error_of(trial, run)
    if as_json:
        print(json.dumps({"trial": trial.id, "end_reason": trial.end_reason, "best": trial.final_score,
                          "steps": steps, "tokens": tokens, "cost_usd": cost, "error": error}), flush=True)
        return
    best = "-" if trial.final_score is None else f"{trial.final_score:.4f}"
    money = f"  cost ${cost:.4f}" if cost else ""
    said = f"  error: {error}" if error else ""
    print(f"trial {trial.id}: {trial.end_reason:<16} best {best:>8}  steps {steps:>4}  tokens {tokens:>9,}{money}"
          f"{said}", flush=True)
