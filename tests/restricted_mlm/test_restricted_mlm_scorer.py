"""restricted_mlm: the manifest loads, the starting and reference solutions score near 0 and 1 on
tiny (in this process and through the real runner), a legitimate model full of allowed ops is
valid, and the static source check names what it finds."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from envsupport import (ENVIRONMENTS, REFERENCES, load_module, manifest, normalized, reference_candidate, require_modules, score_directly, score_with_cli, starting_candidate)

require_modules("torch", "numpy")

NAME = "restricted_mlm"
ENV_DIR = ENVIRONMENTS / NAME
HERE = Path(__file__).resolve().parent
rules = load_module(ENV_DIR / "rules.py", "restricted_mlm_rules_under_test")


def test_registry_loads_the_environment_without_problems():
    from environments.registry import load_registry

    registry = load_registry([ENVIRONMENTS])
    assert not [p for p in registry.problems if NAME in str(p)]
    env = registry.get(NAME)
    assert set(env.variants) >= {"main", "tiny"}
    assert env.metric.transform == "ln_minus_floor" and env.metric.direction == "lower"
    assert env.hardware.cpus == 2
    for name in ("instructions.md", "SCORING.md", "make_assets.py", "checked_boot.py", "rules.py"):
        assert (ENV_DIR / name).is_file(), name
    for path in (ENV_DIR / "starting" / "train.bin", ENV_DIR / "starting" / "model.pt", REFERENCES / NAME / "model.pt"):
        assert path.stat().st_size < 2_000_000, path


@pytest.fixture(scope="module")
def start_and_reference(tmp_path_factory):
    """Both scored at once (each candidate process spends most of its time importing torch)."""
    tmp = tmp_path_factory.mktemp("rmlm")
    folders = [starting_candidate(NAME, tmp), reference_candidate(NAME, tmp)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return tuple(pool.map(lambda folder: score_directly(NAME, folder), folders))


def test_starting_solution_scores_near_zero(start_and_reference):
    result = start_and_reference[0]
    assert result["valid"], result["message"]
    assert abs(normalized(NAME, result["raw"])) < 0.15, result["message"]
    assert result["details"]["masked_tokens"] == 128 * 10
    assert result["details"]["loss"] < math.log(48), "the starting model should beat a uniform guess"


def test_reference_solution_scores_near_one(start_and_reference):
    result = start_and_reference[1]
    assert result["valid"], result["message"]
    assert abs(normalized(NAME, result["raw"]) - 1) < 0.15, result["message"]
    details = result["details"]
    assert math.isclose(result["raw"], math.log(details["loss"] - details["floor"]))
    assert all(rules.op_packet(op) in rules.ALLOWED_PACKETS for op in details["ops"])
    assert "aten.addmm.default" in details["ops"] and "aten.relu.default" in details["ops"]


def test_a_legitimate_model_full_of_allowed_ops_is_valid(tmp_path):
    """ReLU attention without softmax, einsum, masks, constants made in the forward: all allowed."""
    import shutil

    candidate = starting_candidate(NAME, tmp_path)
    shutil.copy2(HERE / "allowed_zoo" / "model.py", candidate / "model.py")
    result = score_directly(NAME, candidate, n_seqs=32, batch=16)
    assert result["valid"], result["message"]
    assert result["details"]["masked_tokens"] == 32 * 10
    # the recorder's ops of the forward, and the ops of its graph that the scorer ran
    assert {"aten.bmm.default", "aten.lift_fresh.default", "aten.where.self"} <= set(result["details"]["forward_ops"])
    assert {"aten.bmm.default", "aten.lift_fresh.default", "aten.where.self"} <= set(result["details"]["ops"])


def test_evaluation_text_is_fresh_at_every_scoring():
    """Different secret seeds give different hidden text and masks; the same seed the same."""
    import random

    from scoring.lm.source import fresh_rng

    scorer = load_module(ENV_DIR / "scorer.py", "restricted_mlm_scorer_fresh")
    a, b, c = (scorer.masked_eval_set(fresh_rng(random.Random(s)), 8) for s in (1, 2, 1))
    assert not (a[0] == b[0]).all() and (a[0] == c[0]).all()
    inputs, tokens, mask = a
    assert (mask.sum(axis=1) == 10).all() and (inputs[mask] == 48).all() and (inputs[~mask] == tokens[~mask]).all()
    assert tokens.max() < 48


def test_static_check_names_file_and_line_and_follows_local_imports(tmp_path):
    (tmp_path / "model.py").write_text("import helper\nimport torch\n\ndef load_model():\n    return helper.M()\n")
    (tmp_path / "helper.py").write_text(
        "import torch\nx = 1\ny = x ** 2\nz = torch.sigmoid\nw = getattr(torch, 'ex' + 'p')\nmodel.eval()\n")
    (tmp_path / "train.py").write_text("loss = 1 / 2\n")  # not imported by model.py: not checked
    findings, files = rules.static_findings(tmp_path, "model.py")
    assert files == ["model.py", "helper.py"]
    assert findings == ["helper.py:3: the power operator '**'", "helper.py:4: the disallowed primitive 'sigmoid'",
                        "helper.py:5: getattr() with a computed attribute name",
                        "helper.py:5: the string 'exp' (the name of a disallowed primitive)"]
    # built names and the ways around the names (red team: sys.modules["__" + "main__"]._forward, vars(torch))
    found = rules.findings_in_source(
        "import sys\nb = sys.modules['__' + 'main__']\nf = vars(torch)['soft' + 'max']\ng = getattr\n"
        "h = torch.__dict__\nif __name__ == '__main__':\n    pass\n", "m.py")
    assert found == ["m.py:1: the escape hatch 'sys'", "m.py:2: the escape hatch 'modules'",
                     "m.py:2: the escape hatch 'sys'", "m.py:3: the escape hatch 'vars'",
                     "m.py:3: the string 'softmax' (the name of a disallowed primitive)",
                     "m.py:4: getattr used as a value (its attribute name can then be computed)",
                     "m.py:5: the escape hatch '__dict__'"], found
    assert rules.findings_in_source("path = 'a' % 3\nn = 7 % 3\n", "m.py") == [
        "m.py:2: the remainder operator '%' (a division)"]
    assert rules.findings_in_source("torch.load(p)\n", "m.py") == []
    assert "weights_only=True" in rules.findings_in_source("torch.load(p, weights_only=False)\n", "m.py")[0]
    assert rules.static_findings(ENV_DIR / "starting", "model.py") == ([], ["model.py"])


def test_disallowed_ops_are_named_and_allowed_ones_pass():
    ops = {"aten.mm.default": 3, "aten.exp.default": 1, "aten.mean.dim": 2, "aten.relu.default": 1,
           "prims.div.default": 1}
    assert rules.disallowed_ops(ops) == ["aten.exp.default", "aten.mean.dim", "prims.div.default"]


def test_bad_params_are_named():
    from scoring.api import ScoringContext

    scorer = load_module(ENV_DIR / "scorer.py", "restricted_mlm_scorer_params")
    ctx = ScoringContext(environment=NAME, variant="tiny", params={"n_seqs": "many", "batch": 8},
                         candidate_dir=ENV_DIR / "starting", deadline=0.0)
    with pytest.raises(ValueError, match="n_seqs"):
        scorer.score(ctx)


def test_cli_scores_the_reference_through_the_runner(tmp_path):
    """`rearena score restricted_mlm:tiny PATH --json`: the runner, the scorer's process, the candidate's."""
    candidate = reference_candidate(NAME, tmp_path)
    result = score_with_cli(NAME, candidate, tmp_path, timeout_s=120)
    assert result["valid"] and math.isfinite(result["raw"]), result
    spec = manifest(NAME)["variants"]["tiny"]["calibration"]
    assert abs((result["raw"] - spec["start"]) / (spec["reference"] - spec["start"]) - 1) < 0.15, result


def test_the_checked_boot_reads_no_global_after_the_candidate_is_imported():
    """The request loop, the forward wrapper and the checker are closures built before model.py is
    imported: none of their functions looks a name up in __main__'s globals or builtins (a red-team
    candidate rebound sys.modules["__main__"]._forward; control patched_main), so no later rebinding of
    a global reaches what runs for each call."""
    import dis
    import types

    boot = load_module(ENV_DIR / "checked_boot.py", "restricted_mlm_checked_boot_under_test")
    code = compile(boot.CHECKED_BOOT, "<checked boot>", "exec")
    makers = {c.co_name: c for c in code.co_consts if isinstance(c, types.CodeType)}
    assert {"_make_checker", "_make_server"} <= set(makers)

    def nested(c):
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                yield const
                yield from nested(const)

    found = []
    for maker in ("_make_checker", "_make_server"):
        for c in nested(makers[maker]):
            if c.co_name in ("Recorder", "EscapeWatch"):
                continue   # class bodies run once, at boot
            names = {i.argval for i in dis.get_instructions(c) if i.opname == "LOAD_GLOBAL"}
            found += [f"{maker}/{c.co_name}: {n}" for n in sorted(names)]
    assert not found, found
    # the module level names nothing the loop uses: it only builds the server and runs it
    assert boot.CHECKED_BOOT.rstrip().endswith("_make_server()()")


def test_a_forger_that_owns_its_answer_pipe_gets_only_what_its_graph_computes(tmp_path):
    """The candidate's process can answer anything (here it writes its own records to the answer pipe and
    never returns to the checker), so the hidden batches never go there: it is asked one forward and its
    graph, both on the tracing batch, and the hidden batches' logits are its graph's, computed by the
    scorer. Its constant (uniform) logits score exactly ln 48, whatever it would have answered them."""
    import math
    import shutil

    candidate = starting_candidate(NAME, tmp_path)
    shutil.copy2(HERE / "forger" / "model.py", candidate / "model.py")
    result = score_directly(NAME, candidate, n_seqs=256, batch=64, static_check=False)
    assert result["valid"], result["message"]
    assert "asked: forward graph" in result["candidate_output"], result["candidate_output"]
    assert "forward forward" not in result["candidate_output"]
    assert abs(result["details"]["loss"] - math.log(48)) < 1e-6
    assert result["details"]["masked_tokens"] == 256 * 10
    # the graph ran in a process of its own, confined as a candidate is wherever this machine can
    from scoring import confine

    expected = "+".join(sorted(confine.usable(confine.CPU_PATH))) if confine.available() else "none"
    assert result["details"]["graph_runner_confinement"] == (expected or "covers only")


def test_a_forward_that_is_not_a_function_of_its_tokens_is_unchecked(tmp_path):
    """The graph the scorer runs must compute what the recorded forward returned on the same batch: a
    model that answers its second call (the trace) otherwise is refused, naming the difference."""
    candidate = starting_candidate(NAME, tmp_path)
    model = candidate / "model.py"
    model.write_text(model.read_text().replace(
        "    def forward(self, tokens: torch.Tensor) -> torch.Tensor:\n        return self.head(self.features(tokens))",
        "    def forward(self, tokens: torch.Tensor) -> torch.Tensor:\n"
        "        self.calls = getattr(self, 'calls', 0) + 1\n"
        "        out = self.head(self.features(tokens))\n"
        "        return out if self.calls == 1 else out + 3.0"))
    assert "out + 3.0" in model.read_text()
    result = score_directly(NAME, candidate, n_seqs=64, batch=64)
    assert not result["valid"] and result["reason"] == "unchecked_forward", result["message"]
    assert "computes other logits than the forward returned" in result["message"]
    assert result["details"]["largest_difference"] == pytest.approx(3.0, abs=1e-3)


def test_a_record_not_in_the_boots_form_is_a_protocol_error_never_formatted_whole():
    """The record comes from the candidate's process: its form is checked before any of it is formatted (a
    list of references to one 1 MB string, formatted whole, took the scorer's memory; an op count of 5,000
    digits, or names with markup, were a scorer error or flooded the verdict)."""
    import time

    from scoring.api import Invalid
    from scoring.errors import CandidateProtocolError

    scorer = load_module(ENV_DIR / "scorer.py", "restricted_mlm_scorer_form_under_test")
    big = "x" * (1 << 20)
    good = {"ops": {"aten.mm.default": 1}, "escapes": [], "unchecked": [], "bitcasts": [], "type": "Tensor",
            "shape": [1, 64, 48], "logits": bytes(64 * 48 * 4)}
    assert scorer.check_record(good, 1).shape == (1, 64, 48)
    started = time.monotonic()
    for bad in ({"ops": {"aten.mm.default": "1" * 5000}}, {"ops": {"aten.mm.default": 10 ** 5000}},
                {"ops": {"aten.mm.x<img src=x>": 1}}, {"ops": {f"aten.mm.o{i}": 1 for i in range(2000)}},
                {"unchecked": [1]}, {"escapes": "numpy"}, {"unchecked": [big] * 100_000}):
        with pytest.raises(CandidateProtocolError):
            scorer.check_record({**good, **bad}, 1)
    with pytest.raises(Invalid) as caught:
        scorer.check_record({**good, "unchecked": [big] * 5000}, 1)
    assert len(caught.value.message) < 1000 and len(caught.value.details["problems"]) == 100
    with pytest.raises(Exception) as caught:
        scorer.check_record({**good, "type": [big] * 100_000}, 1)
    assert len(str(caught.value)) < 1000
    assert time.monotonic() - started < 2.0


def test_compiled_modules_in_the_folder_are_disallowed_source(tmp_path):
    """Python imports impl.pyc where there is no impl.py: the source check cannot read it."""
    import py_compile

    candidate = starting_candidate(NAME, tmp_path)
    (candidate / "impl_src.py").write_text("VALUE = 1\n")
    py_compile.compile(str(candidate / "impl_src.py"), cfile=str(candidate / "impl.pyc"), doraise=True)
    (candidate / "impl_src.py").unlink()
    model = candidate / "model.py"
    model.write_text("import impl  # noqa\n" + model.read_text())
    result = score_directly(NAME, candidate)
    assert not result["valid"] and result["reason"] == "disallowed_source", result["message"]
    assert "impl.pyc:0: compiled code" in result["message"]


def test_a_graph_the_runner_refuses_is_unchecked_forward(tmp_path):
    """A forged graph with a plain int where _to_copy takes a dtype (-100 read past torch's table of dtypes
    and crashed the runner): refused by the runner, named as the scorer's run of the traced forward."""
    import shutil

    candidate = starting_candidate(NAME, tmp_path)
    shutil.copy2(HERE / "forger" / "model.py", candidate / "model.py")
    model = candidate / "model.py"
    forged = model.read_text().replace(
        'graph = {"nodes": [("input",), ("const", 0), ("output", {"ref": 1})],',
        'graph = {"nodes": [("input",), ("const", 0), ("op", "aten::_to_copy", "default", [{"ref": 1}], '
        '{"dtype": -100}), ("output", {"ref": 2})],')
    assert forged != model.read_text()
    model.write_text(forged)
    result = score_directly(NAME, candidate, n_seqs=64, batch=64, static_check=False)
    assert not result["valid"] and result["reason"] == "unchecked_forward", result["message"]
    assert result["message"].startswith("the scorer's run of the traced forward failed: GraphRefused: node 2")
    assert "must be a dtype" in result["message"]


def test_the_starting_model_scores_where_candidates_are_not_confined(tmp_path, monkeypatch):
    """Unconfined (a machine where rearena does not run as root; here REARENA_UNCONFINED=1), the graph's runner,
    started from a thread of the scorer, used to die with that thread: a process's death signal
    (PR_SET_PDEATHSIG) follows the thread that started it, and every scoring was out_of_memory."""
    from scoring import confine

    monkeypatch.setenv(confine.OFF_VARIABLE, "1")
    result = score_directly(NAME, starting_candidate(NAME, tmp_path), seed=None, n_seqs=64, batch=64)
    assert result["valid"], result["message"]
    assert result["details"]["graph_runner_confinement"] == "none"


WATCH = """
import os, sys, time
while True:
    seen = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and b"graph_runner.py" in open("/proc/%s/cmdline" % pid, "rb").read().split(b"\\0"):
                seen.append(pid)
        except OSError:
            pass
    with open(sys.argv[1], "a") as out:
        out.write(("SEEN %s\\n" % seen) if seen else "watching\\n")
    time.sleep(0.02)
"""
WATCHER = f'''

def _leave_a_watcher(beacon):
    """Leave a process behind (a session of its own) that notes whether it ever sees the graph's runner."""
    import os
    import subprocess
    import sys
    import time

    subprocess.Popen([sys.executable, "-c", {WATCH!r}, beacon], start_new_session=True)
    while not os.path.exists(beacon):
        time.sleep(0.01)


_leave_a_watcher(BEACON)
'''


def test_where_the_runner_would_share_the_candidates_processes_it_starts_after_they_are_killed(tmp_path,
                                                                                                monkeypatch):
    """Unconfined (no PID namespace, no file system of its own, one uid: here REARENA_UNCONFINED=1), a
    process the candidate left behind could trace the graph's runner or write into its folder; so the
    runner starts only once the scorer's process has killed everything of the candidate's. (Confined, or in a
    scoring container with the helpers' uid, it starts beside the candidate: tests/docker.)"""
    import dataclasses

    from environments.registry import load_registry
    from scoring import confine
    from scoring.runner import score_candidate

    monkeypatch.setenv(confine.OFF_VARIABLE, "1")
    beacon = tmp_path / "beacon"
    candidate = starting_candidate(NAME, tmp_path)
    model = candidate / "model.py"
    model.write_text(model.read_text() + WATCHER.replace("BEACON", repr(str(beacon))))
    env = load_registry([ENVIRONMENTS]).get(NAME)
    tiny = env.variants["tiny"]  # without the static check, which refuses the watcher's os and subprocess
    env = dataclasses.replace(env, variants={**env.variants, "tiny": dataclasses.replace(
        tiny, params={**tiny.params, "static_check": False, "n_seqs": 64, "batch": 64})})
    result = score_candidate(env, "tiny", candidate)
    assert result.valid, result.message
    lines = beacon.read_text().splitlines()
    assert lines and "watching" in lines and not any(line.startswith("SEEN") for line in lines), lines[-5:]
