"""Nothing a participant had is lost by copying a docker trial's workdir out, against a real daemon. A review found
that the copy out as the participant (tar --ignore-failed-read) replaced the host mirror with an empty copy when the
workdir could be listed but not entered (`chmod -R 644 ~/workdir`), and dropped the last copy of any folder made
unreadable; the trial's end then snapshotted nothing and removed the container, the only other copy."""

from __future__ import annotations

import pytest
from test_docker_copy_as_participant import files_in

from console.sandbox import SandboxError, sync_workdir
from scoring import containers as dk

pytestmark = pytest.mark.slow

ODD = "sp ace\nline"  # a name tar's messages quote (escape style): it is put back all the same


def _run(sandbox, script: str) -> None:
    made = sandbox.exec(script, timeout=30)
    assert made.exit_code == 0, made.output


def test_a_workdir_listed_but_not_entered_keeps_its_last_copy_to_the_final_snapshot(docker_trial, docker_service):
    """The reviewer's reproduction: write work, pull, `chmod -R 644 ~/workdir`, pull again, end the trial."""
    trial, sandbox = docker_trial
    data_dir = docker_service.store.data_dir
    _run(sandbox, "echo '# mine' >> solution.py && mkdir -p d/e && echo deep > d/e/f")
    assert sync_workdir(trial, data_dir) == []
    _run(sandbox, f"chmod -R 644 {dk.WORKDIR} || true")  # chmod cannot go on below the first folder: no x
    listed = sandbox.container.exec_run(["ls", dk.WORKDIR], user=dk.PARTICIPANT)
    assert listed.exit_code == 0 and b"solution.py" in listed.output  # listed, not entered
    with pytest.raises(SandboxError, match="is not readable by participant .*its entries cannot be read"):
        sync_workdir(trial, data_dir)
    workdir = docker_service.store.trial(trial.id).workdir
    assert b"# mine" in files_in(workdir)["solution.py"] and files_in(workdir)["d/e/f"] == b"deep\n"
    ended = docker_service.end(trial.id, "test")
    assert sandbox.container.id not in {c.id for c in dk.client().containers.list(all=True)}  # removed
    final = docker_service.store.events(trial.id, kinds=["ended"])[-1].data["snapshot"]
    assert ended.status == "ended" and {"solution.py", "d/e/f"} <= set(docker_service.store.snapshot_manifest(final))


def test_entries_made_unreadable_keep_their_last_copy_and_the_rest_is_what_is_there_now(docker_trial,
                                                                                        docker_service):
    trial, sandbox = docker_trial
    data_dir = docker_service.store.data_dir
    _run(sandbox, f"mkdir -p d e && echo own > d/own.txt && echo sub > e/sub.txt && echo old > notes.txt && "
                  f"printf odd > '{ODD}'")
    assert sync_workdir(trial, data_dir) == []
    # d: listed, not entered; e: entered, not listed; notes.txt, ODD: not readable; gone.txt: new, never readable
    _run(sandbox, f"echo now > d/own.txt && echo '# now' >> solution.py && echo new > gone.txt && chmod 600 d && "
                  f"chmod 300 e && chmod 000 notes.txt gone.txt '{ODD}'")
    skipped = sync_workdir(trial, data_dir)
    kept = "(kept from the last copy: not readable now by participant: cannot"
    for name, verb in (("d", "stat"), ("e", "open"), ("notes.txt", "open"), (ODD, "open")):
        assert f"workdir/{name} {kept} {verb}: Permission denied)" in skipped, skipped
    assert any(entry.startswith("workdir/gone.txt (not readable by participant") for entry in skipped), skipped
    files = files_in(docker_service.store.trial(trial.id).workdir)
    assert b"# now" in files["solution.py"]  # what is readable: as it is now
    assert files["d/own.txt"] == b"own\n" and files["e/sub.txt"] == b"sub\n"  # the last readable version
    assert files["notes.txt"] == b"old\n" and files[ODD] == b"odd" and "gone.txt" not in files
    sub = docker_service.score(trial.id)  # the scoring and its snapshot hold what was kept
    assert {"d/own.txt", "e/sub.txt", "notes.txt", ODD} <= set(docker_service.store.snapshot_manifest(sub.snapshot))


def test_a_restarted_container_not_filled_again_is_not_copied_over_the_mirror(docker_trial, docker_service):
    """Its tmpfs emptied: whatever is in it before open_sandbox fills it again (here a partial workdir) is not
    the participant's work; the host mirror, the only whole copy, keeps every file."""
    trial, sandbox = docker_trial
    data_dir = docker_service.store.data_dir
    _run(sandbox, "echo '# mine' >> solution.py && echo kept > extra.txt")
    assert sync_workdir(trial, data_dir) == []
    sandbox.container.restart(timeout=1)
    half = sandbox.container.exec_run(["sh", "-c", f"mkdir -p {dk.WORKDIR} && echo half > {dk.WORKDIR}/solution.py"],
                                      user=dk.PARTICIPANT)
    assert half.exit_code == 0, half.output
    with pytest.raises(SandboxError, match="does not hold the whole workdir"):
        sync_workdir(trial, data_dir)
    files = files_in(docker_service.store.trial(trial.id).workdir)
    assert b"# mine" in files["solution.py"] and files["extra.txt"] == b"kept\n"


def test_a_pull_waits_for_the_fill_and_a_removed_participant_marker_does_not_stop_pulls(docker_trial,
                                                                                       docker_service):
    """open_sandbox fills a restarted container under the mirror's lock (a pull holds it shared meanwhile, so
    the fill waits for it and a pull never sees half a fill); the mark of a whole fill is root's."""
    import threading

    from console.sandbox import get_sandbox
    from console.sandbox.mirror import locked

    trial, sandbox = docker_trial
    data_dir = docker_service.store.data_dir
    _run(sandbox, "echo '# mine' >> solution.py")
    assert sync_workdir(trial, data_dir) == []
    sandbox.container.restart(timeout=1)
    opened: dict = {}
    opener = threading.Thread(target=lambda: opened.update(box=get_sandbox(trial, data_dir)), daemon=True)
    with locked(trial.workdir, exclusive=False):  # as a pull holds it while it copies out
        opener.start()
        opener.join(3)
        assert opener.is_alive()  # the fill waits
    opener.join(60)
    again = opened["box"]
    assert b"# mine" in again.read_file("solution.py")
    _run(again, "rm -rf ~/.rearena/created && echo later >> solution.py")  # the participant's own marker
    assert sync_workdir(trial, data_dir) == []
    assert files_in(docker_service.store.trial(trial.id).workdir)["solution.py"].endswith(b"later\n")
