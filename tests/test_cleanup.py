"""The cleanup registry (esoconf.cleanup): a run folder's journal, its removal, the watchdog that cleans up after a
killed run, the leftovers the next run reports (and --clean-start removes), and a kind of resource of one's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from esoconf import cleanup
from esoconf.cleanup import Resource, RunFolder, clean_start, leftovers, process_resource

SUITE_ROOT = Path(__file__).resolve().parent.parent


def sleeper(seconds: int = 300) -> subprocess.Popen[bytes]:
    """A process in its own session, as the platforms start theirs."""
    return subprocess.Popen(["sleep", str(seconds)], start_new_session=True)


def gone(pid: int, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not cleanup.pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts: reaped (and killed if a check failed) afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_registered_process_and_the_folder_are_removed(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    folder = RunFolder.create("test", root=tmp_path, watch=False)
    proc = sleeper()
    spawned.append(proc)
    folder.track(process_resource(proc.pid, "sleeper", "sleep"))

    assert (folder.path.stat().st_mode & 0o777) == 0o700
    assert [r.label() for r in folder.present()] == [f"process {proc.pid} (sleeper)"]
    removed = folder.remove()

    assert [r.ident for r in removed] == [str(proc.pid)]
    assert proc.wait(timeout=10) == -signal.SIGTERM
    assert not folder.path.exists()


def test_a_released_resource_is_not_stopped_again(tmp_path: Path, spawned: list[subprocess.Popen[bytes]]) -> None:
    folder = RunFolder.create("test", root=tmp_path, watch=False)
    proc = sleeper()
    spawned.append(proc)
    folder.release(folder.track(process_resource(proc.pid, "sleeper", "sleep")))

    assert folder.remove() == []
    assert proc.poll() is None, "a process the run had already released was signalled"


def test_a_reused_pid_is_never_signalled(tmp_path: Path, spawned: list[subprocess.Popen[bytes]]) -> None:
    """/proc/PID/cmdline and the start time are checked: a PID now used by another program is left alone."""
    folder = RunFolder.create("test", root=tmp_path, watch=False)
    proc = sleeper()
    spawned.append(proc)
    other = process_resource(proc.pid, "etcd", "etcd")  # the journal says etcd; the PID is a sleep now
    folder.track(other)

    assert folder.present() == []
    folder.remove()
    assert proc.poll() is None


def test_the_watchdog_cleans_up_after_a_killed_run(tmp_path: Path) -> None:
    """The owner is SIGKILLed (tox kills 0.5 s after Ctrl-C): the watchdog stops the registered process group
    (what its leader forked included) and removes the folder."""
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import subprocess, sys, time
        sys.path.insert(0, {str(SUITE_ROOT)!r})
        from esoconf.cleanup import RunFolder, process_resource
        folder = RunFolder.create("test", root={str(tmp_path)!r})
        child = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300"], start_new_session=True)
        folder.track(process_resource(child.pid, "shell", "sh"))
        print(folder.path, child.pid, flush=True)
        time.sleep(300)
        """)], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    path, pid = owner.stdout.readline().split()
    try:
        deadline = time.monotonic() + 10
        while len(members := cleanup.group_members(int(pid))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # the shell and the two sleeps it forks
        assert len(members) == 3

        owner.kill()
        owner.wait()

        assert all(gone(member) for member in members), "the watchdog left the run's processes running"
    finally:
        owner.kill()
        owner.wait()
        cleanup.stop_process_groups([int(pid)], grace=0)
    deadline = time.monotonic() + 10
    while Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(path).exists(), "the watchdog left the private run folder"


def test_the_watchdog_leaves_when_the_run_removed_its_folder(tmp_path: Path) -> None:
    folder = RunFolder.create("test", root=tmp_path)
    deadline = time.monotonic() + 10
    while not (watchers := [p for p in _watchdogs() if str(folder.path) in p[1]]) and time.monotonic() < deadline:
        time.sleep(0.05)  # started, maybe not yet exec'd
    assert len(watchers) == 1

    folder.remove()

    assert gone(watchers[0][0], within=5)


def _watchdogs() -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "esoconf.cleanup watch" in cmd:
                found.append((int(entry.name), cmd))
    return found


def _killed_run(root: Path, spawned: list[subprocess.Popen[bytes]]) -> tuple[RunFolder, subprocess.Popen[bytes]]:
    """A run folder as a killed run (and killed watchdog) leaves it: its owner gone, a process still running."""
    folder = RunFolder.create("local", root=root, watch=False)
    marker = json.loads((folder.path / cleanup.MARKER).read_text())
    marker["owner_pid"] = _dead_pid()
    (folder.path / cleanup.MARKER).write_text(json.dumps(marker))
    proc = sleeper()
    spawned.append(proc)
    folder.track(process_resource(proc.pid, "etcd", "sleep"))
    return folder, proc


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_next_run_reports_leftovers_and_clean_start_removes_them(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    folder, proc = _killed_run(tmp_path, spawned)
    RunFolder.create("local", root=tmp_path, watch=False)  # a live run's folder (this process): not a leftover

    assert [f.path for f in leftovers(tmp_path)] == [folder.path]
    [warning] = clean_start(tmp_path)
    assert warning.startswith(f"WARNING: leftovers of an earlier run: {folder.path} (run of pid ")
    assert warning.endswith(f"process {proc.pid} (etcd) still there; remove them with --clean-start")
    assert proc.poll() is None, "reporting leftovers must not remove them"

    [removed] = clean_start(tmp_path, remove=True)

    assert removed.startswith(f"--clean-start: removed the leftovers of an earlier run: {folder.path}")
    assert proc.wait(timeout=10) == -signal.SIGTERM
    assert leftovers(tmp_path) == []


removed_files: list[str] = []


def _file_present(resource: Resource) -> bool:
    return Path(resource.ident).exists()


def _remove_files(resources: Sequence[Resource]) -> None:
    for resource in resources:
        removed_files.append(resource.ident)
        Path(resource.ident).unlink()


# how the node platform registers network namespaces, mounts and cgroups: a kind, how to see it, how to remove it
cleanup.resource_kind("test-file", present=_file_present, remove=_remove_files, order=20)


def test_a_platform_registers_its_own_kind_of_resource(tmp_path: Path, spawned: list[subprocess.Popen[bytes]]) -> None:
    folder = RunFolder.create("node", root=tmp_path, watch=False)
    made = tmp_path / "netns-like"
    made.write_text("")
    proc = sleeper()
    spawned.append(proc)
    folder.track(Resource("test-file", str(made), {"name": "a namespace"}, module=__name__))
    folder.track(process_resource(proc.pid, "kubelet", "sleep"))
    removed_files.clear()

    removed = folder.remove()

    assert [r.kind for r in removed] == ["test-file", "process"]
    assert removed_files == [str(made)]
    assert not made.exists()
    assert proc.wait(timeout=10) == -signal.SIGTERM


def test_the_signal_handlers_never_signal_a_reused_pid(tmp_path: Path, spawned: list[subprocess.Popen[bytes]]) -> None:
    folder = RunFolder.create("test", root=tmp_path, watch=False)
    mine, other = sleeper(), sleeper()
    spawned += [mine, other]
    folder.track(process_resource(mine.pid, "sleeper", "sleep"))
    folder.track(Resource("process", str(other.pid), {"name": "etcd", "cmd": "etcd", "start": "1"}))

    folder.signal_processes()

    assert mine.wait(timeout=10) == -signal.SIGTERM
    assert other.poll() is None, "a PID the journal records for another program was signalled"
    folder.remove()


def test_the_watchdog_removes_a_kind_another_module_registers(tmp_path: Path) -> None:
    """A killed node run: its namespaces, mounts and cgroups are kinds esoconf.platforms.node.resources registers with
    esoconf.cleanup. The watchdog (``python -m esoconf.cleanup``) must find them in that module's registry, not in
    a second copy of it run as ``__main__`` (it once removed the folder and left every one of them)."""
    module = tmp_path / "own_kind.py"
    made = tmp_path / "netns-like"
    module.write_text(textwrap.dedent("""
        from pathlib import Path
        from esoconf.cleanup import resource_kind
        resource_kind("test-own", present=lambda r: Path(r.ident).exists(),
                      remove=lambda rs: [Path(r.ident).unlink() for r in rs], order=20)
        """))
    made.write_text("")
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = [{str(SUITE_ROOT)!r}, {str(tmp_path)!r}]
        from esoconf.cleanup import Resource, RunFolder
        folder = RunFolder.create("test", root={str(tmp_path / "runs")!r})
        folder.track(Resource("test-own", {str(made)!r}, {{"name": "a namespace"}}, module="own_kind"))
        print(folder.path, flush=True)
        time.sleep(300)
        """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    (tmp_path / "runs").mkdir(exist_ok=True)
    assert owner.stdout is not None
    path = Path(owner.stdout.readline().strip())
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 15
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not path.exists(), "the watchdog did not run"
    assert not made.exists(), "the watchdog removed the folder but left a resource of a kind another module registers"


@pytest.mark.parametrize(("argv", "runs"), [
    (["nsenter", "--net=/run/netns/x", "--", "/cache/kube-apiserver", "--v=1"], "/cache/kube-apiserver"),
    (["nsenter", "--net=/run/netns/x", "/cache/kubelet"], "/cache/kubelet"),
    (["/cache/etcd", "--data-dir=x"], "/cache/etcd"),
], ids=["nsenter-dashdash", "nsenter", "plain"])
def test_a_process_is_recorded_by_the_program_it_ends_up_running(argv: list[str], runs: str) -> None:
    assert cleanup.exec_target(argv) == runs


def test_a_process_started_through_nsenter_is_stopped_by_the_registry(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    """The node platform starts its daemons as `nsenter --net=... -- program`: the journal must name the program,
    or the registry (the watchdog of a killed node run) takes the PID for a reused one and never stops it."""
    folder = RunFolder.create("test", root=tmp_path, watch=False)
    argv = ["nsenter", "--", "sleep", "300"]  # no namespace given: nsenter just execs (no privilege needed)
    proc = subprocess.Popen(argv, start_new_session=True)
    spawned.append(proc)
    deadline = time.monotonic() + 5
    while cleanup.command_of(proc.pid) != "sleep" and time.monotonic() < deadline:
        time.sleep(0.02)
    folder.track(process_resource(proc.pid, "daemon", cleanup.exec_target(argv)))

    assert [r.kind for r in folder.remove()] == ["process"]
    assert proc.wait(timeout=10) == -signal.SIGTERM
