"""What a run leaves behind: every resource it makes is registered, so it is removed on every exit path.

A run folder (:class:`RunFolder`, private: 0700, in the system temp folder) carries a marker, ``run.json`` (the
process that owns the run and its start time), and a journal, ``resources.jsonl`` (one line per resource made
or removed in it: a process group, and for the node platform network namespaces, mounts, cgroups). Three paths
remove what is registered:

* the run itself, on a normal end, a failure or Ctrl-C (pytest unwinds its fixtures);
* the signal handlers (:func:`install_signal_handlers`): SIGTERM and SIGHUP first send SIGTERM to every
  registered process at once, then unwind like Ctrl-C (tox sends SIGTERM 0.3 s after SIGINT, SIGKILL 0.2 s later);
* a watchdog process started with the folder (``python -m esoconf.cleanup watch <folder>``): when the owner is
  gone (SIGKILL included) it removes what is left, then the folder; when the folder is gone it exits.

The next run finds folders whose owner is gone (:func:`leftovers`: a killed run, a killed watchdog, a reboot)
and reports them; ``--clean-start`` removes them.

A resource kind says how to tell a resource is still there and how to remove it (:func:`resource_kind`). A
platform registers its own kinds at import time of a module the watchdog can import: the journal records the
module, and the watchdog imports it before removing.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

MARKER = "run.json"
JOURNAL = "resources.jsonl"
PREFIX = "esoconf-"  # every run folder's name starts with it (esoconf-local-..., esoconf-node-...)
STOP_GRACE_SECONDS = 5.0
WATCH_INTERVAL = 0.5
EXEC_GRACE = 1.0  # a process just started may still show its parent's command line for a moment


# ----------------------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Resource:
    """One thing a run made: its kind, its identity (a PID, a path, a namespace name) and what identifies it
    beyond doubt (a process's command and start time: a PID can be reused)."""

    kind: str
    ident: str
    detail: dict[str, str] = field(default_factory=dict)
    module: str = __name__  # the module that registers its kind (imported by the watchdog)

    def label(self) -> str:
        what = self.detail.get("name") or self.detail.get("cmd") or ""
        return f"{self.kind} {self.ident}{f' ({what})' if what else ''}"


@dataclass(frozen=True)
class Kind:
    """How to find out that resources of one kind are still there, and how to remove them (all at once: a
    batch, so processes get their grace period together). ``order``: lower is removed first (processes before
    mounts before namespaces before cgroups before folders)."""

    name: str
    present: Callable[[Resource], bool]
    remove: Callable[[Sequence[Resource]], None]
    order: int = 50


KINDS: dict[str, Kind] = {}


def resource_kind(name: str, *, present: Callable[[Resource], bool], remove: Callable[[Sequence[Resource]], None],
                  order: int = 50) -> Kind:
    """Register a kind of resource (at import time of the module defining it, so the watchdog finds it)."""
    KINDS[name] = kind = Kind(name, present, remove, order)
    return kind


# ------------------------------------------------------------------------------- processes by PID


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command (state is [0], pgrp [2], session [3], starttime [19])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def start_time(pid: int) -> str:
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"


def command_of(pid: int) -> str:
    """The base name of the program /proc/PID/cmdline names ("" when the process is gone)."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""
    return os.path.basename(argv0)


def group_members(pgid: int) -> list[int]:
    """Live processes of the process group and session ``pgid`` made (``start_new_session``): what a leader
    forked stays in its group after the leader is gone."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if len(fields) > 3 and fields[0] != "Z" and fields[2] == fields[3] == str(pgid):
                members.append(int(entry.name))
    return members


def exec_target(argv: Sequence[str]) -> str:
    """The program a started process ends up running: ``nsenter [options] [--] program ...`` execs ``program``
    in the same PID (the node platform starts every daemon so), anything else runs ``argv[0]``."""
    if os.path.basename(argv[0]) != "nsenter":
        return argv[0]
    rest = list(argv[1:])
    if "--" in rest:
        return next(iter(rest[rest.index("--") + 1:]), argv[0])
    return next((arg for arg in rest if not arg.startswith("-")), argv[0])


def process_resource(pid: int, name: str, argv0: str) -> Resource:
    """A started process, by PID, start time and the program it runs (``argv0``: pass :func:`exec_target`)."""
    return Resource("process", str(pid), {"name": name, "cmd": os.path.basename(argv0), "start": start_time(pid)})


def _process_present(resource: Resource) -> bool:
    """The leader is the program the journal names (command and start time), or it is gone and what it forked
    still runs in its group. A live PID running another program is a reused PID: Linux does not reuse a PID
    while a process group or session still carries it, so nothing of the run is left there."""
    pid = int(resource.ident)
    if not pid_alive(pid):
        return bool(group_members(pid))
    if start_time(pid) != resource.detail.get("start"):
        return False
    deadline = time.monotonic() + EXEC_GRACE  # the same process, maybe still in exec (/proc shows the old program)
    while command_of(pid) != resource.detail.get("cmd"):
        if time.monotonic() > deadline or not pid_alive(pid):
            return False
        time.sleep(0.05)
    return True


def _still_ours(resource: Resource) -> bool:
    """Without waiting (a signal handler): the leader has the recorded start time (its command line may still be
    the parent's during exec), or it is gone and its group still has members."""
    pid = int(resource.ident)
    if pid_alive(pid):
        return start_time(pid) == resource.detail.get("start") and command_of(pid) in (
            resource.detail.get("cmd"), "", os.path.basename(sys.executable), "python3", "python")  # "": in exec
    return bool(group_members(pid))


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_process_groups(pids: Sequence[int], grace: float = STOP_GRACE_SECONDS) -> list[int]:
    """SIGTERM each process group, SIGKILL what is left after ``grace``; returns the groups that needed SIGKILL."""
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) or group_members(p) for p in pids):
        time.sleep(0.1)
    killed = [pid for pid in pids if pid_alive(pid) or group_members(pid)]
    for pid in killed:
        _signal_group(pid, signal.SIGKILL)
    return killed


def _remove_processes(resources: Sequence[Resource]) -> None:
    stop_process_groups([int(r.ident) for r in resources])


PROCESS = resource_kind("process", present=_process_present, remove=_remove_processes, order=10)


# ------------------------------------------------------------------------------------- run folders


class RunFolder:
    """A private folder of one run, its marker and its resource journal."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, platform: str, *, root: Path | None = None, watch: bool = True) -> RunFolder:
        """A fresh 0700 folder ``esoconf-<platform>-*`` owned by the process that owns the run (the xdist
        controller for a worker: the platform lives until the controller ends), watched unless ``watch`` is off."""
        path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{platform}-", dir=root))
        path.chmod(0o700)
        owner = run_owner()
        marker = {"owner_pid": owner, "owner_start": start_time(owner), "created_by": os.getpid(),
                  "created": datetime.now(UTC).isoformat(timespec="seconds"), "platform": platform}
        (path / MARKER).write_text(json.dumps(marker), encoding="utf-8")
        folder = cls(path)
        if watch:
            folder.watch()
        _OPEN[str(path)] = folder
        return folder

    # ---- the journal
    def track(self, resource: Resource) -> Resource:
        self._append({"add": resource.kind, "ident": resource.ident, "detail": resource.detail,
                      "module": resource.module})
        return resource

    def release(self, resource: Resource) -> None:
        self._append({"del": resource.kind, "ident": resource.ident})

    def _append(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry) + "\n").encode()
        # O_APPEND: xdist workers attached to a shared platform write to one journal; a small write is atomic
        fd = os.open(self.path / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def resources(self) -> list[Resource]:
        """What the journal says is made and not removed, in the order it was made."""
        made: dict[tuple[str, str], Resource] = {}
        try:
            lines = (self.path / JOURNAL).read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        for line in lines:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                entry = json.loads(line)
                if "add" in entry:
                    made[(entry["add"], entry["ident"])] = Resource(entry["add"], entry["ident"],
                                                                    dict(entry.get("detail", {})),
                                                                    entry.get("module", __name__))
                else:
                    made.pop((entry["del"], entry["ident"]), None)
        return list(made.values())

    def present(self) -> list[Resource]:
        found = []
        for resource in self.resources():
            kind = _kind(resource)
            if kind is not None and kind.present(resource):
                found.append(resource)
        return found

    # ---- the owner
    def marker(self) -> dict[str, Any]:
        try:
            data = json.loads((self.path / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def owner_alive(self) -> bool:
        marker = self.marker()
        pid = int(marker.get("owner_pid", 0) or 0)
        return pid > 0 and pid_alive(pid) and start_time(pid) == marker.get("owner_start")

    # ---- removal
    def remove(self) -> list[Resource]:
        """Remove every registered resource still there (kind by kind, in order), then the folder; returns what
        had to be removed."""
        present = self.present()
        for order_kind in sorted({_kind(r) for r in present} - {None}, key=lambda k: k.order):  # type: ignore[union-attr]
            assert order_kind is not None
            with contextlib.suppress(Exception):  # one kind failing never keeps the others
                order_kind.remove([r for r in present if r.kind == order_kind.name])
        shutil.rmtree(self.path, ignore_errors=True)
        _OPEN.pop(str(self.path), None)
        return present

    def signal_processes(self, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` to every registered process group now, without waiting (the signal handlers' first step)."""
        for resource in self.resources():
            if resource.kind == PROCESS.name and _still_ours(resource):
                _signal_group(int(resource.ident), sig)

    def watch(self) -> None:
        """Start the watchdog: it outlives this process and removes what is left once the owner is gone."""
        with contextlib.suppress(OSError):
            subprocess.Popen(  # noqa: S603 - our own module
                [sys.executable, "-m", __name__, "watch", str(self.path)], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent.parent),
                                                                              os.environ.get("PYTHONPATH")]))})

    def describe(self, present: Sequence[Resource] | None = None) -> str:
        present = self.present() if present is None else present
        marker = self.marker()
        what = ", ".join(r.label() for r in present) or "no process"
        return (f"{self.path} (run of pid {marker.get('owner_pid', '?')}, {marker.get('created', '?')}): {what}"
                f" still there")


def _kind(resource: Resource) -> Kind | None:
    if resource.kind not in KINDS:
        with contextlib.suppress(ImportError):
            importlib.import_module(resource.module)
    return KINDS.get(resource.kind)


_OPEN: dict[str, RunFolder] = {}  # the run folders this interpreter made (for the signal handlers)


def _remove_own_at_exit() -> None:
    """Last resort at interpreter exit: the folders this process owns (a worker's handed-over platform is the
    controller's to remove)."""
    for folder in list(_OPEN.values()):
        if folder.marker().get("owner_pid") == os.getpid():
            folder.remove()


atexit.register(_remove_own_at_exit)


_owner: dict[str, int] = {}


def set_run_owner(pid: int) -> None:
    """The process that ends the run (the plugin says: the pytest-xdist controller for a worker)."""
    _owner["pid"] = pid


def run_owner() -> int:
    """The process that ends the run: as set by :func:`set_run_owner`, else this one (an environment variable
    such as PYTEST_XDIST_WORKER is inherited by a nested run, so it cannot tell)."""
    return _owner.get("pid", os.getpid())


def leftovers(root: Path | None = None) -> list[RunFolder]:
    """Run folders under the temp folder whose owner is gone: what a killed run left behind."""
    base = Path(root or tempfile.gettempdir())
    found = []
    for marker in sorted(base.glob(f"{PREFIX}*/{MARKER}")):
        folder = RunFolder(marker.parent)
        if not folder.owner_alive():
            found.append(folder)
    return found


def clean_start(root: Path | None = None, remove: bool = False) -> list[str]:
    """One line per leftover run folder: removed (``remove``) or how to remove it."""
    lines = []
    for folder in leftovers(root):
        present = folder.present()
        if remove:
            folder.remove()
            lines.append(f"--clean-start: removed the leftovers of an earlier run: {folder.describe(present)}"
                         .replace(" still there", ""))
        else:
            lines.append(f"WARNING: leftovers of an earlier run: {folder.describe(present)}; remove them with "
                         f"--clean-start")
    return lines


# ------------------------------------------------------------------------------------ the signals


_handled: dict[str, Any] = {"installed": False, "signal": "", "at": 0.0}
SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}


def interrupted_by() -> str:
    """The signal that interrupted this run ("" if none did)."""
    return str(_handled["signal"])


REPEAT_WINDOW = 2.0  # tox sends SIGINT (twice on a terminal's Ctrl-C), SIGTERM 0.3 s later: one interrupt


def _on_signal(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    first = not _handled["signal"]
    now = time.monotonic()
    for folder in list(_OPEN.values()):
        folder.signal_processes(signal.SIGTERM if first else signal.SIGKILL)
    if not first and now - _handled["at"] < REPEAT_WINDOW:
        return  # the same interrupt said again (tox): let the run unwind and write its report
    _handled["signal"], _handled["at"] = _handled["signal"] or name, now
    raise KeyboardInterrupt(f"interrupted by {name}{' (Ctrl-C)' if signum == signal.SIGINT else ''}")


def install_signal_handlers() -> None:
    """SIGINT, SIGTERM and SIGHUP: every registered process gets SIGTERM at once (a second signal: SIGKILL), then
    the run unwinds as on Ctrl-C (fixtures torn down, the report says "interrupted"). Main thread only."""
    if _handled["installed"] or not _in_main_thread():
        return
    for sig in (signal.SIGINT, *SIGNALS.values()):
        signal.signal(sig, _on_signal)
    _handled["installed"] = True


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def signals_handled() -> Iterator[None]:
    """The handlers for the duration of a block (the previous ones restored after it)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, *SIGNALS.values())}
    installed, _handled["installed"] = _handled["installed"], False
    install_signal_handlers()
    try:
        yield
    finally:
        if _handled["installed"] and _in_main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        _handled["installed"], _handled["signal"] = installed, ""


# ------------------------------------------------------------------------------------ the watchdog


def watch(path: Path, interval: float = WATCH_INTERVAL) -> int:
    """Wait while the run owning ``path`` lives and the folder is there; then remove what the run left."""
    folder = RunFolder(path)
    while (path / MARKER).exists() and folder.owner_alive():
        time.sleep(interval)
    if path.exists():
        folder.remove()
    return 0


def main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "watch":
        with contextlib.suppress(KeyboardInterrupt):
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the run's, not the watchdog's
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            return watch(Path(argv[1]))
    print("usage: python -m esoconf.cleanup watch <run folder>", file=sys.stderr)
    return 3


if __name__ == "__main__":
    # run as `python -m esoconf.cleanup`, this file is `__main__`, a second copy of the module: the resource kinds
    # other modules register (the node platform's namespaces, mounts, cgroups) land in esoconf.cleanup's KINDS,
    # so the watchdog must be that module's, or it removes the folder and leaves every one of them
    from esoconf import cleanup as registry

    sys.exit(registry.main(sys.argv[1:]))
