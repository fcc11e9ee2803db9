"""Istio for the live tier: upstream ``base`` + ``istiod`` at the version Big Bang pins, native sidecars,
mesh-wide STRICT mTLS and (hardened parity, default) the mesh-wide ``allow-nothing-policy``.

With the mesh-wide allow-nothing every *inbound* request to an injected workload is denied unless an ALLOW
policy admits it. What needs inbound traffic here, and what admits it:
- Vault :8200 from ESO: the doc's ``allow-external-secrets`` (rendered by the Vault package) plus the
  package's ``default-authz-allow-all-in-ns``; that AP is exactly what the suites remove to see the denial.
- ESO controller: nothing (webhook and cert-controller are off; no metrics scraping); the package's
  ``allow-intranamespace`` is there anyway.
- Test namespaces: only ESO objects, no inbound traffic; the canary namespace is outside the mesh.
- Probes: kubelet HTTP probes are rewritten to pilot-agent's :15020 (not an Envoy inbound listener, no AP),
  Vault's readiness probe is an exec of ``vault status`` on 127.0.0.1; istiod has no sidecar.
- The test process reaches Vault by ``kubectl port-forward`` into the pod's loopback: not intercepted.
So the platform adds no ALLOW policy of its own: anything it added would hide what the doc must provide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...adapter import deep_merge
from ...live.images import ImageSet, split_image
from ...live.manifest_files import load_manifest, load_yaml_documents
from .cluster import ChartRef, Env, HelmComponent
from .images import PULL_SECRET

ISTIO_NAMESPACE = "istio-system"
HARDENED_LABEL = "eso-conformance/hardened"
# The ESO package's `allow-istiod-egress` (chart/templates/bigbang/networkpolicies/allow-istiod-egress.yaml in
# DoD-Platform-One/External-Secrets-Operator) selects istiod's namespace by this label, which Big Bang's own
# istio-system namespace lost in the umbrella's "Istio Operator Removal" (2025-06). Without it ESO reaches
# istiod only through `allow-egress-external`
# (ipBlock 0.0.0.0/0), which a CNI that does not match ipBlock against pod IPs (Cilium) never applies.
ISTIO_NAMESPACE_LABELS = {"istio-injection": "disabled", "app.kubernetes.io/name": "istio-controlplane"}


def istiod_values(images: ImageSet) -> dict[str, Any]:
    pilot_repo, tag = split_image(images["istio_pilot"])
    hub = pilot_repo.rpartition("/")[0]
    proxy_hub = split_image(images["istio_proxy"])[0].rpartition("/")[0]
    if proxy_hub != hub:
        raise ValueError(
            f"istio pilot and proxy images must share one hub (got {hub} and {proxy_hub}); "
            f"fix images.istio_* in manifests/versions.yaml"
        )
    overrides: dict[str, Any] = {"global": {"hub": hub, "tag": tag}}
    if images.needs_pull_secret:
        overrides["global"]["imagePullSecrets"] = [PULL_SECRET]
    return deep_merge(load_manifest("istiod-values.yaml"), overrides)


def mesh_policies(*, hardened: bool) -> list[dict[str, Any]]:
    docs = load_yaml_documents("mesh-policies.yaml")
    return [
        d
        for d in docs
        if hardened or (d.get("metadata", {}).get("labels") or {}).get(HARDENED_LABEL) != "true"
    ]


@dataclass
class IstioComponent(HelmComponent):
    """Two helm releases (base, then istiod) plus the mesh policies."""

    version: str = ""
    repo: str = ""
    hardened: bool = True
    name: str = "istio"
    release: str = "istiod"
    namespace: str = ISTIO_NAMESPACE
    pod_selectors: tuple[dict[str, str], ...] = ({"app": "istiod"},)

    @property
    def chart(self) -> ChartRef:
        return ChartRef("istiod", self.version, self.repo)

    def base_chart(self) -> ChartRef:
        return ChartRef("base", self.version, self.repo)

    def values(self, env: Env) -> dict[str, Any]:
        return istiod_values(env.images)

    def fingerprint_parts(self, env: Env) -> tuple[Any, ...]:
        return (self.version, self.repo, self.values(env), mesh_policies(hardened=self.hardened))

    def install(self, env: Env) -> None:
        env.ensure_namespace(self.namespace, ISTIO_NAMESPACE_LABELS)
        self.helm_install(env, "istio-base", self.base_chart(), {"defaultRevision": "default"})
        self.helm_install(env, self.release, self.chart, self.values(env))

    def ready(self, env: Env) -> None:
        super().ready(env)
        # also on a reused platform or an existing cluster's Istio; a label an existing cluster set to
        # another value is left alone (doctor and the README say what the CNI must then do)
        current = ((env.kube.get("Namespace", self.namespace) or {}).get("metadata") or {}).get("labels") or {}
        env.ensure_namespace(
            self.namespace, {k: v for k, v in ISTIO_NAMESPACE_LABELS.items() if current.get(k, v) == v}
        )
        for policy in mesh_policies(hardened=self.hardened):
            env.kube.apply(policy)

    def uninstall(self, env: Env) -> None:
        for policy in mesh_policies(hardened=True):
            env.kube.delete(policy["kind"], policy["metadata"]["name"], self.namespace)
        super().uninstall(env)
        env.access.run_helm(["uninstall", "istio-base", "--namespace", self.namespace, "--ignore-not-found"])
