"""The Big Bang Vault package in dev mode (hardened parity) as a helm release on the cluster, and the doc's
AuthorizationPolicy for it (seeding is shared: :mod:`esoconf.live.vault`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...adapter import HARDENED, deep_merge, package_values
from ...doc import VaultDoc
from ...live.images import ImageSet, split_image
from ...live.manifest_files import load_manifest
from .cluster import ChartRef, Env, HelmComponent, without_mesh

VAULT_NAMESPACE = "vault"
VAULT_RELEASE = "vault-vault"
VAULT_SERVICE = "vault-vault"
VAULT_PORT = 8200
VAULT_URL_IN_CLUSTER = f"http://{VAULT_SERVICE}.{VAULT_NAMESPACE}.svc.cluster.local:{VAULT_PORT}"
SERVER_POD_SELECTOR = {"app.kubernetes.io/name": "vault", "component": "server"}


def doc_vault_authorization_policies(doc: VaultDoc) -> list[dict[str, Any]]:
    """The doc's Vault AP, translated by the adapter to ``istio.authorizationPolicies.custom``."""
    values = package_values("vault", [doc.yaml("network").data], HARDENED).values
    return list(((values.get("istio") or {}).get("authorizationPolicies") or {}).get("custom") or [])


def vault_values(images: ImageSet, custom_authorization_policies: list[dict[str, Any]]) -> dict[str, Any]:
    """Big Bang Vault package values (manifests/live/vault-values.yaml) + the image and the doc's AP.

    NetworkPolicies and Istio (sidecar, ``authorizationPolicies.enabled`` -> allow-nothing + allow-in-ns)
    are on, as a hardened Big Bang would set them. The doc's AP must arrive already translated to
    ``istio.authorizationPolicies.custom`` (the adapter's job; the literal ``istio.hardened`` key is ignored
    by the package). autoInit and the injector are off: against a dev server the package's autoInit Job (default
    on) fails ``vault operator init`` and then loops on ``vault login`` until its 360 s deadline; the injector is
    not needed.
    """
    repository, tag = split_image(images["vault"])
    overrides: dict[str, Any] = {
        "istio": {"authorizationPolicies": {"custom": list(custom_authorization_policies)}},
        "upstream": {"server": {"image": {"repository": repository, "tag": tag}}},
    }
    if not images.needs_pull_secret:
        overrides["upstream"]["global"] = {"imagePullSecrets": []}
    return deep_merge(load_manifest("vault-values.yaml"), overrides)


@dataclass
class VaultComponent(HelmComponent):
    chart_ref: ChartRef = ChartRef("")
    custom_authorization_policies: list[dict[str, Any]] = field(default_factory=list)
    name: str = "vault"
    release: str = VAULT_RELEASE
    namespace: str = VAULT_NAMESPACE
    pod_selectors: tuple[dict[str, str], ...] = (SERVER_POD_SELECTOR,)

    @property
    def chart(self) -> ChartRef:
        return self.chart_ref

    def values(self, env: Env) -> dict[str, Any]:
        return without_mesh(vault_values(env.images, self.custom_authorization_policies), env)

    def install(self, env: Env) -> None:
        # namespace must be `vault`: the ESO chart's egress policy selects kubernetes.io/metadata.name: vault
        env.ensure_namespace(
            self.namespace, {"istio-injection": "enabled", "app.kubernetes.io/name": "vault"}
        )
        super().install(env)

    def authorization_policy_names(self) -> list[str]:
        return [str(ap["name"]) for ap in self.custom_authorization_policies]


def doc_authorization_policy_objects(custom: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The AuthorizationPolicy objects the package renders from ``istio.authorizationPolicies.custom``
    (used to restore them after a serial test removed them)."""
    objects = []
    for item in custom:
        meta: dict[str, Any] = {"name": item["name"], "namespace": VAULT_NAMESPACE}
        for key in ("labels", "annotations"):
            if item.get(key):
                meta[key] = item[key]
        objects.append(
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "AuthorizationPolicy",
                "metadata": meta,
                "spec": item.get("spec") or {},
            }
        )
    return objects
