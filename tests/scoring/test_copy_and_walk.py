"""Hostile trees where the candidate's folder is read: the runner's copy, a trial's snapshot and the
rubric judge's file list (links out of the folder, trees too deep for a recursive walk, too many files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.store.snapshots import scan_tree
from scoring import runner
from scoring.rubric.judge import candidate_files
from scoring.runner import CopyRefused


@pytest.fixture(autouse=True)
def _remove_deep_trees(tmp_path):
    """pytest's own clean-up of old temporary folders recurses: remove the deep trees here."""
    yield
    for name in os.listdir(tmp_path):
        assert runner.remove_tree(tmp_path / name) == ""


def _deep(root: Path, depth: int, leaf: str) -> None:
    """depth nested folders `d` under root, with a file `leaf` at the bottom (no recursion, no long paths)."""
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open(leaf, os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "cand"
    (folder / "sub").mkdir(parents=True)
    (folder / "solution.py").write_text("x = 1\n")
    (folder / "sub" / "notes.md").write_text("inside\n")
    os.symlink("/proc/self/environ", folder / "environ.txt")   # out of the folder: the process's secrets
    os.symlink("../../outside.md", folder / "sub" / "up.md")     # out of the folder, relative
    os.symlink("sub/notes.md", folder / "inside.md")             # in the folder
    (tmp_path / "outside.md").write_text("outside\n")
    return folder


def test_the_copy_leaves_out_links_to_outside_the_folder_and_keeps_links_within(tmp_path):
    folder, work = _folder(tmp_path), tmp_path / "copy"
    skipped = runner._copy_candidate(folder, work)
    assert sorted(skipped) == ["environ.txt (a symbolic link to outside the folder)",
                               "sub/up.md (a symbolic link to outside the folder)"]
    assert not os.path.lexists(work / "environ.txt") and not os.path.lexists(work / "sub" / "up.md")
    assert os.readlink(work / "inside.md") == "sub/notes.md" and (work / "inside.md").read_text() == "inside\n"


def test_a_link_loop_is_left_out_not_a_crash(tmp_path):
    folder = tmp_path / "cand"
    folder.mkdir()
    os.symlink("b", folder / "a")
    os.symlink("a", folder / "b")
    (folder / "solution.py").write_text("x = 1\n")
    skipped = runner._copy_candidate(folder, tmp_path / "copy")
    assert sorted(skipped) == ["a (a symbolic link loop)", "b (a symbolic link loop)"]
    assert (tmp_path / "copy" / "solution.py").read_text() == "x = 1\n"


def _chains(tmp_path: Path) -> Path:
    """Links that stay inside only when read lexically: each reaches outside through another link."""
    folder = tmp_path / "cand"
    (folder / "x" / "y").mkdir(parents=True)
    (folder / "x" / "y" / "data.txt").write_text("inside\n")
    os.symlink("..", folder / "x" / "up")                    # inside: x/.. is the folder
    os.symlink("x/up/../..", folder / "root_parent")         # lexically ".", physically the folder's parent
    os.symlink("x/up/../cand/x", folder / "round_trip")      # out and back in by the folder's name on this host
    os.symlink("root_parent/outside.md", folder / "through")  # through a link that reaches outside
    os.symlink("/", folder / "x" / "abs")
    os.symlink("x/abs/etc", folder / "via_abs")               # through an absolute link
    os.symlink("x/up/x/y/data.txt", folder / "fine")         # a chain that stays inside
    os.symlink("y/../y/data.txt", folder / "x" / "fine2")    # ".." inside the folder
    os.symlink("missing/../../..", folder / "dangling")      # names nothing (ENOENT at "missing")
    (tmp_path / "outside.md").write_text("outside\n")
    return folder


ESCAPING = {"root_parent", "round_trip", "through", "via_abs", "x/abs"}


def test_links_that_reach_outside_through_other_links_are_left_out_of_the_copy(tmp_path):
    """The judge and rule checkers read the copy as root: no link in it may lead outside, however it
    gets there. (`round_trip` is inside on this host, but in the copy, or at /candidate in a scoring
    container, the folder's name is another's.)"""
    folder, work = _chains(tmp_path), tmp_path / "copy"
    skipped = runner._copy_candidate(folder, work)
    assert sorted(skipped) == sorted(f"{name} (a symbolic link to outside the folder)" for name in ESCAPING)
    assert (work / "fine").read_text() == "inside\n" and (work / "x" / "fine2").read_text() == "inside\n"
    assert os.path.islink(work / "dangling") and not os.path.exists(work / "dangling")
    for name in ESCAPING:
        assert not os.path.lexists(work / name)


def test_the_scoring_containers_tar_leaves_out_the_same_links(tmp_path):
    """scoring.docker_runner sends the candidate's folder with links_inside: what it leaves out is what
    the local copy leaves out; the scorer's own files (links_inside off) keep their links."""
    import io
    import tarfile

    from scoring.container_exec import write_tar

    folder = _chains(tmp_path)
    out = io.BytesIO()
    skipped = write_tar(folder, out, links_inside=True)
    assert sorted(skipped) == sorted(f"{name} (a symbolic link to outside the folder)" for name in ESCAPING)
    names = set(tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames())
    assert {"fine", "x/fine2", "dangling", "x/up", "x/y/data.txt"} <= names and not names & ESCAPING
    out = io.BytesIO()
    assert write_tar(folder, out) == []
    assert ESCAPING <= set(tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames())


def test_too_many_entries_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "COPY_CAP_ENTRIES", 50)
    folder = tmp_path / "cand"
    folder.mkdir()
    for k in range(60):
        (folder / f"f{k}").write_text("")
    with pytest.raises(CopyRefused) as refused:
        runner._copy_candidate(folder, tmp_path / "copy")
    assert refused.value.reason == "folder_too_large" and "50 files, folders and links" in refused.value.message


def test_a_tree_too_deep_to_copy_names_the_candidates_path_briefly(tmp_path):
    folder = tmp_path / "cand"
    folder.mkdir()
    _deep(folder, 3000, "leaf.txt")  # deeper than PATH_MAX allows a path to name
    work = tmp_path / "copy"
    with pytest.raises(CopyRefused) as refused:
        runner._copy_candidate(folder, work)
    message = refused.value.message
    assert refused.value.reason == "copy_failed" and len(message) < 400, message
    assert str(work) not in message and str(tmp_path) not in message and "levels deep" in message, message


def test_a_snapshot_walks_a_tree_too_deep_for_os_walk(tmp_path):
    folder = _folder(tmp_path)
    _deep(folder, 1500, "deep.py")  # os.walk recurses on Python 3.11: RecursionError near 1000
    names = [rel for rel, *_ in scan_tree(folder)]
    deep = [name for name in names if name.endswith("/deep.py")]
    assert len(deep) == 1 and deep[0].count("/") == 1500
    assert sorted(set(names) - set(deep)) == ["inside.md", "solution.py", "sub/notes.md"]  # no link out


def test_the_judge_reads_no_file_through_a_link_and_walks_deep_trees(tmp_path):
    folder = _folder(tmp_path)
    _deep(folder, 1500, "deep.md")
    files = candidate_files(folder)
    assert "solution.py" in files and "sub/notes.md" in files
    assert not any(name in files for name in ("environ.txt", "sub/up.md", "inside.md")), sorted(files)[:5]
    assert any(name.endswith("/deep.md") for name in files)
    assert all("outside" not in body for body in files.values())


def test_links_too_long_to_follow_are_left_out_and_a_folder_of_them_is_refused(tmp_path, monkeypatch):
    """40 hops of 4 KB targets made ~80,000 lstat calls for one link, and 200,000 such links took hours: a
    link is followed for at most LINK_STEPS components, a folder's links for FOLDER_LINK_STEPS."""
    import time

    from scoring import tree_walk

    folder = tmp_path / "cand"
    (folder / "a").mkdir(parents=True)
    (folder / "f").write_text("x")
    pad = "a/../" * 800
    for i in range(39):
        os.symlink(pad + (f"l{i + 1}" if i < 38 else "f"), folder / f"l{i}")
    os.symlink("a/../f", folder / "short")
    started = time.monotonic()
    skipped = runner._copy_candidate(folder, tmp_path / "copy")
    assert time.monotonic() - started < 10
    assert "short (a symbolic link" not in " ".join(skipped)
    assert "l0 (a symbolic link too long to follow)" in skipped
    assert (tmp_path / "copy" / "short").read_text() == "x"
    monkeypatch.setattr(tree_walk, "FOLDER_LINK_STEPS", 5000)
    with pytest.raises(CopyRefused) as refused:
        runner._copy_candidate(folder, tmp_path / "copy2")
    assert refused.value.reason == "copy_failed" and "steps to resolve" in refused.value.message


def test_the_link_text_judged_is_the_one_given(tmp_path):
    """write_tar reads a link once and judges that text (the folder may change between two reads)."""
    from pathlib import PurePosixPath

    from scoring.tree_walk import link_escapes

    folder = tmp_path / "cand"
    (folder / "d").mkdir(parents=True)
    (folder / "d" / "f0").write_text("x")
    os.symlink("d/f0", folder / "z_link")
    assert link_escapes(folder, PurePosixPath("z_link")) == ""
    assert link_escapes(folder, PurePosixPath("z_link"), target="/opt/rearena/secret") != ""
    assert link_escapes(folder, PurePosixPath("z_link"), target="../../x") != ""
    os.unlink(folder / "z_link")
    os.symlink("/opt/rearena/secret", folder / "z_link")
    assert link_escapes(folder, PurePosixPath("z_link"), target="d/f0") == ""
    os.symlink("../d/f0", folder / "d" / "up")
    assert link_escapes(folder, PurePosixPath("d/up")) == "" and link_escapes(folder, PurePosixPath("d/up"), target="../../x") != ""


# -- a folder changed while it is read ---------------------------------------------------------------
# The participant may change its folder while rearena (perhaps root) reads it: a folder listed, then
# swapped for a symbolic link before it is opened, would be followed by scandir() and open() (O_NOFOLLOW
# protects only the last component). Each test makes the swap at the moment the race would.


def _swap_for_link(folder: Path, target: Path) -> None:
    """folder becomes a symbolic link to target (what it held moves aside)."""
    os.rename(folder, folder.with_name(folder.name + ".moved"))
    os.symlink(target, folder)


def _outside(tmp_path: Path) -> Path:
    """A folder outside the candidate's, with a secret at its top and in a folder `b`."""
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    (outside / "secret").write_text("secret\n")
    (outside / "b" / "secret").write_text("secret\n")
    return outside


def _walked_with_swap(folder: Path, when: str, target: Path, unreadable: str) -> list[str]:
    """The names walk yields, folder/`when`'s top folder swapped for a link to target once `when` is yielded."""
    from scoring.tree_walk import walk

    seen = []
    for rel, _ in walk(folder, unreadable=unreadable):
        seen.append(str(rel))
        if str(rel) == when:
            _swap_for_link(folder / Path(when).parts[0], target)
    return seen


@pytest.mark.parametrize("unreadable", ["raise", "skip"])
def test_a_folder_swapped_for_a_link_after_it_is_listed_is_not_walked_into(tmp_path, unreadable):
    folder = tmp_path / "cand"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "mine.txt").write_text("mine\n")
    (folder / "z.txt").write_text("z\n")
    outside = _outside(tmp_path)
    if unreadable == "raise":
        with pytest.raises(OSError, match="changed while it was being read"):
            _walked_with_swap(folder, "a", outside, unreadable)
    else:
        seen = _walked_with_swap(folder, "a", outside, unreadable)
        assert seen == ["a", "z.txt"], seen


@pytest.mark.parametrize("unreadable", ["raise", "skip"])
def test_a_folder_reached_through_a_link_swapped_in_above_it_is_not_walked_into(tmp_path, unreadable):
    """`a/b` is listed; `a` becomes a link to a folder that holds a `b` too: `a/b` is now outside."""
    folder = tmp_path / "cand"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "mine.txt").write_text("mine\n")
    outside = _outside(tmp_path)
    if unreadable == "raise":
        with pytest.raises(OSError, match="changed while it was being read"):
            _walked_with_swap(folder, "a/b", outside, unreadable)
    else:
        seen = _walked_with_swap(folder, "a/b", outside, unreadable)
        assert seen == ["a", "a/b"], seen


def test_a_file_is_read_only_where_it_really_is(tmp_path):
    from scoring.tree_walk import FolderReader

    folder = tmp_path / "cand"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "secret").write_text("mine\n")
    (folder / "top.txt").write_text("top\n")
    os.symlink("a/secret", folder / "link")
    os.mkfifo(folder / "pipe")
    os.symlink(folder, tmp_path / "via")  # a folder reached through a link is the folder it leads to
    for root in (folder, tmp_path / "via"):
        with FolderReader(root) as reader, reader.open("a/secret") as fh, reader.open("top.txt") as top:
            assert fh.read() == b"mine\n" and top.read() == b"top\n"
            assert reader.read_link("link") == "a/secret"
            with pytest.raises(OSError):  # a link is not followed
                reader.open("link")
            with pytest.raises(OSError, match="no longer a regular file"):
                reader.open("pipe")
    with FolderReader(folder) as reader:
        reader.open("top.txt").close()
        _swap_for_link(folder / "a", _outside(tmp_path))  # between the walk and the read
        with pytest.raises(OSError, match="changed while it was being read"):
            reader.open("a/secret")
        with pytest.raises(OSError, match="changed while it was being read"):
            reader.read_link("a/anything")


def test_names_that_are_not_utf8_are_walked_read_and_copied(tmp_path):
    from scoring.tree_walk import FolderReader, walk

    base = os.fsencode(tmp_path)
    folder = Path(os.fsdecode(base + b"/cand-\xff"))
    os.makedirs(os.fsencode(folder) + b"/d\xe9j\xe0")
    with open(os.fsencode(folder) + b"/d\xe9j\xe0/f\xfe.txt", "wb") as f:
        f.write(b"bytes\n")
    found = [rel for rel, _ in walk(folder)]
    assert [os.fsencode(str(rel)) for rel in found] == [b"d\xe9j\xe0", b"d\xe9j\xe0/f\xfe.txt"]
    with FolderReader(folder) as reader, reader.open(found[1]) as fh:
        assert fh.read() == b"bytes\n"
    assert runner._copy_candidate(folder, tmp_path / "copy") == []
    assert (tmp_path / "copy" / found[1]).read_bytes() == b"bytes\n"


def _change_during_walk(monkeypatch, when: str, change) -> None:
    """FolderReader.walk calls change() right after it yields `when` (the moment a racing participant aims at)."""
    from scoring import tree_walk

    walked = tree_walk.FolderReader.walk

    def walk_then_change(self, *args, **kwargs):
        for rel, info in walked(self, *args, **kwargs):
            yield rel, info
            if str(rel) == when:
                change()

    monkeypatch.setattr(tree_walk.FolderReader, "walk", walk_then_change)


@pytest.mark.parametrize("what", ["a file", "a link"])
def test_a_copy_whose_folder_is_swapped_for_a_link_midway_is_refused(tmp_path, monkeypatch, what):
    """The real walk, with the swap made right after it yields `a` (the moment a racing participant
    aims at), as _copy_candidate goes on to copy what `a` holds."""
    folder = tmp_path / "cand"
    (folder / "a").mkdir(parents=True)
    if what == "a file":
        (folder / "a" / "secret").write_text("mine\n")
    else:
        os.symlink("mine", folder / "a" / "secret")
    outside = _outside(tmp_path)
    _change_during_walk(monkeypatch, "a", lambda: _swap_for_link(folder / "a", outside))
    work = tmp_path / "copy"
    with pytest.raises(CopyRefused) as refused:
        runner._copy_candidate(folder, work)
    assert refused.value.reason == "copy_failed", refused.value.message
    assert "a: it changed while it was being read" in refused.value.message, refused.value.message
    assert str(tmp_path) not in refused.value.message
    assert not os.path.lexists(work / "a" / "secret")


def test_the_judge_reads_a_folder_reached_through_a_link(tmp_path):
    folder = _folder(tmp_path)
    os.symlink(folder, tmp_path / "via")
    files = candidate_files(tmp_path / "via")
    assert files == candidate_files(folder) and sorted(files) == ["solution.py", "sub/notes.md"]


def test_a_folder_bind_mounted_in_a_namespace_of_the_participants_own_is_refused(tmp_path):
    """The path in /proc/self/fd can be faked: a participant in a user and mount namespace of its own mounts
    a tmpfs over its folder and binds a folder it may not read at cand/a/b, then swaps cand/a for a link to
    /proc/<pid>/root/cand/a. Opening a/b through it finds that folder, which /proc names cand/a/b; its
    device and inode are not those the walk listed (found by a review: it copied the root-only file)."""
    import subprocess
    import time

    from scoring.tree_walk import FolderReader

    folder = tmp_path / "cand"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "mine.txt").write_text("mine\n")
    secret = tmp_path / "secret"
    secret.mkdir(mode=0o700)
    (secret / "s.txt").write_text("TOPSECRET\n")
    ready = tmp_path / "ready"
    script = (f"mount -t tmpfs none {folder} && mkdir -p {folder}/a/b && mount --bind {secret} {folder}/a/b "
              f"&& touch {ready} && exec sleep 60")
    holder = subprocess.Popen(["unshare", "-Urm", "sh", "-c", script], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not ready.exists() and holder.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not ready.exists():
            pytest.skip(f"no user namespace here: {holder.stderr.read().decode()[-200:] if holder.poll() is not None else 'timeout'}")
        with FolderReader(folder) as reader, pytest.raises(OSError, match="changed while it was being read"):
            for rel, _ in reader.walk():
                if str(rel) == "a/b":
                    _swap_for_link(folder / "a", Path(f"/proc/{holder.pid}/root{folder}/a"))
                if str(rel).endswith(".txt"):
                    assert reader.open(rel).read() == b"mine\n"
    finally:
        holder.kill()
        holder.wait()


def test_a_file_swapped_for_a_folder_is_refused_by_name_and_leaks_no_fd(tmp_path, monkeypatch):
    """Before (found by a review): open() of the folder's fd raised IsADirectoryError naming the fd number,
    the fd leaked, and the copy crashed with a TypeError instead of giving a verdict."""
    from scoring import tree_walk

    folder = tmp_path / "cand"
    (folder / "d").mkdir(parents=True)
    fds = len(os.listdir("/proc/self/fd"))
    with tree_walk.FolderReader(folder) as reader:
        for _ in range(3):
            with pytest.raises(OSError, match="no longer a regular file") as refused:
                reader.open("d")
            assert refused.value.filename == str(folder / "d")
    assert len(os.listdir("/proc/self/fd")) == fds
    (folder / "f.txt").write_text("f\n")

    def file_to_folder() -> None:
        os.remove(folder / "f.txt")
        os.mkdir(folder / "f.txt")

    _change_during_walk(monkeypatch, "d", file_to_folder)  # f.txt, listed as a file, comes next
    with pytest.raises(CopyRefused) as copy:
        runner._copy_candidate(folder, tmp_path / "copy")
    assert copy.value.reason == "copy_failed" and "f.txt: it is no longer a regular file" in copy.value.message


def test_a_stopped_scoring_does_not_finish_copying_a_large_folder(tmp_path):
    """The console's quit (scoring.stopping) reaches the copy of a folder of thousands of files."""
    from scoring import stopping

    folder = tmp_path / "cand"
    folder.mkdir()
    for i in range(2500):
        (folder / f"f{i:04d}.txt").write_text("x")
    with stopping.stoppable() as asked:
        asked.set()
        with pytest.raises(stopping.ScoringStopped):
            runner._copy_candidate(folder, tmp_path / "copy")
    assert len(os.listdir(tmp_path / "copy")) < 1000


def test_the_containers_tar_judges_its_links_by_what_it_holds_not_the_live_folder(tmp_path, monkeypatch):
    """`x -> .` is read into the tar, then swapped for `x -> a/b` before `z -> x/../..` is judged: in the
    live folder z leads to the folder itself, but in the tar (at /candidate in the scoring container,
    read by the scorer as root) it leads to the container's root, so it must be left out."""
    import io
    import tarfile

    from scoring.container_exec import write_tar

    folder = tmp_path / "cand"
    (folder / "a" / "b").mkdir(parents=True)
    os.symlink(".", folder / "x")
    os.symlink("x/../..", folder / "z")

    def swap():
        os.symlink("a/b", folder / "x.new")
        os.rename(folder / "x.new", folder / "x")

    _change_during_walk(monkeypatch, "x", swap)
    out = io.BytesIO()
    skipped = write_tar(folder, out, links_inside=True)
    members = {member.name: member for member in tarfile.open(fileobj=io.BytesIO(out.getvalue()))}
    assert members["x"].linkname == "."  # what was read, kept
    assert os.readlink(folder / "x") == "a/b"  # the swap did happen
    assert "z" not in members and skipped == ["z (a symbolic link to outside the folder)"], (skipped, sorted(members))
