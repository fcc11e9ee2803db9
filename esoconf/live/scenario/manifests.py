"""The objects a case makes itself, because the doc has the user make them (not the chart): the token Secret
(``kubectl create secret``), the doc's Vault AuthorizationPolicy, a second install's values. The chart's own
ClusterSecretStores and ExternalSecrets are never built here: the live tier applies what the chart renders
(:mod:`esoconf.eso_objects`). No cluster, no Vault: every function here is unit-tested on its own."""

from __future__ import annotations

import base64
import copy
import re
import secrets
from collections.abc import Mapping
from typing import Any

from esoconf.adapter import deep_merge
from esoconf.redact import REDACT

HELM_RELEASE_MAX = 53  # helm refuses longer release names


def secret_manifest(
    name: str, namespace: str, data: Mapping[str, str], labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What ``kubectl create secret generic NAME --from-literal=k=v`` creates (values kept byte for byte)."""
    REDACT.add(*data.values())
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "data": encoded,
    }


def allow_policy_manifest(
    doc_policy: Mapping[str, Any], *, name: str, namespace: str, source_namespace: str
) -> dict[str, Any]:
    """The doc's ALLOW AuthorizationPolicy for Vault, admitting ``source_namespace`` instead."""
    spec = copy.deepcopy(dict(doc_policy.get("spec") or {}))
    for rule in spec.get("rules") or []:
        for source in rule.get("from") or []:
            source.setdefault("source", {})["namespaces"] = [source_namespace]
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def second_eso_values(
    base: Mapping[str, Any], *, fullname: str, controller_class: str, namespace: str
) -> dict[str, Any]:
    """Values of an isolated second ESO install *without* the ``vault-ingress`` pod label (eso-upstream §5).

    All under the package's ``upstream:`` key (the ESO subchart's alias): own fullname and controller
    class, no CRDs/webhook/cert-controller (cluster-wide names are fixed), scoped to ``namespace`` with a
    Role (``--namespace`` plus the cluster-store reconcilers off: it never sees the primary's
    ClusterSecretStores), no leader election. The package's own stores, ExternalSecrets, NetworkPolicies
    (egress unrestricted, so only Vault's ingress policy can block it), wait job and helm tests are off.
    ``nameOverride`` stays ``external-secrets``: the package's selectors expect that name, and release
    plus namespace already keep the two installs apart.

    ``podLabels: null`` drops the whole map the package sets. Nulling only the key
    (``podLabels: {vault-ingress: null}``) is not deleted by Helm for a subchart value set in the parent's
    values: helm 4.1 renders ``vault-ingress: null`` into the pod template (checked with ``helm template``
    on the 1.3.1-bb.1 package).
    """
    override = {
        "upstream": {
            "fullnameOverride": fullname,
            "controllerClass": controller_class,
            "installCRDs": False,
            "webhook": {"create": False},
            "certController": {"create": False},
            "scopedNamespace": namespace,
            "scopedRBAC": True,
            "leaderElect": False,
            "podLabels": None,
        },
        "networkPolicies": {"enabled": False},
        "clusterSecretStoreConfiguration": {"enabled": False},
        "externalSecretsConfiguration": {"enabled": False},
        "waitJob": {"enabled": False},
        "bbtests": {"enabled": False},
    }
    return deep_merge(base, override)


def random_value() -> str:
    """A value the suite writes to Vault: random only (no key name, no run id), because the redactor masks
    any 6-character fragment of it and must not mask words or names around it."""
    return secrets.token_urlsafe(16)


_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS.match(name))

