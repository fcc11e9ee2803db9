"""A small static NetworkPolicy evaluator: which of a set of rendered policies together admit one connection.

The question the network claims ask is about traffic, not names: "under the package's default deny, may an
ESO pod open TCP 8200 on a Vault server pod?" :func:`admits` answers it from ALL the policies it is given,
with Kubernetes semantics:

- a pod is isolated for a direction when some policy in its namespace selects it and has that policy type
  (``policyTypes`` absent: Ingress, plus Egress when the policy has an ``egress`` section);
- an isolated pod's connection is allowed when some selecting policy has a rule whose peers and ports admit it;
  a connection needs both its egress side (source) and its ingress side (destination) allowed;
- peers: ``podSelector`` / ``namespaceSelector`` with ``matchLabels`` and ``matchExpressions``; ``ipBlock`` is
  evaluated only when the pod's IP is known, else it is reported as such (a rule that admits only by IP
  admits where the CNI applies ipBlock to pod IPs: Calico, kube-router; not Cilium), never as a selector match;
- ports: number, name (resolved through the destination pod's named ports when given), ``endPort`` ranges,
  protocol (TCP when absent).

Only the policies given are known: a namespace none of them is in is reported "not isolated by any policy
given". The same API serves a live observer (the ``node`` platform) comparing what it saw with this model:
``admits(policies, src, dst, port).allowed`` and ``.reasons``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Policy = Mapping[str, Any]


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions); {} selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op, False)
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Pod:
    """One end of a connection: its namespace, labels and (optionally) IP, named ports and namespace labels."""

    namespace: str
    labels: Mapping[str, str]
    what: str = "pod"
    ip: str | None = None
    ports: Mapping[str, int] = field(default_factory=dict)  # container port name -> number
    extra_namespace_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {**self.extra_namespace_labels, "kubernetes.io/metadata.name": self.namespace}


def namespace_of(policy: Policy) -> str:
    return str((policy.get("metadata") or {}).get("namespace") or "")


def name_of(policy: Policy) -> str:
    return str((policy.get("metadata") or {}).get("name") or "?")


def policy_types(policy: Policy) -> list[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", *(["Egress"] if "egress" in spec else [])]


def _ip_in_block(block: Mapping[str, Any], ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    try:
        if address not in ipaddress.ip_network(str(block.get("cidr")), strict=False):
            return False
        return not any(address in ipaddress.ip_network(str(e), strict=False) for e in block.get("except") or [])
    except ValueError:
        return False


def peer_admits(peer: Mapping[str, Any], policy_namespace: str, pod: Pod) -> bool | None:
    """True/False by selectors (or by IP when the pod's IP is known); None: an ipBlock peer, pod IP unknown."""
    if "ipBlock" in peer:
        return _ip_in_block(peer["ipBlock"], pod.ip) if pod.ip else None
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], pod.namespace_labels):
            return False
    elif pod.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector"), pod.labels)


def port_admits(ports: Sequence[Mapping[str, Any]] | None, port: int, protocol: str = "TCP",
                named: Mapping[str, int] | None = None) -> bool:
    """A rule's ``ports`` admit ``port``/``protocol`` (no ports: every port); named ports resolve through
    ``named`` (the destination's container ports)."""
    if not ports:
        return True
    for item in ports:
        if item.get("protocol", "TCP") != protocol:
            continue
        value = item.get("port")
        if value is None:
            return True  # protocol only: every port
        if isinstance(value, str) and not value.isdigit():
            value = (named or {}).get(value)
            if value is None:
                continue
        low = int(value)
        if low == port or (item.get("endPort") is not None and low <= port <= int(item["endPort"])):
            return True
    return False


@dataclass(frozen=True)
class RuleMatch:
    policy: str
    by_ip_block: bool = False  # the rule admits only through an ipBlock whose pod IP was not known

    def __str__(self) -> str:
        return f"{self.policy} (ipBlock: pod IP unknown statically)" if self.by_ip_block else self.policy


def rule_matches(policy: Policy, direction: str, peer: Pod, port: int, protocol: str,
                 named: Mapping[str, int]) -> RuleMatch | None:
    """Does one policy have a ``direction`` rule admitting ``peer`` on ``port``? A match only through an ipBlock
    the evaluator could not decide comes back with ``by_ip_block``."""
    spec = policy.get("spec") or {}
    peers_key = "from" if direction == "ingress" else "to"
    ip_only = False
    for rule in spec.get(direction) or []:
        if not port_admits(rule.get("ports"), port, protocol, named):
            continue
        peers = rule.get(peers_key)
        if not peers:
            return RuleMatch(name_of(policy))
        results = [peer_admits(p, namespace_of(policy), peer) for p in peers]
        if any(r is True for r in results):
            return RuleMatch(name_of(policy))
        ip_only = ip_only or any(r is None for r in results)
    return RuleMatch(name_of(policy), by_ip_block=True) if ip_only else None


def policy_admits(policy: Policy, direction: str, pod: Pod, port: int, protocol: str = "TCP") -> bool:
    """One policy's ``direction`` rules admit ``pod`` (the peer) on ``port`` by selectors."""
    match = rule_matches(policy, direction, pod, port, protocol, {})
    return match is not None and not match.by_ip_block


@dataclass(frozen=True)
class Side:
    """One direction of a connection at one pod: which policies isolate it and which admit the peer."""

    direction: str  # egress (at the source) | ingress (at the destination)
    pod: Pod
    isolating: tuple[str, ...]  # policies that select the pod for this direction
    admitted_by: tuple[str, ...]  # of those, the ones with a rule admitting the peer by selectors/port
    by_ip_block: tuple[str, ...] = ()  # ... the ones that would admit it only through an undecided ipBlock
    known_namespace: bool = True  # some policy given is in the pod's namespace

    @property
    def allowed(self) -> bool:
        return not self.isolating or bool(self.admitted_by)

    def __str__(self) -> str:
        where = f"{self.direction} at {self.pod.what} ({self.pod.namespace})"
        if not self.isolating:
            scope = "no policy selects it" if self.known_namespace else "not isolated by any policy given"
            return f"{where}: allowed ({scope})"
        if self.admitted_by:
            return f"{where}: allowed by {', '.join(self.admitted_by)}"
        ip = f"; only by ipBlock in {', '.join(self.by_ip_block)} (pod IP unknown statically: admitted where " \
             f"the CNI applies ipBlock to pod IPs)" if self.by_ip_block else ""
        return f"{where}: refused (isolated by {', '.join(self.isolating)}; no rule admits it{ip})"


@dataclass(frozen=True)
class Verdict:
    src: Pod
    dst: Pod
    port: int
    protocol: str
    egress: Side
    ingress: Side

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    @property
    def reasons(self) -> list[str]:
        return [str(self.egress), str(self.ingress)]

    def __str__(self) -> str:
        verdict = "admitted" if self.allowed else "refused"
        return f"{self.src.what} -> {self.dst.what} {self.protocol}/{self.port}: {verdict} ({'; '.join(self.reasons)})"


def _side(policies: Sequence[Policy], direction: str, pod: Pod, peer: Pod, port: int, protocol: str,
          named: Mapping[str, int]) -> Side:
    kind = "Egress" if direction == "egress" else "Ingress"
    here = [p for p in policies if namespace_of(p) == pod.namespace]
    isolating = [p for p in here if kind in policy_types(p) and selects((p.get("spec") or {}).get("podSelector"),
                                                                         pod.labels)]
    matches = [m for m in (rule_matches(p, direction, peer, port, protocol, named) for p in isolating) if m]
    return Side(direction, pod, tuple(name_of(p) for p in isolating),
                tuple(m.policy for m in matches if not m.by_ip_block),
                tuple(m.policy for m in matches if m.by_ip_block), bool(here))


def admits(policies: Iterable[Policy], src: Pod, dst: Pod, port: int, protocol: str = "TCP") -> Verdict:
    """Do ``policies`` (NetworkPolicy objects with metadata.namespace set) together admit ``src`` -> ``dst`` on
    ``port``/``protocol``? The verdict says, per side, which policies isolate the pod and which admit the peer."""
    found = [p for p in policies if p.get("kind", "NetworkPolicy") == "NetworkPolicy"]
    return Verdict(src, dst, port, protocol,
                   _side(found, "egress", src, dst, port, protocol, dst.ports),
                   _side(found, "ingress", dst, src, port, protocol, dst.ports))


@dataclass(frozen=True)
class Observation:
    """One connection a live platform (the ``node`` platform) tried: who, to whom, which port, and what happened.
    ``dns``: the connection was made by name, so a lookup to that DNS pod (UDP 53) came first and had to be
    admitted too (a connection by name that was refused may have been refused there)."""

    src: Pod
    dst: Pod
    port: int
    allowed: bool
    protocol: str = "TCP"
    dns: Pod | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Observation:
        """``{"src": {"namespace", "labels", "ip"?}, "dst": {...}, "port", "protocol"?, "allowed", "dns"?}``."""
        def pod(side: Mapping[str, Any]) -> Pod:
            return Pod(str(side["namespace"]), dict(side.get("labels") or {}), str(side.get("what") or "pod"),
                       side.get("ip"), dict(side.get("ports") or {}), dict(side.get("namespace_labels") or {}))
        return cls(pod(record["src"]), pod(record["dst"]), int(record["port"]), bool(record["allowed"]),
                   str(record.get("protocol") or "TCP"), pod(record["dns"]) if record.get("dns") else None)

    def record(self) -> dict[str, Any]:
        """The JSON form :meth:`from_record` reads."""
        def side(pod: Pod) -> dict[str, Any]:
            return {"namespace": pod.namespace, "labels": dict(pod.labels), "what": pod.what, "ip": pod.ip,
                    "ports": dict(pod.ports), "namespace_labels": dict(pod.extra_namespace_labels)}
        return {"src": side(self.src), "dst": side(self.dst), "port": self.port, "protocol": self.protocol,
                "allowed": self.allowed, **({"dns": side(self.dns)} if self.dns else {})}


def disagreements(policies: Sequence[Policy], observations: Iterable[Observation]) -> list[str]:
    """Where what a live platform observed differs from :func:`admits` on the same policies: one line each."""
    found = []
    for seen in observations:
        verdict = admits(policies, seen.src, seen.dst, seen.port, seen.protocol)
        lookup = admits(policies, seen.src, seen.dns, 53, "UDP") if seen.dns is not None else None
        if (verdict.allowed and (lookup is None or lookup.allowed)) != seen.allowed:
            dns = f"; its DNS lookup: {lookup}" if lookup is not None else ""
            found.append(f"observed {'admitted' if seen.allowed else 'refused'}, model says {verdict}{dns}")
    return found
