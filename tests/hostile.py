"""How the hostile-input table runs a row and what it checks afterwards (tests/test_hostile_input.py has the rows).

A row runs the suite's pytest (in-process when nothing needs a process of its own; as a subprocess with xdist
workers, inside a private mount or network namespace, or to be sent a signal) or one of the suite's commands.
Every run gets its own temp folder (TMPDIR: where run folders go) and a marker in its environment, so what it
leaves behind is found: a run folder in that temp folder, or a live process carrying the marker.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MARK = "HOSTILE_ROW_MARK"  # in the environment of every process a subprocess row starts (inherited)
PREVIOUS_REPORT = '{"schema_version": 1, "the": "last complete report"}\n'
SUITE_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def message(self) -> str:
        """What the user reads first: the first stderr line, else the first reason of the conformance summary."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        if lines:
            return lines[0]
        out = self.stdout.splitlines()
        for i, line in enumerate(out):
            if "conformance:" in line and line.startswith("-"):
                return out[i + 1].strip() if i + 1 < len(out) else ""
        return ""


@dataclass
class Run:
    """One row's run: its folder, its temp folder and its marker."""

    root: Path
    mark: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def tmp(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {**os.environ, **extra, "TMPDIR": str(self.tmp), MARK: self.mark}
        env.pop("PYTEST_XDIST_WORKER", None)  # this test's own worker, not the run's
        return env

    def spawn(self, argv: Sequence[str], cwd: Path, extra: dict[str, str]) -> subprocess.Popen[str]:
        return subprocess.Popen(list(argv), cwd=cwd, env=self.env(extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def run(self, argv: Sequence[str], cwd: Path, extra: dict[str, str], timeout: float = 300) -> Outcome:
        proc = self.spawn(argv, cwd, extra)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
        return Outcome(proc.returncode, out, err)

    # ---- what is left
    def left_folders(self) -> list[str]:
        return sorted(p.name for p in self.tmp.glob("esoconf-*"))

    def left_processes(self, within: float = 15.0) -> list[str]:
        """Live processes carrying this run's marker, after waiting up to ``within`` for them to end (a run
        folder's watchdog leaves up to a second after the folder is gone)."""
        deadline = time.monotonic() + within
        while True:
            found = marked_processes(self.mark)
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)


def marked_processes(mark: str, command: str = "") -> list[str]:
    """Live processes carrying ``mark`` in their environment (whose command line contains ``command``)."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                if cmd and command in cmd:  # a zombie has none
                    found.append(f"{entry.name} {cmd[:160]}")
        except OSError:
            continue
    return found


@functools.cache
def can_unshare() -> str:
    """"" when private mount and network namespaces can be made here, else why not."""
    try:
        subprocess.run(["unshare", "-m", "-n", "true"], check=True, capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"no private mount/network namespace here (unshare -m -n: {exc})"
    return ""


def in_namespace(kind: str, folder: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` in a private namespace: ``ro`` (``folder`` a read-only tmpfs), ``full`` (a full one), or ``net``
    (no network but loopback). The mount goes with the namespace: nothing is left on the machine."""
    if kind == "net":
        return ["unshare", "-n", *argv]
    options = "ro,size=1m" if kind == "ro" else "size=128k"
    fill = '; cat /dev/zero > "$1/fill" 2>/dev/null' if kind == "full" else ""
    script = f'mount -t tmpfs -o {options} tmpfs "$1"{fill}; shift; exec "$@"'
    folder.mkdir(parents=True, exist_ok=True)
    return ["unshare", "-m", "sh", "-c", script, "sh", str(folder), *argv]


def pytest_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def assert_row(outcome: Outcome, code: int, says: str, folder: str = "") -> None:
    """Exit code, first line, no traceback, one ERROR line, and a first line of at most 200 characters besides
    the paths the user gave (``folder``: the row's own folder, shown as ``<dir>``)."""
    __tracebackhide__ = True
    text = outcome.stdout + outcome.stderr
    assert outcome.code == code, f"exit code {outcome.code}, expected {code}:\n{text[-3000:]}"
    message = outcome.message()
    assert fnmatch.fnmatch(message, says), f"first line\n  {message}\ndoes not match\n  {says}\n{text[-2000:]}"
    assert "Traceback" not in text, text[-3000:]
    if says.startswith("ERROR:"):
        assert len([line for line in outcome.stderr.splitlines() if line.strip()]) == 1, outcome.stderr
        assert message.removeprefix("ERROR: ")[:60] not in outcome.stdout, "the error is printed twice"
    own = message.replace(folder, "<dir>") if folder else message
    assert len(own) <= 200, f"{len(own)} characters: {own}"


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)
