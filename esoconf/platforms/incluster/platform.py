"""``Platform``: what the in-cluster platform (on kind, node or an existing cluster) gives the cases once it is up,
and the release verbs over it (install/upgrade/uninstall ESO, the Vault AuthorizationPolicy); built by
:mod:`esoconf.platforms.incluster.setup`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...adapter import deep_merge
from ...config import ConfigError, is_remote_chart
from ...live.capabilities import capabilities_of
from ...live.diagnostics import Diagnostics, PodLogs
from ...live.diagnostics import summary as diagnostics_summary
from ...live.eso import CONTROLLER_SELECTOR, ESO_NAMESPACE, image_overrides
from ...live.kube import RUN_LABEL
from ...live.platform import NetpolNotShown, Phases, PlatformBase
from ...live.vault import SeedResult
from ...render.helm import parse_manifests
from ...stops import EnvironmentNotReady
from .canary import NETPOL_NOT_ENFORCED, NETPOL_UNVERIFIED
from .cluster import ChartRef, Env, HelmComponent, helm_status, without_mesh, write_values
from .eso import EsoComponent
from .istio import ISTIO_NAMESPACE
from .vault import SERVER_POD_SELECTOR, VAULT_NAMESPACE, VAULT_RELEASE, VaultComponent, doc_authorization_policy_objects


class PlatformUnavailable(EnvironmentNotReady):
    """The live platform cannot be set up here; the message is one line with the reason and the fix."""


class CanaryInconclusive(EnvironmentNotReady):
    """The NetworkPolicy canary could not conclude: no network verdict can be given here (environment)."""



# ESO controller (manager + istio-proxy), Vault server (vault + istio-proxy): current + previous
DIAGNOSTIC_LOGS = (
    PodLogs("eso", ESO_NAMESPACE, CONTROLLER_SELECTOR),
    PodLogs("vault", VAULT_NAMESPACE, SERVER_POD_SELECTOR),
)


# --- chart sources (upgrade_eso) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartSources:
    """Where other releases of the ESO package come from (the upgrade test installs an older one)."""

    configured: str | None  # --chart as given (may be local or remote)
    pinned_git: str  # manifests/versions.yaml charts.external_secrets.git
    fetch: Callable[[str, str | None], Path] = field(repr=False)  # remote ref + version -> local chart

    def source(self, chart: str | None, version: str | None) -> tuple[str, str | None]:
        """(chart ref, version) for ``upgrade_eso(chart=, version=)``; one-line ConfigError when ambiguous."""
        if chart is None:
            if not version:
                raise ConfigError("upgrade_eso: give version= (a package release) or chart=")
            remote = self.configured if self.configured and is_remote_chart(self.configured) else None
            return remote or self.pinned_git, version
        if is_remote_chart(chart):
            if not version:
                raise ConfigError(f"upgrade_eso: chart {chart} is remote: also give version=")
            return chart, version
        if version:
            raise ConfigError(
                f"upgrade_eso: chart {chart} is a local chart (one version); drop version= or give a remote chart"
            )
        return chart, None

    def resolve(self, chart: str, version: str | None) -> Path:
        return Path(chart).resolve() if version is None else self.fetch(chart, version)


# --- the platform ------------------------------------------------------------------------------------------


@dataclass
class Platform(PlatformBase):
    netpol_enforced: bool = False
    netpol_detail: str = "canary not run"
    seed: SeedResult | None = None
    phases: Phases = field(default_factory=Phases)
    env: Env | None = field(default=None, repr=False)
    eso_component: EsoComponent | None = field(default=None, repr=False)
    vault_component: VaultComponent | None = field(default=None, repr=False)
    charts: ChartSources | None = field(default=None, repr=False)
    _installed_values: dict[str, Any] = field(default_factory=dict, repr=False)
    _installed_chart: ChartRef | None = field(default=None, repr=False)
    name: str = "kind"  # the cluster provider: kind, existing, node
    probe_image: str = "docker.io/library/busybox:1.37.0"  # the canary's image: sh + nc (traffic probes)
    ran: dict[str, str] = field(default_factory=dict)  # what really ran (the report's environment section)
    alive_check: Callable[[], None] | None = field(default=None, repr=False)  # the node's daemons

    @property
    def capabilities(self) -> frozenset[str]:
        return capabilities_of(self.name)

    def properties(self) -> dict[str, str]:
        return dict(self.ran)

    def check_alive(self) -> None:
        if self.alive_check is not None:
            self.alive_check()

    def _need_env(self) -> Env:
        if self.env is None or self.eso_component is None:
            raise RuntimeError("Platform was built without an install environment")
        return self.env

    def collect_diagnostics(self, test_namespace: str | None, dest: Path) -> str:
        """Failure diagnostics (redacted files under ``dest``); returns a short report section."""
        env = self._need_env()

        def status(release: str, namespace: str) -> str:
            return env.access.run_helm(helm_status(release, namespace), timeout=60).stdout

        releases = [
            ("istiod", ISTIO_NAMESPACE),
            (VAULT_RELEASE, VAULT_NAMESPACE),
            (self.eso_release, self.eso_namespace),
        ]
        Diagnostics(self.kube, status, releases, DIAGNOSTIC_LOGS).collect(test_namespace, dest)
        return diagnostics_summary(dest)

    def require_netpol_enforcement(self) -> None:
        """An environment verdict (never a skip, never the chart's failure) for a test that relies on
        NetworkPolicy when the CNI does not enforce it or the canary could not conclude."""
        __tracebackhide__ = True
        if not self.netpol_enforced:
            raise NetpolNotShown(
                NETPOL_NOT_ENFORCED
                if self.netpol_detail == NETPOL_NOT_ENFORCED
                else f"{NETPOL_UNVERIFIED}: {self.netpol_detail}"
            )

    def eso_values(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._installed_values))

    def eso_pods(self) -> list[dict[str, Any]]:
        return self.kube.list("Pod", self.eso_namespace, {"app.kubernetes.io/name": "external-secrets"})

    def render_eso(self, values: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """``helm template`` of the chart the primary release runs, with a case's values."""
        env = self._need_env()
        assert self.eso_component is not None
        ref = self._installed_chart or self.eso_component.chart_ref
        path = write_values(values, env.artifacts / "values", f"{self.eso_release}-case")
        try:
            out = env.access.run_helm(["template", self.eso_release, *ref.args(), "-n", self.eso_namespace,
                                       "-f", str(path)], timeout=120).stdout
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
        return parse_manifests(out)

    def install_eso(self, release: str, values: dict[str, Any], *, namespace: str | None = None) -> None:
        env = self._need_env()
        assert self.eso_component is not None
        extra = EsoComponent(
            chart_ref=self.eso_component.chart_ref,
            release=release,
            namespace=namespace or self.eso_namespace,
            pod_selectors=({"app.kubernetes.io/instance": release},),
        )
        if self.kube.get("Namespace", extra.namespace) is None:
            env.ensure_namespace(extra.namespace, {"istio-injection": "enabled", RUN_LABEL: self.run_id})
        else:  # e.g. the test's namespace: keep its labels, add only the pull secret
            env.ensure_pull_secret(extra.namespace)
        extra.helm_install(env, release, extra.chart,
                           without_mesh(deep_merge(image_overrides(env.images), values), env))
        extra.ready(env)

    def upgrade_eso(
        self,
        values_override: dict[str, Any] | None = None,
        *,
        chart: str | None = None,
        version: str | None = None,
    ) -> None:
        """Upgrade (or downgrade) the primary ESO release. No ``chart``/``version``: the candidate chart.
        ``version`` alone: that release of the package (the remote ``--chart`` at that version, else the
        pinned git repo at that tag); ``chart`` + ``version``: a remote chart at that version; ``chart``
        alone: a local chart. Remote charts are fetched (cached) to a local path helm can install."""
        env = self._need_env()
        component = self.eso_component
        assert component is not None
        ref = component.chart_ref
        if chart is not None or version is not None:
            if self.charts is None:
                raise RuntimeError("Platform was built without chart sources; cannot switch the ESO chart")
            ref = ChartRef(str(self.charts.resolve(*self.charts.source(chart, version))))
        values = deep_merge(component.values(env), values_override or {})
        component.helm_install(env, component.release, ref, values)
        component.ready(env)
        self._installed_values = values
        self._installed_chart = ref

    def uninstall_eso(self, release: str, *, namespace: str | None = None) -> None:
        env = self._need_env()
        HelmComponent(release=release, namespace=namespace or self.eso_namespace).uninstall(env)

    def set_vault_authorization_policy(self, present: bool) -> None:
        """Remove/restore the doc's ALLOW AP on Vault (serial tests only; helm re-creates it on upgrade)."""
        assert self.vault_component is not None
        for obj in doc_authorization_policy_objects(self.vault_component.custom_authorization_policies):
            if present:
                self.kube.apply(obj)
            else:
                self.kube.delete("AuthorizationPolicy", obj["metadata"]["name"], VAULT_NAMESPACE, wait=True)
