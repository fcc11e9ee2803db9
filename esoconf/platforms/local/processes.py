"""Local processes of the `local` platform: started on loopback, watched, stopped by PID.

Every process gets its own log file in the run folder (redacted copies reach the diagnostics), is started in its
own process group, is registered in the run folder's journal (:mod:`esoconf.cleanup`) and is stopped in reverse
start order with SIGTERM then SIGKILL: at the end of the run, on failure, on Ctrl-C, SIGTERM and SIGHUP (the
signal handlers, then pytest unwinds the fixtures), at interpreter exit, and by the run folder's watchdog when
the run was killed. A process that exits while the run needs it is named with the tail of its log
(:class:`ProcessDied`, an environment failure).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from esoconf.cleanup import Resource, RunFolder, exec_target, pid_alive, process_resource, stop_process_groups
from esoconf.redact import REDACT, write_redacted
from esoconf.runner import tail
from esoconf.stops import EnvironmentNotReady
from esoconf.wait import Clock, WaitTimeout, wait_for

LOG_TAIL_LINES = 8
STOP_GRACE_SECONDS = 5.0


class ProcessDied(EnvironmentNotReady):
    """A platform process exited (or never became ready): names it, its exit code and its log tail."""


class PortInUse(EnvironmentNotReady):
    """A fixed port the platform was told to use is taken."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def require_free(port: int, host: str = "127.0.0.1", who: str = "") -> int:
    """``port`` if nothing listens on it, else one line naming it (and who wanted it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUse(f"port {host}:{port}{' for ' + who if who else ''} is already in use: stop what "
                            f"listens there (ss -ltnp 'sport = :{port}') or leave the port unset") from None
    return port


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return REDACT(tail(text, lines))


@dataclass
class Managed:
    """One running process of the platform."""

    name: str
    argv: tuple[str, ...]
    log: Path
    popen: subprocess.Popen[bytes] = field(repr=False)
    started: float = field(default_factory=time.monotonic)
    resource: Resource | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def died(self, doing: str = "") -> ProcessDied:
        code = self.popen.poll()
        status = f"exited with code {code}" if code is not None else "is running but not ready"
        body = log_tail(self.log).replace("\n", " | ")
        return ProcessDied(f"{self.name} {status}{' ' + doing if doing else ''} (log {self.log}): {body}")

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> int | None:
        """SIGTERM its process group, wait up to ``grace`` seconds, then SIGKILL; returns the exit code.

        Whatever is left in the group once the leader is gone (a child it forked, also when the leader had
        already exited by itself) is killed too: no orphan outlives the run."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.returncode


__all__ = ["pid_alive", "stop_process_groups"]  # re-exported: where the platform stops processes


_LIVE: weakref.WeakSet[Supervisor] = weakref.WeakSet()


def _stop_all_at_exit() -> None:  # the last resort: no orphan process outlives the interpreter
    for supervisor in list(_LIVE):
        supervisor.stop_all()


atexit.register(_stop_all_at_exit)


class Supervisor:
    """Starts the platform's processes, checks they stay up, stops them all (reverse order)."""

    def __init__(self, run_dir: Path, *, clock: Clock | None = None) -> None:
        self.run_dir = run_dir
        self.folder = RunFolder(run_dir)  # its journal: what the next run, the handlers and the watchdog stop
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.clock = clock or Clock()
        self.processes: dict[str, Managed] = {}
        # processes other test processes use too (pytest-xdist): not stopped here, but by whoever ends the
        # run (stop_process_groups); name -> (pid, log)
        self.handed_over: dict[str, tuple[int, Path]] = {}
        # run before any log is copied out of the run folder: register secrets a process printed late
        self.before_copy: list[Callable[[], object]] = []
        _LIVE.add(self)

    def start(
        self,
        name: str,
        argv: Sequence[str | Path],
        *,
        ready: Callable[[], object],
        timeout: float,
        env: Mapping[str, str] | None = None,
        what: str = "",
        interval: float = 0.2,
    ) -> Managed:
        """Start ``argv`` as ``name`` and wait until ``ready()`` returns something truthy.

        The wait fails fast when the process exits; the error names it, its exit code and its log tail."""
        if name in self.processes and self.processes[name].alive():
            raise RuntimeError(f"{name} is already running (pid {self.processes[name].pid})")
        args = tuple(str(a) for a in argv)
        log = self.logs / f"{name}.log"
        handle = log.open("ab")
        handle.write(f"# {REDACT(shlex.join(args))}\n".encode())
        handle.flush()
        try:
            popen = subprocess.Popen(  # noqa: S603 - our own argv
                args,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=self.run_dir,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProcessDied(f"{name}: cannot start {args[0]}: {exc.strerror or exc}") from None
        finally:
            handle.close()
        managed = Managed(name, args, log, popen, resource=process_resource(popen.pid, name, exec_target(args)))
        self.folder.track(managed.resource)  # type: ignore[arg-type]
        self.processes[name] = managed

        def probe() -> object:
            try:
                return ready()
            except Exception as exc:  # noqa: BLE001 - not ready yet; shown as the last state
                return f"not ready: {type(exc).__name__}: {exc}"

        def done(state: object) -> bool:
            return bool(state) and not (isinstance(state, str) and state.startswith("not ready"))

        try:
            wait_for(
                probe,
                done,
                timeout=timeout,
                what=what or f"{name} ready",
                interval=interval,
                fail_if=lambda _: "the process exited" if not managed.alive() else None,
                clock=self.clock,
            )
        except AssertionError as exc:
            first, _, rest = str(exc).partition("\n")
            last = " ".join(line.strip() for line in rest.splitlines()[1:] if line.strip())  # after "last state:"
            shown = f"{first}; last state: {last}" if last else first
            detail = "" if not managed.alive() else f"within {timeout:g}s ({shown})"
            raise managed.died(detail) from (exc if isinstance(exc, WaitTimeout) else None)
        return managed

    def check_alive(self) -> None:
        """Raise :class:`ProcessDied` for the first platform process that is no longer running."""
        for managed in self.processes.values():
            if not managed.alive():
                raise managed.died("during the run")
        for name, (pid, log) in self.handed_over.items():
            if not pid_alive(pid):
                raise ProcessDied(f"{name} (pid {pid}) exited during the run (log {log}): "
                                  f"{log_tail(log).replace(chr(10), ' | ')}")

    def hand_over(self) -> dict[str, tuple[int, Path]]:
        """Leave the running processes to whoever ends the run (they keep running when this process exits);
        returns name -> (pid, log) for them. Processes started later are this supervisor's own again."""
        for name in list(self.processes):
            managed = self.processes.pop(name)
            self.handed_over[name] = (managed.pid, managed.log)
        return dict(self.handed_over)

    def stop(self, name: str) -> int | None:
        managed = self.processes.pop(name, None)
        if managed is None:
            return None
        code = managed.stop()
        if managed.resource is not None:
            with contextlib.suppress(OSError):  # the folder may be gone already (removed by the run's end)
                self.folder.release(managed.resource)
        return code

    def stop_all(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for name in reversed(list(self.processes)):
            with contextlib.suppress(Exception):
                codes[name] = self.stop(name)
        return codes

    def close(self) -> None:
        """Stop every process and remove the run folder (keys, tokens, raw logs: only redacted copies of the
        logs are kept, in the diagnostics) with whatever else is registered in it."""
        self.stop_all()
        self.folder.remove()

    def keep_logs(self, dest: Path, lines: int = 400) -> Path:
        """Redacted tails of every process log into ``dest`` (the run folder and its raw logs are removed)."""
        for register in self.before_copy:
            register()
        for name, log in self.log_files().items():
            write_redacted(dest / f"{name}.log", log_tail(log, lines))
        return dest

    def log_files(self) -> dict[str, Path]:
        """Every platform process's log, its own and handed-over ones."""
        return {**{n: log for n, (_, log) in self.handed_over.items()},
                **{n: m.log for n, m in self.processes.items()}}

    def pids(self) -> dict[str, int]:
        return {name: m.pid for name, m in self.processes.items() if m.alive()}
