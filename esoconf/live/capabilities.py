"""What a live platform can show, and what each case needs: one vocabulary for every platform.

A case names what it needs with ``@pytest.mark.needs("network-policy", ...)``. A platform without one of
those capabilities reports the case *not verified on this platform*, with the reason (a skip: never a pass,
and under ``--gate`` an unverified claim fails the gate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NETWORK_POLICY = "network-policy"  # a CNI that enforces NetworkPolicy (kind: proven by the canary)
MESH = "mesh"  # Istio sidecars and AuthorizationPolicy enforcement
PODS = "pods"  # the ESO controller runs as pods of the chart's Deployment (a kubelet)
VAULT_PACKAGE = "vault-package"  # the Big Bang Vault package is installed (its NetworkPolicies, APs)
PREVIOUS_RELEASE = "previous-release"  # an earlier ESO release can be installed for the upgrade sampler

KNOWN = (NETWORK_POLICY, MESH, PODS, VAULT_PACKAGE, PREVIOUS_RELEASE)

# What each platform lacks, and why (known before anything starts, so a case it cannot check is reported
# without building the platform). kind and existing clusters lack nothing up front; whether the CNI really
# enforces NetworkPolicy is proven by the canary at run time (require_netpol_enforcement).
GAPS: Mapping[str, Mapping[str, str]] = {
    "kind": {},
    "existing": {},
    "node": {
        MESH: "no Istio data plane can be built here (the Go module proxy refuses istio.io/istio, "
        "no registry ships Envoy with Istio's extensions or ztunnel)",
        PREVIOUS_RELEASE: "the node platform has one ESO controller build; an upgrade needs the previous release's "
        "controller image",
    },
    "local": {
        NETWORK_POLICY: "the local platform has no kubelet and no CNI: NetworkPolicies are stored, never enforced",
        MESH: "the local platform has no Istio mesh (no sidecars, no AuthorizationPolicy enforcement)",
        PODS: "the local platform runs the ESO controller as a process, not as pods of its Deployment",
        VAULT_PACKAGE: "the local platform runs a Vault dev server, not the Big Bang Vault package",
        PREVIOUS_RELEASE: "the local platform has one ESO controller build; an upgrade needs the previous "
        "release's controller binary and chart",
    },
}


def capabilities_of(platform: str) -> frozenset[str]:
    return frozenset(c for c in KNOWN if c not in GAPS[platform])


def missing(platform: str, needed: Iterable[str]) -> str:
    """"" when ``platform`` has every capability in ``needed``, else the reason (one line)."""
    needed = list(needed)
    unknown = sorted(set(needed) - set(KNOWN))
    if unknown:
        raise ValueError(f"unknown capability {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    return "; ".join(GAPS[platform][c] for c in needed if c in GAPS[platform])


def not_verified(platform: str, needed: Iterable[str]) -> str:
    """The skip reason for a case ``platform`` cannot check ("" when it can)."""
    why = missing(platform, needed)
    where = [name for name in GAPS if not missing(name, needed)]
    return f"not verified on platform {platform}: {why}; could be verified on: {', '.join(where)}" if why else ""


def item_needs(item: Any) -> list[str]:
    return [c for mark in item.iter_markers("needs") for c in mark.args]
