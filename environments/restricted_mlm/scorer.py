"""Scorer of restricted_mlm: a masked language model whose forward pass may not divide or exponentiate.

1. Static check (this process, before any candidate code runs): model.py and the candidate's own
   modules it imports must not spell division, powers, exp/log/softmax/norms/mean... nor escape
   hatches (rules.py). Reason "disallowed_source", naming file:line.
2. Fresh hidden text: `n_seqs` sequences of 64 tokens from scoring/lm's source, drawn with a seed
   from the scorer's secret RNG; in each, 10 positions (15.6%) are replaced by MASK = 48.
3. The candidate's load_model() runs in its own process under checked_boot.py, which records every
   aten op of a forward on a tracing batch (fresh masked sequences of their own). Any op outside
   rules.ALLOWED_PACKETS, or memory read as two dtypes -> "disallowed_op"; data leaving torch ->
   "data_escape"; a forward the recorder could not follow -> "unchecked_forward".
4. The same forward written down as a graph of aten ops (a dispatch mode in the candidate's process), checked here
   op by op (graph.py: the same rules) and run here on the tracing batch: logits other than the
   forward's -> "unchecked_forward". The hidden batches never reach the candidate's process: the
   graph computes their logits in this process, so what is checked is what is scored.
5. loss = mean cross-entropy at the masked positions, log_softmax applied here (float64).

raw = ln(loss - FLOOR); lower is better. FLOOR = 0.25 nats: the Bayes-optimal masked loss of this
source (the exact posterior of each masked token given every unmasked one) is about 0.32, so no
model can go below the floor except by chance on a tiny sample (then loss - FLOOR is clamped).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from scoring import confine
from scoring.api import Invalid, ScoringContext, WrongAnswer, load_module
from scoring.candidate import CandidateProcess
from scoring.errors import CandidateProtocolError, CandidateRaised
from scoring.lm.source import VOCAB, fresh_rng, source
from scoring.off_limits import off_limits

HERE = Path(__file__).resolve().parent
ENTRY_FILE = "model.py"
ENTRY_FUNCTION = "load_model"
MASK = VOCAB            # 48: the input id of a hidden token; inputs have 49 ids, outputs 48
SEQ_LEN = 64
MASKED_PER_SEQ = 10     # 15.6% of 64
FLOOR = 0.25            # nats; below the Bayes-optimal masked loss (~0.32), see SCORING.md
MIN_GAP = 1e-3          # loss - FLOOR is clamped here (only reachable by chance on tiny samples)


def _sibling(name: str):
    """Import rules.py / checked_boot.py from this folder (the scorer is loaded by path)."""
    return load_module(HERE / f"{name}.py", f"restricted_mlm_{name}")


rules = _sibling("rules")
graphs = _sibling("graph")
GRAPH_FILES = ("graph.py", "graph_runner.py")  # what the graph's runner runs, copied to a folder of its own
CHECKED_BOOT = _sibling("checked_boot").CHECKED_BOOT
AGREE_RTOL, AGREE_ATOL = 1e-3, 1e-4  # the graph's logits against the forward's, on the tracing batch


def _params(ctx: ScoringContext) -> tuple[int, int, float]:
    try:
        n_seqs, batch = int(ctx.params["n_seqs"]), int(ctx.params["batch"])
        call_timeout = float(ctx.params["call_timeout_s"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"restricted_mlm variant {ctx.variant!r} needs params n_seqs, batch (integers) and "
                         f"call_timeout_s (seconds); got {ctx.params!r} ({exc})") from None
    if n_seqs < 1 or batch < 1 or call_timeout <= 0:
        raise ValueError(f"restricted_mlm variant {ctx.variant!r}: need n_seqs >= 1, batch >= 1, call_timeout_s > 0")
    return n_seqs, batch, call_timeout


def masked_eval_set(rng: np.random.Generator, n_seqs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs with MASK, true tokens, boolean mask), MASKED_PER_SEQ distinct positions per sequence."""
    tokens = source().sample(rng, n_seqs, SEQ_LEN)
    positions = np.argsort(rng.random((n_seqs, SEQ_LEN)), axis=1)[:, :MASKED_PER_SEQ]
    mask = np.zeros((n_seqs, SEQ_LEN), dtype=bool)
    np.put_along_axis(mask, positions, True, axis=1)
    return np.where(mask, MASK, tokens), tokens, mask


def static_check(folder: Path) -> list[str]:
    """Raise Invalid("disallowed_source") naming file:line of each finding; return the files checked."""
    findings, files = rules.static_findings(folder, ENTRY_FILE)
    if findings:
        shown = "; ".join(findings[:8]) + (f"; and {len(findings) - 8} more" if len(findings) > 8 else "")
        raise Invalid(f"disallowed source in the model's code: {shown}", reason="disallowed_source",
                      details={"findings": findings, "files_checked": files})
    return files


MAX_OP_NAMES = 1_000  # distinct ops of one forward (an honest one has a few dozen)
NOTES = ("escapes", "unchecked", "bitcasts")  # the record's lists of short texts


def _record_form(answer: object) -> tuple[dict[str, int], dict[str, list[str]]]:
    """The record's op counts and notes once their form is the checked boot's: op names as the recorder
    writes them (namespace.packet.overload) with counts, notes as lists of texts; CandidateProtocolError
    otherwise. Nothing of the candidate's is formatted before this (a list of 100,000 references to one
    1 MB string, formatted whole, would take 100 GB)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("ops"), dict):
        raise CandidateProtocolError("the checked boot's answer is not a record of the forward pass")
    ops = answer["ops"]
    if len(ops) > MAX_OP_NAMES or not all(type(k) is str and graphs.OP_NAME.fullmatch(k) and type(v) is int
                                          and 0 < v < 1 << 40 for k, v in ops.items()):
        raise CandidateProtocolError(f"the checked boot's record names ops not as the recorder does: "
                                     f"{graphs.brief(ops)}")
    notes = {}
    for key in NOTES:
        value = answer.get(key, [])
        if not isinstance(value, list) or len(value) > 10_000 or not all(type(v) is str for v in value):
            raise CandidateProtocolError(f"the checked boot's record has {key} that are not a list of texts: "
                                         f"{graphs.brief(value)}")
        notes[key] = [v[:500] for v in value[:100]]
    return ops, notes


def check_record(answer: object, batch: int) -> np.ndarray:
    """Judge one forward's record from the checked boot; return its logits [batch, 64, 48]."""
    ops, notes = _record_form(answer)
    bad = rules.disallowed_ops(ops)
    if bad:
        raise Invalid(f"disallowed op in the forward pass: {', '.join(bad[:10])} (only multiplications, "
                      "additions, ReLU-like and shape ops are allowed; see instructions.md)",
                      reason="disallowed_op", details={"disallowed": bad, "ops": ops})
    if notes["bitcasts"]:
        raise Invalid(f"bit reinterpretation in the forward pass: {notes['bitcasts'][0]}; reading a float's "
                      "bits as integers (or back) is as forbidden as the exp and division it emulates",
                      reason="disallowed_op", details={"bitcasts": notes["bitcasts"], "ops": ops})
    if notes["escapes"]:
        names = ", ".join(f"Tensor.{e[:80]}" for e in notes["escapes"][:10])
        raise Invalid(f"data escape: the forward pass moved data out of torch ({names}); the whole forward "
                      "must be torch ops that the checker can see", reason="data_escape",
                      details={"escapes": notes["escapes"], "ops": ops})
    if notes["unchecked"]:
        raise Invalid(f"unchecked forward: {notes['unchecked'][0]}", reason="unchecked_forward",
                      details={"problems": notes["unchecked"], "ops": ops})
    return logits_of(answer, batch, "the forward pass")


def logits_of(answer: object, batch: int, what: str) -> np.ndarray:
    """The logits [batch, 64, 48] in an answer of the checked boot's or the graph runner's form (type,
    shape, dtype, float32 bytes); WrongAnswer naming `what` gave something else."""
    expected = [batch, SEQ_LEN, VOCAB]
    if not isinstance(answer, dict) or answer.get("type") != "Tensor":
        raise WrongAnswer(f"{what} must return a torch.Tensor of logits {expected}, got "
                          f"{graphs.brief(answer.get('type') if isinstance(answer, dict) else answer)}",
                          reason="wrong_output")
    if answer.get("shape") != expected:
        raise WrongAnswer(f"wrong logits shape from {what}: expected {expected} (batch, positions, {VOCAB} "
                          f"tokens), got {graphs.brief(answer.get('shape'))}", reason="wrong_shape")
    data = answer.get("logits")
    if not isinstance(data, bytes) or len(data) != batch * SEQ_LEN * VOCAB * 4:
        raise WrongAnswer(f"the logits must be floating point, got dtype {graphs.brief(answer.get('dtype'))}",
                          reason="wrong_output")
    logits = np.frombuffer(data, dtype=np.float32).reshape(expected)
    if not np.isfinite(logits).all():
        raise WrongAnswer("the logits contain NaN or infinite values", reason="non_finite_logits")
    return logits


def check_graph(answer: object) -> dict[str, int]:
    """The op counts of the candidate's traced forward once graph.check has passed it; Invalid naming what
    is refused."""
    try:
        return graphs.check(answer, rules.disallowed_ops)[1]
    except graphs.GraphRefused as refused:
        raise Invalid(refused.message, reason=refused.reason, details={"disallowed": refused.names}) from None


class GraphRunner:
    """graph_runner.py, with graph.py beside it in a folder of its own, started as a candidate is (confined,
    limited): it runs the checked graph on batches of masked tokens and holds nothing else."""

    def __init__(self, ctx: ScoringContext):
        self.folder = Path(tempfile.mkdtemp(prefix="rearena-graph-runner-"))
        self.folder.chmod(0o755)  # a scoring container runs it as its helpers' uid (locally, confinement owns it)
        for name in GRAPH_FILES:
            shutil.copy2(HERE / name, self.folder / name)
        self.proc = CandidateProcess(self.folder, "graph_runner.py", "execute", memory_mb=ctx.memory_mb,
                                     output_cap_bytes=ctx.output_cap_bytes, startup_timeout_s=max(0.1, ctx.remaining()),
                                     python=ctx.helper_python or ctx.python)  # never the candidate's uid
        self.proc.function = "the scorer's run of the traced forward"  # how its failures are named
        ctx.processes.append(self.proc)

    def _call(self, *args: object, timeout: float) -> object:
        """The runner's answer; its refusal or failure (of the candidate's graph) is unchecked_forward."""
        try:
            return self.proc.call(*args, timeout=timeout)
        except CandidateRaised as raised:
            message = raised.message.replace("the candidate raised ", "", 1)
            raise Invalid(f"the scorer's run of the traced forward failed: {message}", reason="unchecked_forward",
                          details=raised.details) from None

    def load(self, answer: object, timeout: float) -> None:
        self._call("load", answer, sorted(rules.ALLOWED_PACKETS), sorted(rules.DISALLOWED_OVERLOADS), timeout=timeout)

    def logits(self, inputs: np.ndarray, batch: int, timeout: float) -> np.ndarray:
        """The graph's logits for `inputs` (at most `batch` rows, padded to the batch it was traced with)."""
        rows = len(inputs)
        padded = np.concatenate([inputs, np.repeat(inputs[-1:], batch - rows, axis=0)]) if rows < batch else inputs
        answer = self._call("run", padded.astype("<i8").tobytes(), batch, SEQ_LEN, timeout=timeout)
        return logits_of(answer, batch, "the traced forward")[:rows]

    def close(self) -> None:
        self.proc.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _runner_apart(ctx: ScoringContext) -> bool:
    """Whether the graph's runner is out of reach of the candidate's processes while both run: in a scoring
    container a uid of its own (helper_python); here confinement with a PID namespace and a file system of
    its own for each. Else the runner starts only once every process of the candidate's is dead: with a
    shared uid and PID namespace a candidate's process could trace it, and with a shared /tmp write into
    its folder."""
    if ctx.helper_python:
        return True
    return confine.available() and {confine.PID, confine.FILES} <= confine.usable(confine.CPU_PATH)


def _start_runner(ctx: ScoringContext, box: dict) -> None:
    try:
        box["runner"] = GraphRunner(ctx)
    except BaseException as exc:  # noqa: BLE001 - raised again in the scoring's own thread
        box["error"] = exc


def masked_nll(logits: np.ndarray, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """-log_softmax(logits)[true token] at each masked position (float64)."""
    chosen = logits[mask].astype(np.float64)
    top = chosen.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(chosen - top).sum(axis=1))
    return log_z - chosen[np.arange(len(chosen)), tokens[mask]]


def score(ctx: ScoringContext) -> dict:
    n_seqs, batch, call_timeout = _params(ctx)
    # static_check = false exists for tests only: they prove the runtime checker alone catches what
    # the static check would have caught first. No variant of the manifest sets it.
    files = static_check(ctx.candidate_dir) if ctx.params.get("static_check", True) else []
    inputs, tokens, mask = masked_eval_set(fresh_rng(ctx.rng), n_seqs)
    # a batch of its own, from a generator of its own: the hidden one never leaves this process
    traced, _, _ = masked_eval_set(fresh_rng(ctx.rng), batch)
    box: dict = {}
    starting = threading.Thread(target=_start_runner, args=(ctx, box), daemon=True)
    apart = _runner_apart(ctx)
    if apart:  # the graph's runner starts (imports torch) while the candidate's process does
        starting.start()
    try:
        proc = CandidateProcess(
            ctx.candidate_dir, ENTRY_FILE, ENTRY_FUNCTION, memory_mb=ctx.memory_mb,
            output_cap_bytes=ctx.output_cap_bytes, startup_timeout_s=max(0.1, ctx.remaining()),
            python=ctx.python, boot=CHECKED_BOOT, boot_args=tuple(off_limits()), cpus=ctx.cpus)
        ctx.processes.append(proc)
        proc.function = "the forward pass of load_model"  # how timeouts and crashes name the calls
        data = traced.astype("<i8").tobytes()
        try:
            # the forward under the recorder, then written down as a graph: both on the tracing batch
            answer = proc.call(data, batch, SEQ_LEN, timeout=min(call_timeout, ctx.remaining()))
            forward_logits = check_record(answer, batch)
            graph = proc.call("graph", data, batch, SEQ_LEN, timeout=min(call_timeout, ctx.remaining()))
        finally:
            proc.close()
        ops = check_graph(graph)
        if apart:
            starting.join(max(0.1, ctx.remaining()))
        runner = box.get("runner")
        # nothing the candidate left running (a double fork, setsid) runs on beside the runner
        ctx.kill_strays(keep=[runner.proc.proc.pid] if runner is not None else [])
        if not apart:  # the runner starts only now, with no process of the candidate's left to reach it
            starting.start()
            starting.join(max(0.1, ctx.remaining()))
        if "error" in box:
            raise box["error"]
        runner = box.get("runner")
        if runner is None:
            raise Invalid("the scorer's runner of the traced forward did not start in time", reason="timeout")
        runner.load(graph, timeout=min(call_timeout, ctx.remaining()))
        ctx.log(f"traced forward: {sum(ops.values())} ops, {len(graph['constants'])} constants")
        graph_check = runner.logits(traced, batch, timeout=min(call_timeout, ctx.remaining()))
        if not np.allclose(graph_check, forward_logits, rtol=AGREE_RTOL, atol=AGREE_ATOL):
            worst = float(np.abs(graph_check.astype(np.float64) - forward_logits).max())
            raise Invalid(f"unchecked forward: the traced graph of the forward pass computes other logits than the "
                          f"forward returned (largest difference {worst:.3g}): part of the forward is not torch "
                          "ops (numpy on a tensor's memory, a thread?), or it is not the same function of its "
                          "tokens at every call", reason="unchecked_forward",
                          details={"largest_difference": worst})
        losses: list[np.ndarray] = []
        for start in range(0, n_seqs, batch):  # the hidden batches, run by the graph's runner
            rows = slice(start, min(start + batch, n_seqs))
            logits = runner.logits(inputs[rows], batch, timeout=min(call_timeout, ctx.remaining()))
            losses.append(masked_nll(logits, tokens[rows], mask[rows]))
    finally:
        if starting.is_alive():
            starting.join(max(0.1, ctx.remaining()))
        if box.get("runner") is not None:
            box["runner"].close()
    nll = np.concatenate(losses)
    loss = float(nll.mean())
    raw = math.log(max(loss - FLOOR, MIN_GAP))
    ctx.log(f"{len(nll)} masked tokens in {n_seqs} sequences: loss {loss:.4f}")
    return {
        "raw": raw,
        "message": f"masked loss {loss:.4f} nats over {len(nll)} masked tokens ({n_seqs} fresh sequences); "
                   f"raw = ln(loss - {FLOOR})",
        "details": {"loss": loss, "loss_sem": float(nll.std(ddof=1) / math.sqrt(len(nll))) if len(nll) > 1 else 0.0,
                    "floor": FLOOR, "masked_tokens": int(len(nll)), "n_seqs": n_seqs,
                    "clamped": loss - FLOOR < MIN_GAP, "ops": ops, "forward_ops": answer["ops"],
                    "graph_runner_confinement": box["runner"].proc.confinement,
                    "files_checked": files},
    }
