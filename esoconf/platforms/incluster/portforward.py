"""A bounded, cleaned-up ``kubectl port-forward`` (pytest-kind 22.11's ``port_forward``
never leaves its retry loop: one call started and killed 10 ``kubectl port-forward`` processes in 10 s, and it
passes no PATH to kubectl).

Why the test process reaches Vault through a port-forward: Vault runs with an Istio sidecar under mesh-wide
STRICT mTLS, an allow-nothing AuthorizationPolicy and default-deny NetworkPolicies (hardened parity). A
NodePort connection from the host is plaintext from outside the mesh and is refused by all three. A
port-forward enters the pod's network namespace on 127.0.0.1, which the sidecar's iptables rules and
NetworkPolicies do not intercept, so seeding works without weakening what the tests exercise.

The process is started with a start deadline, a bounded number of attempts, and always terminated
(then killed) on close; ``ensure()`` restarts it on the same local port if it died (e.g. Vault restarted).
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from ...redact import REDACT


class Process(Protocol):
    stdout: IO[str] | None
    stderr: IO[str] | None

    def poll(self) -> int | None: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...
    def wait(self, timeout: float | None = None) -> int: ...


def default_popen(cmd: Sequence[str]) -> Process:
    """kubectl writes a line per forwarded connection to stdout and errors to stderr for as long as it runs:
    into a pipe nobody reads, a long run fills the pipe and kubectl blocks. stdout is discarded, stderr goes
    to a temporary file (read for the error tail, removed on close)."""
    log = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 (closed by close())
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    proc.stderr = log
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_forward_cmd(
    kubectl_prefix: Sequence[str], namespace: str, target: str, local_port: int, remote_port: int
) -> list[str]:
    return [
        *kubectl_prefix,
        "port-forward",
        "--namespace",
        namespace,
        "--address",
        "127.0.0.1",
        target,
        f"{local_port}:{remote_port}",
    ]


class PortForwardError(RuntimeError):
    pass


@dataclass
class PortForward:
    kubectl_prefix: Sequence[str]  # kubectl + --kubeconfig/--context
    namespace: str
    target: str  # svc/vault-vault or pod/<name>
    remote_port: int
    start_timeout: float = 20.0
    attempts: int = 3
    local_port: int = 0
    popen: Callable[[Sequence[str]], Process] = default_popen
    probe: Callable[[int], bool] = port_open
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.monotonic
    _proc: Process | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    starts: int = field(default=0, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def start(self) -> PortForward:
        if not self.local_port:
            self.local_port = free_port()
        problems: list[str] = []
        for _ in range(self.attempts):
            problem = self._start_once()
            if problem is None:
                return self
            problems.append(problem)
        raise PortForwardError(
            f"kubectl port-forward {self.namespace}/{self.target} :{self.remote_port} did not "
            f"come up after {self.attempts} attempts: {problems[-1]}"
        )

    def _start_once(self) -> str | None:
        self.close()
        cmd = port_forward_cmd(
            self.kubectl_prefix, self.namespace, self.target, self.local_port, self.remote_port
        )
        self._proc = self.popen(cmd)
        self.starts += 1
        deadline = self.now() + self.start_timeout
        while self.now() < deadline:
            code = self._proc.poll()
            if code is not None:
                return f"exited with code {code}: {self._stderr_tail()}"
            if self.probe(self.local_port):
                return None
            self.sleep(0.2)
        self.close()
        return f"port {self.local_port} not open within {self.start_timeout:g}s"

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def ensure(self) -> None:
        """Restart (same local port) if the process died, e.g. after the Vault pod restarted."""
        with self._lock:
            if not self.alive():
                self.start()

    def _stderr_tail(self) -> str:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return ""
        try:
            proc.stderr.seek(0)  # a log file (default_popen) is read from its start
            text = proc.stderr.read() or ""
        except (OSError, ValueError):
            return ""
        return REDACT(" ".join(text.strip().splitlines()[-3:]))

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> PortForward:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
