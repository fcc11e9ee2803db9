"""The static NetworkPolicy evaluator: Kubernetes semantics on small hand-made policy sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from esoconf.render.netpol import Observation, Pod, admits, disagreements

ESO = Pod("external-secrets", {"app.kubernetes.io/name": "external-secrets"}, "eso")
VAULT = Pod("vault", {"app.kubernetes.io/name": "vault"}, "vault", ports={"http": 8200})


def policy(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


DENY_EGRESS = policy("deny", "external-secrets", {"podSelector": {}, "policyTypes": ["Egress"]})
DENY_INGRESS = policy("deny", "vault", {"podSelector": {}})  # policyTypes absent: Ingress
TO_VAULT = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "vault"}},
            "podSelector": {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In",
                                                  "values": ["vault"]}]}}


def egress(name: str, peer: dict[str, Any], ports: list[dict[str, Any]]) -> dict[str, Any]:
    return policy(name, "external-secrets", {"podSelector": {"matchLabels": ESO.labels}, "policyTypes": ["Egress"],
                                             "egress": [{"to": [peer], "ports": ports}]})


@pytest.mark.parametrize(("policies", "port", "allowed", "by"), [
    pytest.param([], 8200, True, (), id="no-policy-not-isolated"),
    pytest.param([DENY_EGRESS], 8200, False, (), id="default-deny"),
    pytest.param([DENY_EGRESS, egress("any-name", TO_VAULT, [{"port": 8200}])], 8200, True, ("any-name",),
                 id="admitted-whatever-the-name"),
    pytest.param([DENY_EGRESS, egress("p", TO_VAULT, [{"port": 8200}])], 8201, False, (), id="other-port"),
    pytest.param([DENY_EGRESS, egress("p", TO_VAULT, [{"port": "http"}])], 8200, True, ("p",), id="named-port"),
    pytest.param([DENY_EGRESS, egress("p", TO_VAULT, [{"port": 8000, "endPort": 8300}])], 8200, True, ("p",),
                 id="port-range"),
    pytest.param([DENY_EGRESS, egress("p", TO_VAULT, [{"port": 8200, "protocol": "UDP"}])], 8200, False, (),
                 id="udp-only"),
    pytest.param([DENY_EGRESS, egress("p", {"podSelector": {}}, [])], 8200, False, (), id="same-namespace-only"),
    pytest.param([DENY_EGRESS, egress("p", {**TO_VAULT, "podSelector": {"matchExpressions": [
        {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["vault"]}]}}, [])], 8200, False, (),
        id="notin-excludes"),
])
def test_egress_side(policies: list[dict[str, Any]], port: int, allowed: bool, by: tuple[str, ...]) -> None:
    verdict = admits(policies, ESO, VAULT, port)
    assert verdict.egress.allowed is allowed, verdict
    assert verdict.egress.admitted_by == by


def test_ip_block_is_noted_not_matched_unless_the_ip_is_known() -> None:
    external = egress("allow-egress-external", {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}},
                      [])
    verdict = admits([DENY_EGRESS, external], ESO, VAULT, 8200)
    assert not verdict.allowed and verdict.egress.by_ip_block == ("allow-egress-external",)
    assert "only by ipBlock in allow-egress-external" in str(verdict)
    assert admits([DENY_EGRESS, external], ESO, Pod("vault", VAULT.labels, ip="10.0.0.5"), 8200).allowed
    assert not admits([DENY_EGRESS, external], ESO, Pod("vault", VAULT.labels, ip="169.254.169.254"), 8200).allowed


def test_both_sides_must_admit() -> None:
    ingress = policy("vault-ingress", "vault", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"vault-ingress": "true"}}}],
         "ports": [{"port": 8200, "protocol": "TCP"}]}]})
    assert not admits([DENY_INGRESS, ingress], ESO, VAULT, 8200).allowed
    labelled = Pod("external-secrets", {**ESO.labels, "vault-ingress": "true"}, "eso")
    verdict = admits([DENY_INGRESS, ingress], labelled, VAULT, 8200)
    assert verdict.allowed and verdict.ingress.admitted_by == ("vault-ingress",)
    assert "not isolated by any policy given" in verdict.reasons[0]


DNS = Pod("kube-system", {"k8s-app": "kube-dns"}, "coredns", ports={"dns": 53})
TO_DNS = egress("dns", {"namespaceSelector": {}, "podSelector": {"matchLabels": DNS.labels}},
                [{"port": 53, "protocol": "UDP"}])


@pytest.mark.parametrize(("policies", "disagrees"), [
    pytest.param([DENY_EGRESS, egress("p", TO_VAULT, [{"port": 8200}])], False, id="dns-closed-explains-it"),
    pytest.param([DENY_EGRESS, egress("p", TO_VAULT, [{"port": 8200}]), TO_DNS], True, id="dns-open-model-admits"),
])
def test_a_refusal_by_name_counts_its_dns_lookup(policies: list[dict[str, Any]], disagrees: bool) -> None:
    """A connection made by name needs its lookup (UDP 53 to the cluster's DNS) admitted too: refused by name
    where the policies close DNS is what the model predicts, where they open it it is a disagreement."""
    seen = Observation(ESO, VAULT, 8200, False, dns=DNS)
    found = disagreements(policies, [seen])
    assert bool(found) is disagrees
    assert Observation.from_record(seen.record()) == seen


RECORDED = Path(__file__).resolve().parent / "fixtures" / "recorded" / "node-traffic"


def test_disagreements_name_each_connection_the_model_gets_wrong() -> None:
    policies = [DENY_EGRESS, egress("p", TO_VAULT, [{"port": 8200}])]
    seen = [Observation(ESO, VAULT, 8200, True), Observation(ESO, VAULT, 8201, False),
            Observation(ESO, VAULT, 8201, True)]
    found = disagreements(policies, seen)
    assert len(found) == 1 and found[0].startswith("observed admitted, model says eso -> vault TCP/8201: refused")


@pytest.mark.parametrize("record", sorted(RECORDED.glob("*.json")) or [None], ids=lambda p: p.stem if p else "none")
def test_the_model_agrees_with_what_the_node_platform_observed(record: Path | None) -> None:
    """Where the ``node`` platform recorded live traffic for a chart (JSON: {"policies": [...], "observations":
    [Observation records]}), the static evaluator gives the same verdict for every connection."""
    if record is None:
        pytest.skip(f"no node-platform traffic recorded in {RECORDED} (the node platform writes them)")
    data = json.loads(record.read_text())
    observations = [Observation.from_record(r) for r in data["observations"]]
    assert disagreements(data["policies"], observations) == []
