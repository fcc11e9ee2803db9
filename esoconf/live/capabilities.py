"""What a live platform can show, and what each case needs: one vocabulary for every platform.

A case names what it needs with ``@pytest.mark.needs("network-policy", ...)``. A platform without one of
those capabilities reports the case *not verified on this platform*, with the reason (a skip: never a pass,
and under ``--gate`` an unverified claim fails the gate).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NETWORK_POLICY = "network-policy"  # a CNI that enforces NetworkPolicy (kind: proven by the canary)
MESH = "mesh"  # Istio sidecars and AuthorizationPolicy enforcement
PODS = "pods"  # the ESO controller runs as pods of the chart's Deployment (a kubelet)
VAULT_PACKAGE = "vault-package"  # the Big Bang Vault package is installed (its NetworkPolicies, APs)
PREVIOUS_RELEASE = "previous-release"  # an earlier ESO release can be installed for the upgrade sampler

KNOWN = (NETWORK_POLICY, MESH, PODS, VAULT_PACKAGE, PREVIOUS_RELEASE)
# kind and existing clusters have all of them (NetworkPolicy enforcement is checked by the canary at run time)
CLUSTER = frozenset(KNOWN)


def capabilities_of(platform: Any) -> frozenset[str]:
    return frozenset(getattr(platform, "capabilities", CLUSTER))


def missing(platform: Any, needed: Iterable[str]) -> str:
    """"" when the platform has every capability in ``needed``, else the reason (one line)."""
    unknown = sorted(set(needed) - set(KNOWN))
    if unknown:
        raise ValueError(f"unknown capability {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    explain = getattr(platform, "capability_gaps", {})
    gaps = [explain.get(c, f"no {c}") for c in needed if c not in capabilities_of(platform)]
    return "; ".join(gaps)


def not_verified(platform: Any, needed: Iterable[str]) -> str:
    """The skip reason for a case the platform cannot check ("" when it can)."""
    why = missing(platform, needed)
    return f"not verified on platform {getattr(platform, 'name', 'kind')}: {why}" if why else ""
