"""The Triton folders of the scorer's user are off limits (scoring/off_limits.py triton_dirs): its kernel
cache holds the reference solution's compiled kernels with their source (wherever the scorer, a benchmark
or a test compiled it), which a candidate read from ~/.triton/cache. A candidate still compiles its own
kernels, into .triton in its own folder (its HOME)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from triton_cumsum_support import require_kernel_stack, score_directly

require_kernel_stack()

from scoring import confine  # noqa: E402
from scoring import off_limits as off_limits_module  # noqa: E402
from scoring.off_limits import TRITON_DIRS_VARIABLE, off_limits  # noqa: E402

READS = '''
def prefix_sum(x):
    with open({path!r}, "rb") as f:
        data = f.read()
    raise RuntimeError("READ %d bytes, mentions reference_solutions: %s" % (len(data), b"reference_solutions" in data))
'''

COMPILES = '''
import os

os.environ.pop("TRITON_INTERPRET", None)  # the interpreter never compiles
import torch
import triton
import triton.language as tl


@triton.jit
def _double(x_ptr, n, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(x_ptr + i, tl.load(x_ptr + i, mask=i < n) * 2, mask=i < n)


try:
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    triton.compile(ASTSource(fn=_double, signature={"x_ptr": "*i32", "n": "i32", "BLOCK": "constexpr"},
                             constexprs={"BLOCK": 128}), target=GPUTarget("cuda", 90, 32))
    CACHE = os.path.join(os.environ["HOME"], ".triton", "cache")
    STATE = "compiled into %s: %d entries" % (CACHE, len(os.listdir(CACHE)))
except FileNotFoundError as exc:  # no ptxas in this Triton build
    STATE = "NO COMPILER: %s" % exc


def prefix_sum(x):
    if not STATE.startswith("compiled") or STATE.endswith(": 0 entries"):
        raise RuntimeError(STATE)
    odd = ((x > 0).cumsum(0) % 2).bool()
    y = torch.zeros_like(x)
    y[1:] = torch.where(odd[:-1], x[1:], 0).cumsum(0).to(torch.int32)
    return y
'''


def _cache_entry(cache: Path) -> Path:
    """A cache entry as Triton writes one for the reference's kernel (its source names the file)."""
    entry = cache / "5G3HUBVY5JCSEJ57WWNRZFBXAS5HG" / "_masked_scan_kernel.source"
    entry.parent.mkdir(parents=True)
    entry.write_text("# reference_solutions/triton_cumsum/solution.py\n@triton.jit\ndef _masked_scan_kernel(): ...\n")
    return entry


def _candidate(tmp_path: Path, source: str) -> Path:
    folder = tmp_path / "candidate"
    folder.mkdir()
    (folder / "solution.py").write_text(source)
    return folder


def test_the_users_triton_folders_are_off_limits(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRITON_HOME", str(tmp_path / "triton-home"))
    monkeypatch.setenv(TRITON_DIRS_VARIABLE, os.pathsep.join([str(tmp_path / "passed"), "relative/ignored"]))
    covered = off_limits()
    for path in (tmp_path / "home" / ".triton", tmp_path / "cache", tmp_path / "triton-home" / ".triton",
                 tmp_path / "passed", Path(pwd.getpwuid(os.getuid()).pw_dir) / ".triton"):
        assert os.path.realpath(path) in covered, path
    assert not any("relative" in path for path in covered)


@pytest.mark.parametrize("broad", ["/", "temp", "repo"])
def test_a_triton_folder_that_holds_what_candidates_need_is_left_uncovered_and_logged(broad, monkeypatch, caplog):
    import tempfile

    folder = {"/": "/", "temp": tempfile.gettempdir(), "repo": str(off_limits_module.REPO_ROOT)}[broad]
    monkeypatch.setenv("TRITON_CACHE_DIR", folder)
    with caplog.at_level("WARNING", logger="scoring.off_limits"):
        assert os.path.realpath(folder) not in off_limits()
    assert "is not off limits" in caplog.text


@pytest.mark.parametrize("confined", [False, True], ids=["tripwire-only", "confined-where-possible"])
@pytest.mark.parametrize("where", ["HOME", "TRITON_CACHE_DIR"])
def test_reading_the_scorers_triton_cache_is_forbidden_access(tmp_path, monkeypatch, where, confined):
    """Before, an unconfined candidate read the entry (candidate_exception "READ ... mentions
    reference_solutions"), as one confined with the covers alone read root's ~/.triton/cache."""
    if not confined:
        monkeypatch.setenv(confine.OFF_VARIABLE, "1")
    if where == "HOME":
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        entry = _cache_entry(tmp_path / "home" / ".triton" / "cache")
    else:
        monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "elsewhere"))
        entry = _cache_entry(tmp_path / "elsewhere")
    result = score_directly(_candidate(tmp_path, READS.format(path=str(entry))), seed=3)
    assert result["reason"] == "forbidden_access", result["message"]
    assert "READ" not in result["message"]


def test_a_candidate_still_compiles_its_kernels_into_its_own_folder(tmp_path, monkeypatch):
    """Its Triton cache is .triton in its own folder (HOME), never the scorer user's, now covered."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _cache_entry(tmp_path / "home" / ".triton" / "cache")
    result = score_directly(_candidate(tmp_path, COMPILES), seed=3, timeout_s=240)
    if "NO COMPILER" in result["message"]:
        pytest.skip(result["message"])
    assert result["reason"] == "needs_gpu", result["message"]


def test_a_triton_cache_named_for_rearena_is_off_limits_through_the_runner(tmp_path, monkeypatch):
    """The scorer's process runs with HOME a temp folder and no TRITON_* variables: the runner passes the
    folders it finds (REARENA_TRITON_DIRS), so a cache that TRITON_CACHE_DIR names for rearena is covered too."""
    from scoring.runner import score_candidate

    from environments.registry import load_registry

    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "elsewhere"))
    entry = _cache_entry(tmp_path / "elsewhere")
    env = load_registry().get("triton_cumsum")
    result = score_candidate(env, "tiny", _candidate(tmp_path, READS.format(path=str(entry))), timeout_s=120)
    assert result.reason == "forbidden_access", result.message
    assert "READ" not in result.message


def test_under_sudo_the_invoking_users_triton_folder_is_off_limits_too(monkeypatch):
    """Confinement needs root, and sudo is the ordinary way to it: HOME is then root's, while the invoking user's
    own ~/.triton (world-readable, as Triton makes it) may hold the reference's kernels."""
    user = pwd.getpwuid(65534)  # "nobody": a user other than root that every system has
    monkeypatch.setenv("SUDO_USER", user.pw_name)
    assert os.path.realpath(os.path.join(user.pw_dir, ".triton")) in off_limits()
