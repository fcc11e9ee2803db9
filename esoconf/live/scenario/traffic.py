"""Traffic verbs: the doc's network claims observed as connections, not read from manifests.

A probe is a busybox pod (``nc``; busybox's ``wget`` segfaults on the node platform's stand-in) carrying the
labels of the pods a claim is about (the ESO controller's, read from its running pods, with or without
``vault-ingress``), in the namespace those pods live in: a NetworkPolicy selects by labels and namespace, so
the enforcer judges the probe as it judges them. Every probe result is recorded (``probes``) as evidence, with
the enforcer that judged it.

New connections are what an enforcer judges: a probe always opens a fresh one (a long-lived connection can
survive a policy change).

Each connection is also put to the render tier's static evaluator (:mod:`esoconf.render.netpol`) with the
NetworkPolicies in force at that moment (a connection by name needs its DNS lookup, UDP 53 to the cluster's DNS,
admitted too): :meth:`Probing.model_disagreements` names each
connection the model judges otherwise, and :meth:`Probing.traffic_records` are the JSON records the self-test replays
(``tests/fixtures/recorded/node-traffic/``).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from esoconf.render.netpol import Observation, Pod, disagreements
from esoconf.wait import wait_for

from ..eso import CONTROLLER_SELECTOR
from .core import TRANSIENT, ScenarioCore

PROBE_IMAGE = "docker.io/library/busybox:1.37.0"
DNS_SERVICE = "kube-dns.kube-system"  # the cluster's DNS (CoreDNS on node and kind): a lookup by name goes there
OPEN, BLOCKED = "OPEN", "BLOCKED"


@dataclass(frozen=True)
class Probe:
    """A running probe pod."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: str = ""


@dataclass(frozen=True)
class ProbeResult:
    source: str
    target: str
    port: int
    result: str  # OPEN, BLOCKED, or the probe's own failure
    seen: Observation | None = field(default=None, compare=False)  # the connection, for the static model
    policies: tuple[dict[str, Any], ...] = field(default=(), compare=False)  # NetworkPolicies in force then

    def line(self) -> str:
        return f"{self.source} -> {self.target}:{self.port} {self.result}"


def probe_pod(namespace: str, name: str, labels: Mapping[str, str], image: str, listen: int | None) -> dict[str, Any]:
    """A busybox pod; ``listen``: it answers ``ok`` on that TCP port (one connection at a time, in a loop)."""
    command = (["sh", "-c", f"while true; do echo ok | nc -l -p {listen}; done"] if listen
               else ["sleep", "3600"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "probe", "image": image, "imagePullPolicy": "IfNotPresent", "command": command}],
        },
    }


def connect_command(host: str, port: int, timeout_s: int = 3) -> list[str]:
    """OPEN when a TCP connection is established (whatever the server says), BLOCKED when it is not."""
    return ["sh", "-c", f"if nc -w {timeout_s} {host} {port} </dev/null >/dev/null 2>&1; then echo {OPEN}; "
                        f"else echo {BLOCKED}; fi"]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Probing(ScenarioCore):
    """Probe pods and connections between them."""

    probes: list[ProbeResult]

    @property
    def probe_image(self) -> str:
        return str(getattr(self.platform, "probe_image", PROBE_IMAGE))

    def eso_pod_labels(self, *, vault_ingress: bool = True) -> dict[str, str]:
        """The labels of the running ESO controller pod (the pod-template hash dropped), with or without the
        ``vault-ingress`` label."""
        pods = self.platform.eso_pods()
        assert pods, "no ESO controller pod to copy labels from"
        labels = {k: v for k, v in (pods[0]["metadata"].get("labels") or {}).items() if k != "pod-template-hash"}
        labels = {**CONTROLLER_SELECTOR, **labels}
        if vault_ingress:
            labels["vault-ingress"] = "true"
        else:
            labels.pop("vault-ingress", None)
        return labels

    def probe(self, namespace: str, stem: str, labels: Mapping[str, str], listen: int | None = None) -> Probe:
        name = self.unique(f"probe-{stem}")[:63].rstrip("-")
        self.apply(probe_pod(namespace, name, {**labels, "eso-conformance/probe": stem}, self.probe_image, listen))
        pod = wait_for(
            lambda: self.kube.get("Pod", name, namespace) or {},
            lambda p: bool(p) and any(c.get("type") == "Ready" and c.get("status") == "True"
                                      for c in (p.get("status") or {}).get("conditions") or []),
            timeout=self.timeouts.pod_ready,
            what=f"probe pod {namespace}/{name} Ready",
            interval=self.interval,
            transient=TRANSIENT,
            clock=self.clock,
        )
        if namespace != self.namespace:  # the test namespace goes as a whole
            self.cleanups.append(lambda: self.kube.delete("Pod", name, namespace))
        return Probe(namespace, name, dict(labels), str((pod.get("status") or {}).get("podIP") or ""))

    def connects(self, source: Probe, host: str, port: int, *, expect: str | None = None, tries: int = 4) -> str:
        """OPEN or BLOCKED from ``source`` to ``host:port`` (a fresh connection). With ``expect``, a few tries
        until it is seen (policies take a moment to program); the last result is returned either way."""
        result = ""
        for attempt in range(tries if expect else 1):
            out = self.kube.exec(source.namespace, source.name, connect_command(host, port))
            result = OPEN if OPEN in out else BLOCKED if BLOCKED in out else f"probe failed: {out.strip()[:120]}"
            if expect is None or result == expect:
                break
            if attempt + 1 < tries:
                self.clock.sleep(2)
        if not hasattr(self, "probes"):
            self.probes = []
        seen: Observation | None = None
        policies: tuple[dict[str, Any], ...] = ()
        if result in {OPEN, BLOCKED}:
            src, dst = self._model_pod(self.kube.get("Pod", source.name, source.namespace)), self._endpoint(host)
            dns = None if _is_address(host) else self._endpoint(DNS_SERVICE)  # by name: a lookup came first
            if src is not None and dst is not None and (dns is not None or _is_address(host)):
                seen = Observation(src, dst, port, result == OPEN, dns=dns)
                policies = self._policies_in_force()
        self.probes.append(ProbeResult(f"{source.namespace}/{source.name}", host, port, result, seen, policies))
        return result

    # ---- the static model, on the same connections ---------------------------------------------------------
    def _policies_in_force(self) -> tuple[dict[str, Any], ...]:
        return tuple({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                      "metadata": {"name": p["metadata"]["name"], "namespace": p["metadata"]["namespace"]},
                      "spec": p.get("spec") or {}}
                     for p in sorted(self.kube.list("NetworkPolicy", None),
                                     key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])))

    def _model_pod(self, pod: Mapping[str, Any] | None) -> Pod | None:
        if not pod:
            return None
        meta = pod["metadata"]
        namespace = self.kube.get("Namespace", meta["namespace"]) or {}
        ports = {port["name"]: int(port["containerPort"]) for container in pod["spec"].get("containers") or []
                 for port in container.get("ports") or [] if port.get("name")}
        return Pod(meta["namespace"], dict(meta.get("labels") or {}), meta["name"],
                   (pod.get("status") or {}).get("podIP"), ports,
                   dict((namespace.get("metadata") or {}).get("labels") or {}))

    def _endpoint(self, host: str) -> Pod | None:
        """The pod behind ``host``: a pod IP, a Service's ClusterIP or ``<service>.<namespace>...`` (its first
        selected pod)."""
        if not _is_address(host):
            found = self._service(host)
        else:
            pods = [p for p in self.kube.list("Pod", None) if (p.get("status") or {}).get("podIP") == host]
            if pods:
                return self._model_pod(pods[0])
            found = next((s for s in self.kube.list("Service", None) if s["spec"].get("clusterIP") == host), None)
        if not found or not found["spec"].get("selector"):
            return None
        pods = self.kube.list("Pod", found["metadata"]["namespace"], dict(found["spec"]["selector"]))
        return self._model_pod(pods[0]) if pods else None

    def model_disagreements(self) -> list[str]:
        """Each connection seen here that the render tier's evaluator judges otherwise (with the policies then)."""
        return [line for p in getattr(self, "probes", []) if p.seen is not None
                for line in disagreements(p.policies, [p.seen])]

    def traffic_records(self) -> list[dict[str, Any]]:
        """``{"policies": [...], "observations": [...]}`` per set of policies in force, JSON-able."""
        groups: dict[str, dict[str, Any]] = {}
        for p in getattr(self, "probes", []):
            if p.seen is None:
                continue
            key = repr(p.policies)
            group = groups.setdefault(key, {"policies": list(p.policies), "observations": []})
            group["observations"].append(p.seen.record())
        return list(groups.values())

    def _service(self, host: str) -> dict[str, Any] | None:
        """The Service ``<service>.<namespace>.svc...`` names."""
        service, namespace = host.split(".")[:2]
        return self.kube.get("Service", service, namespace)

    def service_ip(self, host: str) -> str:
        """The ClusterIP of ``<service>.<namespace>.svc...``."""
        found = self._service(host)
        assert found is not None, f"Service {'/'.join(reversed(host.split('.')[:2]))} not found"
        return str(found["spec"]["clusterIP"])

    @contextlib.contextmanager
    def network_policy_removed(self, namespace: str, name: str) -> Iterator[None]:
        """One NetworkPolicy deleted for the block (verified gone), put back as it was afterwards."""
        live = self.kube.get("NetworkPolicy", name, namespace)
        assert live is not None, f"NetworkPolicy {namespace}/{name} is not there to remove"
        keep = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {k: v for k, v in live["metadata"].items() if k in {"name", "namespace", "labels",
                                                                                  "annotations"}},
                "spec": live["spec"]}
        self.kube.delete("NetworkPolicy", name, namespace, wait=True)
        try:
            yield
        finally:
            self.kube.apply(keep)

    def evidence_lines(self) -> list[str]:
        return [p.line() for p in getattr(self, "probes", [])]
