"""The one subprocess runner: merged environment, a timeout, errors that explain themselves."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .redact import REDACT

STDERR_TAIL_LINES = 15


@dataclass(frozen=True)
class Result:
    cmd: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float


class CommandError(RuntimeError):
    """A command failed: names the command, its exit code and the tail of its stderr (redacted)."""

    def __init__(self, cmd: Sequence[str], returncode: int | None, stderr: str, note: str = "") -> None:
        self.cmd = tuple(cmd)
        self.returncode = returncode
        self.stderr_tail = tail(stderr)
        self.note = note
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f"exit code {self.returncode}" if self.returncode is not None else self.note
        head = f"command failed ({status}): {REDACT(shlex.join(self.cmd))}"
        if self.stderr_tail:
            body = "\n".join("    " + line for line in REDACT(self.stderr_tail).splitlines())
            return f"{head}\n  stderr (last lines):\n{body}"
        return head


class CommandTimeout(CommandError):
    pass


class CommandNotFound(CommandError):
    pass


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


def run(cmd: Sequence[str | Path], *, env: Mapping[str, str] | None = None, timeout: float = 120.0,
        check: bool = True, input: str | None = None, cwd: str | Path | None = None) -> Result:
    """Run ``cmd``; the environment is merged into ``os.environ``, never replaces it.

    The command runs in a process group of its own: on a timeout or an interrupt the whole group is killed (a
    program that forks, e.g. a hung server asked for its version, leaves no child behind and cannot keep the
    output pipes, and so the wait, open)."""
    argv = [str(part) for part in cmd]
    merged = {**os.environ, **(env or {})}
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, env=merged, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                                start_new_session=True)
    except FileNotFoundError:
        raise CommandNotFound(argv, None, "", note=f"{argv[0]} not found") from None
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stderr = proc.communicate()[1]
        raise CommandTimeout(argv, None, stderr or "", note=f"timed out after {timeout:g}s") from None
    except BaseException:  # Ctrl-C, SIGTERM (esoconf.cleanup's handlers raise KeyboardInterrupt)
        _kill_group(proc)
        proc.wait()
        raise
    result = Result(tuple(argv), proc.returncode, stdout, stderr, time.monotonic() - start)
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, stderr or stdout)
    return result


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Only while the leader is not reaped: its PID, so the group's ID, cannot belong to anyone else yet."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
