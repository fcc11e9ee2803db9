"""Lifecycle pieces with fakes: the bounded port-forward, diagnostics (redacted), preflight, Kube, phases."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from esoconf.config import resolve
from esoconf.live.diagnostics import Diagnostics, PodLogs, summary
from esoconf.live.kube import Kube, sort_events
from esoconf.live.platform import Phases
from esoconf.live.vault import VaultSeeder
from esoconf.platforms.incluster import setup as kind_setup
from esoconf.platforms.incluster.portforward import PortForward, PortForwardError, port_open
from esoconf.redact import REDACT
from esoconf.runner import CommandError
from esoconf.wait import Timeouts


class FakeProcess:
    def __init__(self, exit_code: int | None = None, stderr: str = "") -> None:
        self.exit_code = exit_code
        self.stdout = io.StringIO("")
        self.stderr = io.StringIO(stderr)
        self.terminated = False

    def poll(self) -> int | None:
        return self.exit_code

    def terminate(self) -> None:
        self.terminated = True
        self.exit_code = -15

    def kill(self) -> None:
        self.exit_code = -9

    def wait(self, timeout: float | None = None) -> int:
        return self.exit_code or 0


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def forward(processes: list[FakeProcess], open_after: int, **kw: Any) -> tuple[PortForward, list[list[str]]]:
    started: list[list[str]] = []
    probes = iter(range(1000))
    clock = FakeClock()

    def popen(cmd: Any) -> Any:
        started.append(list(cmd))
        return processes[len(started) - 1]

    pf = PortForward(
        ["kubectl"],
        "vault",
        "svc/vault-vault",
        8200,
        local_port=41234,
        start_timeout=2,
        popen=popen,
        probe=lambda port: next(probes) >= open_after,
        sleep=clock.sleep,
        now=clock.now,
        **kw,
    )
    return pf, started


def test_port_forward_starts_once_and_is_terminated_on_close() -> None:
    proc = FakeProcess()
    pf, started = forward([proc], open_after=2)
    with pf:
        assert pf.url == "http://127.0.0.1:41234" and pf.alive()
    assert proc.terminated and started == [
        [
            "kubectl",
            "port-forward",
            "--namespace",
            "vault",
            "--address",
            "127.0.0.1",
            "svc/vault-vault",
            "41234:8200",
        ]
    ]


def test_port_forward_gives_up_after_bounded_attempts_with_the_reason() -> None:
    stderr = 'error: unable to forward\nservices "vault-vault" not found'
    procs = [FakeProcess(exit_code=1, stderr=stderr) for _ in range(3)]
    pf, started = forward(procs, open_after=10**6, attempts=3)
    with pytest.raises(
        PortForwardError, match="did not come up after 3 attempts: exited with code 1: .*not found"
    ):
        pf.start()
    assert len(started) == 3


def test_port_forward_that_never_opens_is_killed_within_its_start_timeout() -> None:
    procs = [FakeProcess(), FakeProcess()]
    pf, _ = forward(procs, open_after=10**6, attempts=2)
    with pytest.raises(PortForwardError, match="not open within 2s"):
        pf.start()
    assert all(p.terminated for p in procs)


CHATTY_KUBECTL = """
import socket, sys, time
local = int(sys.argv[-1].split(":")[0])
for _ in range(4000):  # kubectl's "Handling connection for N" per connection, and errors, in a long run
    sys.stdout.write("Handling connection for %d\\n" % local)
    sys.stderr.write("E1202 portforward.go:413] an error occurred forwarding\\n")
sys.stdout.flush(); sys.stderr.flush()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", local)); server.listen()
time.sleep(60)
"""


def test_port_forward_keeps_running_when_kubectl_writes_more_than_a_pipe_holds(tmp_path: Path) -> None:
    """A real process that writes ~250 KB to stdout and stderr before it opens the port: into unread pipes
    (64 KiB) it blocks and never opens."""
    script = tmp_path / "kubectl.py"
    script.write_text(CHATTY_KUBECTL)
    pf = PortForward([sys.executable, str(script)], "vault", "svc/vault-vault", 8200, start_timeout=15, attempts=1)
    try:
        pf.start()
        assert pf.alive() and port_open(pf.local_port)
    finally:
        pf.close()
    assert not pf.alive()


def test_every_vault_call_first_ensures_the_port_forward() -> None:
    first, second = FakeProcess(), FakeProcess()
    pf, started = forward([first, second], open_after=0)
    pf.start()
    written: list[str] = []
    client = SimpleNamespace(sys=SimpleNamespace(create_or_update_acl_policy=lambda name, policy: written.append(name)))
    seeder = VaultSeeder(client, ensure=pf.ensure)  # type: ignore[arg-type]
    seeder.write_policy("eso-read", "")
    assert len(started) == 1
    first.exit_code = 1  # Vault pod restarted: kubectl port-forward exits
    seeder.write_policy("eso-read", "")
    assert len(started) == 2 and pf.alive() and written == ["eso-read", "eso-read"]
    pf.close()


def test_port_forward_restarts_on_the_same_port_when_it_died() -> None:
    first, second = FakeProcess(), FakeProcess()
    pf, started = forward([first, second], open_after=0)
    pf.start()
    first.exit_code = 1  # Vault pod restarted
    pf.ensure()
    assert len(started) == 2 and started[1][-1] == "41234:8200" and pf.alive()
    pf.close()


class FakeKube:
    def __init__(self, objects: dict[tuple[str, str | None], list[dict[str, Any]]]) -> None:
        self.objects = objects

    def list(
        self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None
    ) -> list[dict]:
        if kind == "Event" and namespace == "vault":
            raise RuntimeError("API server unavailable")
        return self.objects.get((kind, namespace), [])

    def logs(
        self, namespace: str, pod: str, container: str | None = None, previous: bool = False, tail: int = 200
    ) -> str:
        return f"{container} log{' (previous)' if previous else ''}: token=hvs.AAAAAAAAAAAAAAAAAAAAAAAAAA"

    def events(self, namespace: str | None, kind: str, name: str) -> list[dict]:
        """Like the real Kube: by involvedObject, in ``namespace`` (None: every namespace)."""
        return [
            event
            for (k, ns), items in self.objects.items()
            if k == "Event" and namespace in (None, ns)
            for event in items
            if (event.get("involvedObject") or {}) == {"kind": kind, "name": name}
        ]


SECRET_VALUE = "very-secret-db-password"


def test_diagnostics_are_collected_and_redacted(tmp_path: Path) -> None:
    REDACT.add(SECRET_VALUE)
    css = {
        "kind": "ClusterSecretStore",
        "metadata": {"name": "vault-secrets"},
        "spec": {"provider": {"vault": {"auth": {"tokenSecretRef": {"name": "vault-token"}}}}},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "InvalidProviderConfig",
                    "message": f"403 RBAC: access denied ({SECRET_VALUE})",
                }
            ]
        },
    }
    pod = {
        "metadata": {"name": "eso-1"},
        "spec": {"initContainers": [{"name": "istio-proxy"}], "containers": [{"name": "external-secrets"}]},
    }
    kube = FakeKube(
        {
            ("ClusterSecretStore", None): [css],
            ("Pod", "external-secrets"): [pod],
            ("Event", "e2e-x"): [
                {"lastTimestamp": "2026-01-01T00:00:02Z", "reason": "B"},
                {"lastTimestamp": "2026-01-01T00:00:01Z", "reason": "A"},
            ],
        }
    )
    diag = Diagnostics(
        kube,
        lambda release, ns: f"{release} deployed",
        [("vault-vault", "vault")],
        [PodLogs("eso", "external-secrets", {"app": "x"})],
    )
    written = {p.name: p.read_text() for p in diag.collect("e2e-x", tmp_path)}
    everything = "\n".join(written.values())
    assert SECRET_VALUE not in everything and "hvs.AAAA" not in everything
    assert "Ready=False reason=InvalidProviderConfig" in written["conditions.txt"]
    assert written["events-e2e-x.txt"].index(" A:") < written["events-e2e-x.txt"].index(" B:")
    assert written["events-vault.txt"].startswith("<not collected: RuntimeError: API server unavailable>")
    assert {
        "logs-eso-eso-1-istio-proxy.txt",
        "logs-eso-eso-1-external-secrets.previous.txt",
        "helm-status-vault-vault.txt",
    } <= set(written)


def test_cluster_store_events_in_default_are_collected_and_their_cause_is_in_the_summary(tmp_path: Path) -> None:
    """ESO >= v0.20: the store condition says only "unable to create client"; the cause is in an Event that
    lands in namespace `default` (a ClusterSecretStore has no namespace)."""
    css = {
        "kind": "ClusterSecretStore",
        "metadata": {"name": "vault-backend"},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "InvalidProviderConfig",
                                   "message": "unable to create client"}]},
    }
    cause = {
        "lastTimestamp": "2026-01-01T00:00:03Z",
        "type": "Warning",
        "reason": "InvalidProviderConfig",
        "involvedObject": {"kind": "ClusterSecretStore", "name": "vault-backend"},
        "message": "unable to log in with Kubernetes auth: Error making API request. Code: 403. permission denied",
    }
    unrelated = {**cause, "involvedObject": {"kind": "ClusterSecretStore", "name": "other"}, "message": "other"}
    kube = FakeKube({("ClusterSecretStore", None): [css], ("Event", "default"): [cause, unrelated]})
    diag = Diagnostics(kube, lambda release, ns: "", [("external-secrets", "external-secrets")])
    written = {p.name: p.read_text() for p in diag.collect("e2e-x", tmp_path)}
    assert "Code: 403. permission denied" in written["events-stores.txt"]
    assert "other" not in written["events-stores.txt"]
    text = summary(tmp_path)
    assert "ClusterSecretStore vault-backend: Ready=False" in text
    assert "ClusterSecretStore/vault-backend InvalidProviderConfig: unable to log in with Kubernetes auth" in text


def test_platform_setup_without_docker_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_docker(*args: Any, **kw: Any) -> Any:
        raise CommandError(
            ["docker", "info"], 1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
        )

    monkeypatch.setattr(kind_setup.doctor.Probes, "run", staticmethod(no_docker))
    monkeypatch.setattr(kind_setup.doctor.shutil, "which", lambda name: "/usr/bin/docker")
    config = resolve({}, env={})
    with pytest.raises(kind_setup.PlatformUnavailable) as info:
        kind_setup.setup(config, "r1", Timeouts(), Path("artifacts"))
    message = str(info.value)
    assert "\n" not in message and message.startswith("live platform cannot start: docker:")
    assert "Cannot connect to the Docker daemon" in message


def test_phases_are_written_for_the_report(tmp_path: Path) -> None:
    ticks = iter([0.0, 12.5, 20.0, 21.25])
    phases = Phases(clock=lambda: next(ticks))
    with phases.phase("cluster"):
        pass
    with phases.phase("seeding"):
        pass
    phases.note("cluster", "reusing kind cluster")
    phases.write(tmp_path / "phases.json")
    assert json.loads((tmp_path / "phases.json").read_text()) == {
        "phases": {"cluster": 12.5, "seeding": 1.25},
        "notes": {"cluster": "reusing kind cluster"},
        "platform": "", "differences": [], "skew": "",
    }


class Api404(Exception):
    status = 404


class FakeResource:
    def get(self, **kw: Any) -> Any:
        if kw.get("name") == "missing":
            raise Api404()
        return {
            "items": [
                {"reason": "late", "lastTimestamp": "2026-01-01T00:00:09Z"},
                {"reason": "early", "eventTime": "2026-01-01T00:00:01.000000Z"},
            ]
        }

    def delete(self, **kw: Any) -> None:
        raise Api404()


class FakeDynamic:
    class resources:  # noqa: N801 - mirrors DynamicClient.resources
        @staticmethod
        def get(api_version: str, kind: str) -> FakeResource:
            return FakeResource()


def test_kube_maps_404_to_none_and_sorts_events() -> None:
    kube = Kube(FakeDynamic(), core=None, kubectl_prefix=["kubectl"], timeouts=Timeouts())
    assert kube.get("Secret", "missing", "ns") is None
    kube.delete("Secret", "missing", "ns")  # 404 is fine
    assert [e["reason"] for e in kube.events("ns", "ExternalSecret", "es")] == ["early", "late"]
    assert sort_events([]) == []
    with pytest.raises(ValueError, match="unsupported kind 'Ingress'"):
        kube.get("Ingress", "x", "ns")
