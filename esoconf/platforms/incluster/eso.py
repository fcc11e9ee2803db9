"""The ESO chart under test as a helm release on the cluster (its values: :mod:`esoconf.live.eso`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...live.eso import CONTROLLER_SELECTOR, ESO_NAMESPACE, ESO_RELEASE, eso_values
from .cluster import ChartRef, Env, HelmComponent, without_mesh


@dataclass
class EsoComponent(HelmComponent):
    chart_ref: ChartRef = ChartRef("")
    doc_values: dict[str, Any] = field(default_factory=dict)
    name: str = "eso"
    release: str = ESO_RELEASE
    namespace: str = ESO_NAMESPACE
    pod_selectors: tuple[dict[str, str], ...] = (CONTROLLER_SELECTOR,)

    @property
    def chart(self) -> ChartRef:
        return self.chart_ref

    def values(self, env: Env) -> dict[str, Any]:
        values = without_mesh(eso_values(self.doc_values, env.images), env)
        if env.local_images:  # the hook runs as the chart ships it (registry1 keeps it on too)
            values["waitJob"] = {**(values.get("waitJob") or {}), "enabled": True, "image": env.images["kubectl"]}
        return values

    def install(self, env: Env) -> None:
        env.ensure_namespace(
            self.namespace, {"istio-injection": "enabled", "app.kubernetes.io/name": "external-secrets"}
        )
        super().install(env)
