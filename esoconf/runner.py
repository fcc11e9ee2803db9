"""The one subprocess runner: merged environment, a timeout, errors that explain themselves."""

from __future__ import annotations

import os
import shlex
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
    """Run ``cmd``; the environment is merged into ``os.environ``, never replaces it."""
    argv = [str(part) for part in cmd]
    merged = {**os.environ, **(env or {})}
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, env=merged, input=input, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, check=False)
    except FileNotFoundError:
        raise CommandNotFound(argv, None, "", note=f"{argv[0]} not found") from None
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise CommandTimeout(argv, None, stderr, note=f"timed out after {timeout:g}s") from None
    result = Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stderr or proc.stdout)
    return result
