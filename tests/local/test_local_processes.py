"""esoconf.platforms.local.processes: readiness, early death, stop order, SIGKILL, no orphans, busy ports, redaction."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from localfakes import SLEEPS, all_gone, kill_quietly, program, read_pid

from esoconf.platforms.local.processes import (
    STOP_GRACE_SECONDS,
    PortInUse,
    ProcessDied,
    Supervisor,
    free_port,
    require_free,
)
from esoconf.redact import MARKER, REDACT

LISTEN_AFTER_DELAY = """
import socket, sys, time
time.sleep(float(sys.argv[2]))
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
print("listening", flush=True)
time.sleep(60)
"""

# writes its name to a shared file when SIGTERM arrives, then exits; ready once its handler is in place
RECORDS_SIGTERM = """
import pathlib, signal, sys, time
def stop(*_):
    with open(sys.argv[1], "a") as out:
        out.write(sys.argv[2] + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
pathlib.Path(sys.argv[3]).touch()
time.sleep(60)
"""

# ignores SIGTERM, forks a child (which inherits the ignored SIGTERM) and records both PIDs
FORKS_AND_IGNORES_SIGTERM = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open(sys.argv[1], "w") as out:
    out.write(str(child.pid))
time.sleep(60)
"""


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    sup = Supervisor(tmp_path / "run")
    yield sup
    sup.stop_all()


def test_start_waits_until_the_program_is_ready(supervisor: Supervisor, tmp_path: Path) -> None:
    port = free_port()
    fake = program(tmp_path / "slow-server", LISTEN_AFTER_DELAY)
    began = time.monotonic()

    managed = supervisor.start("slow", [fake, port, 0.6], ready=lambda: listening(port), timeout=20, interval=0.05)

    assert time.monotonic() - began >= 0.6
    assert managed.alive() and listening(port)
    assert supervisor.pids() == {"slow": managed.pid}
    assert (supervisor.logs / "slow.log").read_text().splitlines()[0].startswith(f"# {fake} {port} 0.6")


def test_program_that_exits_early_names_itself_its_exit_code_and_log_tail_in_one_line(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    fake = program(tmp_path / "crasher", """
        import sys
        print("loading config", flush=True)
        print("fatal: cannot bind 127.0.0.1:6443", file=sys.stderr, flush=True)
        sys.exit(3)
        """)
    began = time.monotonic()

    with pytest.raises(ProcessDied) as caught:
        supervisor.start("kube-apiserver", [fake], ready=lambda: False, timeout=30, interval=0.05)

    message = str(caught.value)
    assert time.monotonic() - began < 10  # fails fast: not the 30 s timeout
    assert "\n" not in message
    assert message.startswith("kube-apiserver exited with code 3 (log ")
    assert "loading config | fatal: cannot bind 127.0.0.1:6443" in message


def test_program_not_ready_within_the_timeout_is_named(supervisor: Supervisor, tmp_path: Path) -> None:
    fake = program(tmp_path / "never-ready", SLEEPS)

    with pytest.raises(ProcessDied) as caught:
        supervisor.start("etcd", [fake], ready=lambda: False, timeout=0.5, interval=0.05,
                         what="etcd answering /health")

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("etcd is running but not ready within 0.5s (")
    assert "etcd answering /health" in message


def test_ready_probe_errors_are_shown_as_the_last_state(supervisor: Supervisor, tmp_path: Path) -> None:
    def probe() -> bool:
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(ProcessDied, match="not ready: ConnectionRefusedError: connection refused"):
        supervisor.start("vault", [program(tmp_path / "p", SLEEPS)], ready=probe, timeout=0.4, interval=0.05)


def test_check_alive_names_a_process_that_crashed_during_the_run(supervisor: Supervisor, tmp_path: Path) -> None:
    fake = program(tmp_path / "dies-later", """
        import sys, time
        time.sleep(1.0)
        print("panic: runtime error", flush=True)
        sys.exit(2)
        """)
    managed = supervisor.start("eso-controller", [fake], ready=lambda: True, timeout=5)
    supervisor.check_alive()  # still up
    managed.popen.wait(timeout=10)

    with pytest.raises(ProcessDied) as caught:
        supervisor.check_alive()

    assert str(caught.value).startswith("eso-controller exited with code 2 during the run (log ")
    assert str(caught.value).endswith("panic: runtime error")


def test_stop_all_stops_in_reverse_start_order_with_sigterm(supervisor: Supervisor, tmp_path: Path) -> None:
    record = tmp_path / "stopped.txt"
    fake = program(tmp_path / "records", RECORDS_SIGTERM)
    names = ["etcd", "kube-apiserver", "kube-controller-manager", "vault"]
    for name in names:
        marker = tmp_path / f"{name}.ready"
        supervisor.start(name, [fake, record, name, marker], ready=marker.exists, timeout=20, interval=0.05)

    codes = supervisor.stop_all()

    assert record.read_text().splitlines() == list(reversed(names))
    assert codes == dict.fromkeys(reversed(names), 0)
    assert supervisor.processes == {} and supervisor.pids() == {}


@pytest.mark.integration  # waits out the real stop grace (5 s)
def test_program_ignoring_sigterm_is_killed_with_its_forked_child_in_bounded_time(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    child_file = tmp_path / "child.pid"
    fake = program(tmp_path / "stubborn", FORKS_AND_IGNORES_SIGTERM)
    managed = supervisor.start("stubborn", [fake, child_file], ready=child_file.exists, timeout=10, interval=0.05)
    child = read_pid(child_file)
    try:
        began = time.monotonic()
        codes = supervisor.stop_all()
        took = time.monotonic() - began
    finally:
        kill_quietly(child)

    assert codes == {"stubborn": -signal.SIGKILL}
    assert STOP_GRACE_SECONDS - 0.5 <= took < STOP_GRACE_SECONDS + 5
    assert all_gone([managed.pid, child]), "an orphan outlived stop_all"


def test_child_of_a_process_that_already_exited_is_stopped_too(supervisor: Supervisor, tmp_path: Path) -> None:
    """The leader exits early (a wrapper, a crash) and leaves a child in its process group: stop_all still
    stops the group, no orphan stays behind."""
    child_file = tmp_path / "child.pid"
    fake = program(tmp_path / "wrapper", """
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open(sys.argv[1], "w") as out:
            out.write(str(child.pid))
        sys.exit(1)
        """)
    managed = supervisor.start("wrapper", [fake, child_file], ready=lambda: True, timeout=5)
    child = read_pid(child_file)
    managed.popen.wait(timeout=10)
    try:
        supervisor.stop_all()
        assert all_gone([child]), "the exited leader's child outlived stop_all"
    finally:
        kill_quietly(child)


def test_require_free_on_a_taken_port_is_one_actionable_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(PortInUse) as caught:
            require_free(port, who="vault")

    assert str(caught.value) == (
        f"port 127.0.0.1:{port} for vault is already in use: stop what listens there "
        f"(ss -ltnp 'sport = :{port}') or leave the port unset"
    )


def test_require_free_returns_a_free_port() -> None:
    port = free_port()
    assert require_free(port) == port


def test_log_header_redacts_registered_secrets(supervisor: Supervisor, tmp_path: Path) -> None:
    secret = "Zq7xWv93KpL2mN"
    REDACT.add(secret)

    supervisor.start("vault", [program(tmp_path / "p", SLEEPS), f"--dev-root={secret}"], ready=lambda: True, timeout=5)

    header = (supervisor.logs / "vault.log").read_text().splitlines()[0]
    assert header.startswith("# ") and header.endswith(f"--dev-root={MARKER}")
    assert secret not in header


def test_a_program_that_cannot_start_is_one_line(supervisor: Supervisor, tmp_path: Path) -> None:
    with pytest.raises(ProcessDied, match=r"^etcd: cannot start .*/missing: No such file or directory$"):
        supervisor.start("etcd", [tmp_path / "missing"], ready=lambda: True, timeout=5)


def test_a_name_already_running_is_refused(supervisor: Supervisor, tmp_path: Path) -> None:
    fake = program(tmp_path / "p", SLEEPS)
    first = supervisor.start("etcd", [fake], ready=lambda: True, timeout=5)

    with pytest.raises(RuntimeError, match=f"^etcd is already running \\(pid {first.pid}\\)$"):
        supervisor.start("etcd", [fake], ready=lambda: True, timeout=5)
