"""Pure manifest builders: the doc's shapes (:class:`~esoconf.live.cases.DocShapes`) become the objects the
chart would render, with the per-test changes made explicit (unique names, the in-cluster Vault URL, Vault keys
under the test's namespace). No cluster, no Vault: every function here is unit-tested on its own."""

from __future__ import annotations

import base64
import copy
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from esoconf.adapter import deep_merge
from esoconf.redact import REDACT

from ..cases import prefix_keys

API = "external-secrets.io/v1"
CSS = "ClusterSecretStore"
SS = "SecretStore"
ES = "ExternalSecret"
STORE_REFRESH_SECONDS = 10  # store revalidation in tests (the chart never sets it)
HELM_RELEASE_MAX = 53  # helm refuses longer release names
ES_REFRESH = "10s"  # ExternalSecret refresh in tests (chart default 1m)
ES_REFRESH_SECONDS = 10


@dataclass(frozen=True)
class Ref:
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace + '/' if self.namespace else ''}{self.name}"


def store_manifest(
    source: Mapping[str, Any],
    *,
    name: str,
    server: str,
    kind: str = CSS,
    namespace: str | None = None,
    controller: str | None = None,
    refresh_interval: int | None = STORE_REFRESH_SECONDS,
) -> dict[str, Any]:
    """A store from the doc's ``clusterSecretStoreList[].source`` shape, as the chart renders it.

    ``server`` replaces the doc's example URL (it is not reachable in-cluster; bigbang-charts.md §6.3).
    Token auth carries ``tokenSecretRef.namespace`` only when the source sets ``auth.namespace``: without
    it a ClusterSecretStore is *referent* and ESO never validates it (eso-upstream.md §4).
    """
    auth = dict(source.get("auth") or {})
    vault: dict[str, Any] = {"server": server, "path": source.get("path"), "version": source.get("version")}
    if auth.get("type") == "token":
        ref = {"name": auth.get("secretName"), "key": auth.get("key")}
        if auth.get("namespace") and kind == CSS:
            ref["namespace"] = auth["namespace"]
        vault["auth"] = {"tokenSecretRef": ref}
    elif auth.get("type") == "kubernetes":
        sa = dict(auth.get("serviceAccountRef") or {})
        vault["auth"] = {
            "kubernetes": {
                "mountPath": auth.get("mountPath") or "kubernetes",
                "role": auth.get("role"),
                "serviceAccountRef": sa,
            }
        }
    else:
        raise ValueError(
            f"doc source has auth.type {auth.get('type')!r}; the live tier knows token and kubernetes"
        )
    spec: dict[str, Any] = {"provider": {"vault": vault}}
    if controller:
        spec["controller"] = controller
    if refresh_interval:
        spec["refreshInterval"] = refresh_interval
    metadata: dict[str, Any] = {"name": name}
    if kind == SS:
        metadata["namespace"] = namespace
    return {"apiVersion": API, "kind": kind, "metadata": metadata, "spec": spec}


def external_secret_manifest(
    item: Mapping[str, Any],
    *,
    store: Ref,
    namespace: str,
    key_prefix: str,
    refresh_interval: str = ES_REFRESH,
) -> dict[str, Any]:
    """An ExternalSecret from the doc's ``secretList[]`` item, as the chart renders it.

    Name ``<store>-externalsecrets``; ``data`` wins over ``dataFrom`` (chart behaviour); Vault keys move
    under ``key_prefix/`` so parallel tests never share a path.
    """
    secrets_ = dict(item.get("secrets") or {})
    spec: dict[str, Any] = {
        "refreshInterval": refresh_interval,
        "secretStoreRef": {"name": store.name, "kind": store.kind},
        "target": {
            "name": secrets_.get("targetName") or "default-k8s",
            "creationPolicy": secrets_.get("targetPolicy") or "Owner",
        },
    }
    if secrets_.get("data"):
        spec["data"] = prefix_keys(secrets_["data"], key_prefix)
    else:
        spec["dataFrom"] = prefix_keys(secrets_.get("dataFrom") or [], key_prefix)
    return {
        "apiVersion": API,
        "kind": ES,
        "metadata": {"name": f"{store.name}-externalsecrets", "namespace": namespace},
        "spec": spec,
    }


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


def expected_data(spec: Mapping[str, Any], vault_data: Mapping[str, str]) -> dict[str, str]:
    """What ESO must write: one key per ``data`` entry, or every Vault key for ``dataFrom.extract``."""
    if spec.get("data"):
        return {d["secretKey"]: vault_data.get(d["remoteRef"].get("property", ""), "") for d in spec["data"]}
    return dict(vault_data)


_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS.match(name))

