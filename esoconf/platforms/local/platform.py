"""The `local` platform: bring-up, the platform surface the case layer uses, diagnostics, shutdown.

Start order: etcd -> kube-apiserver -> kube-controller-manager (and, meanwhile, the Vault dev server) ->
CRDs -> the ESO release's identity -> Vault seeding (kubernetes auth against this API server with a
reviewer ServiceAccount bound to ``system:auth-delegator``, as the Vault package does in a cluster) ->
the ESO controller. Every process runs in a private run folder and is stopped by PID at the end.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esoconf.adapter import deep_merge
from esoconf.cleanup import RunFolder
from esoconf.redact import REDACT, write_redacted
from esoconf.render.helm import values_hash
from esoconf.wait import Timeouts

from ...live import capabilities as caps
from ...live.kube import Kube
from ...live.platform import NetpolNotShown, PlatformBase
from ...live.vault import SeedResult, VaultSeeder
from .eso_controller import build_info
from .kubeapi import ControlPlane
from .processes import Supervisor, log_tail
from .release import (
    LocalRelease,
    Tools,
    bring_up_release,
    controller_process_name,
    render_release,
    tear_down_release,
)
from .vault_server import VaultServerInfo

PLATFORM = "local"
CAPABILITY_GAPS = caps.GAPS[PLATFORM]
NO_CNI = CAPABILITY_GAPS[caps.NETWORK_POLICY]
NO_MESH = CAPABILITY_GAPS[caps.MESH]
REVIEWER = ("vault", "vault-token-reviewer")  # namespace, ServiceAccount


class NotOnThisPlatform(RuntimeError):
    """A platform verb that needs a capability the local platform lacks."""


@dataclass
class LocalPlatform(PlatformBase):
    """What the case layer sees of the local platform (the same surface as the kind platform)."""

    supervisor: Supervisor = field(repr=False)
    plane: ControlPlane = field(repr=False)
    tools: Tools = field(repr=False)
    vault_info: VaultServerInfo = field(repr=False)
    primary: LocalRelease = field(repr=False)
    eso_binary: Path = field(repr=False)
    seed: SeedResult | None = None
    phases: Any = None
    evidence: list[str] = field(default_factory=list)  # what differed from a cluster (also in the phases file)
    controller_skew: str = ""  # "observed on controller vX (the chart deploys vY)" when they differ
    name: str = PLATFORM
    capabilities: frozenset[str] = caps.capabilities_of(PLATFORM)
    netpol_enforced: bool = False
    netpol_detail: str = NO_CNI
    env: None = None
    extra: dict[str, LocalRelease] = field(default_factory=dict, repr=False)
    _renders: dict[tuple[str, str], tuple[dict[str, Any], ...]] = field(default_factory=dict, repr=False)
    observed: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def assemble(cls, *, kube: Kube, seeder: VaultSeeder, vault_info: VaultServerInfo, primary: LocalRelease,
                 eso_version: str, run_id: str, timeouts: Timeouts, **parts: Any) -> LocalPlatform:
        """The platform from its parts (bring-up and attach): Vault as ESO reaches it is the dev server's
        address, the ESO under test the primary release."""
        return cls(kube=kube, vault=seeder, vault_url=vault_info.url, eso_namespace=primary.namespace,
                   eso_release=primary.release, eso_version=eso_version, run_id=run_id, timeouts=timeouts,
                   vault_info=vault_info, primary=primary, **parts)

    # ---- capabilities -----------------------------------------------------------------------------
    def require_netpol_enforcement(self) -> None:
        raise NetpolNotShown(f"not verified on platform {self.name}: {NO_CNI}")

    def properties(self) -> dict[str, str]:
        """What really ran, for the JUnit testsuite properties and the report (not the pins): the API server's
        /version, the controller binary's Go build info, Vault's sys/health version (observed once)."""
        if not self.observed:
            try:
                api = self.kube.server_version()
            except Exception as exc:  # noqa: BLE001 - a fact not observed is said, never replaced by the pin
                api = f"not observed ({type(exc).__name__})"
            built = build_info(self.eso_binary) or "no Go build info readable"
            self.observed = {
                "platform": self.name,
                "vault_server": f"{self.vault_info.label} (sys/health; local process)",
                "eso_controller": f"{built} (go version -m {self.eso_binary}; expectations of ESO {self.eso_version})",
                "kube_apiserver": f"{api} (/version of {self.plane.url})",
            }
        return dict(self.observed)

    def check_alive(self) -> None:
        self.supervisor.check_alive()

    # ---- the ESO releases -------------------------------------------------------------------------
    def eso_values(self) -> dict[str, Any]:
        return copy.deepcopy(self.primary.values)

    def eso_pods(self) -> list[dict[str, Any]]:
        return []  # the controller is a process here, not a pod

    def render_eso(self, values: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """The chart the primary release runs, rendered with a case's values (cached per chart and values)."""
        key = (str(self.primary.chart), values_hash(values))
        if key not in self._renders:
            work = self.supervisor.run_dir / "case-renders" / key[1][:16]
            self._renders[key] = render_release(self.tools, self.primary.chart, self.eso_release,
                                                self.eso_namespace, values, work)
        return self._renders[key]

    def _release(self, release: str, namespace: str, values: Mapping[str, Any], chart: Path | None = None,
                 binary: Path | None = None) -> LocalRelease:
        return bring_up_release(
            self.supervisor,
            self.tools,
            binary=binary or self.eso_binary,
            chart=chart or self.primary.chart,
            release=release,
            namespace=namespace,
            values=values,
            server=self.plane.url,
            ca=self.plane.pki.ca_cert,
            timeout=self.timeouts.pod_ready,
        )

    def install_eso(self, release: str, values: dict[str, Any], *, namespace: str | None = None) -> None:
        """A second ESO release (e.g. another controllerClass): its own identity and controller process."""
        namespace = namespace or self.eso_namespace
        self.extra[f"{namespace}/{release}"] = self._release(release, namespace, values)

    def uninstall_eso(self, release: str, *, namespace: str | None = None) -> None:
        local = self.extra.pop(f"{namespace or self.eso_namespace}/{release}", None)
        if local is not None:
            tear_down_release(self.supervisor, self.tools, local)

    def upgrade_eso(self, values_override: dict[str, Any] | None = None, *, chart: str | None = None,
                    version: str | None = None, binary: Path | None = None) -> None:
        """Re-render the primary release and restart its controller (another chart/binary if given)."""
        if version is not None and binary is None:
            raise NotOnThisPlatform(f"upgrade to ESO release {version}: the local platform needs that "
                                    f"release's controller binary (--eso-bin) and chart (--chart)")
        values = deep_merge(self.primary.values, values_override or {})
        self.supervisor.stop(controller_process_name(self.eso_namespace, self.eso_release))
        self.primary = self._release(self.eso_release, self.eso_namespace, values,
                                     Path(chart) if chart else None, binary)

    def set_vault_authorization_policy(self, present: bool) -> None:
        raise NotOnThisPlatform(NO_MESH)

    # ---- diagnostics and shutdown -----------------------------------------------------------------
    def collect_diagnostics(self, test_namespace: str | None, dest: Path) -> str:
        """Process log tails (redacted copies), the test namespace's stores/ExternalSecrets and every Event
        of the namespaces involved (ClusterSecretStore Events land in ``default``)."""
        from ...live.diagnostics import conditions_lines, event_lines, to_yaml

        lines: list[str] = []
        logs = self.supervisor.log_files()
        self.supervisor.keep_logs(dest / "logs")
        for kind, ns in (("ClusterSecretStore", None), ("SecretStore", test_namespace),
                         ("ExternalSecret", test_namespace)):
            if kind != "ClusterSecretStore" and not test_namespace:
                continue
            for obj in self.kube.list(kind, ns):
                write_redacted(dest / "objects" / f"{kind}-{obj['metadata']['name']}.yaml", to_yaml(obj))
                lines += conditions_lines(obj)
        for ns in {"default", self.eso_namespace, *([test_namespace] if test_namespace else [])}:
            events = self.kube.list("Event", ns)
            text = "\n".join(event_lines(events))
            write_redacted(dest / "events" / f"{ns}.txt", text)
            lines += [f"event {ns}: {line}" for line in event_lines(events)[-5:]]
        controller = controller_process_name(self.eso_namespace, self.eso_release)
        if controller in logs:
            lines += [f"controller log: {line}" for line in log_tail(logs[controller], 5).splitlines()]
        return REDACT("\n".join(lines))

    def close(self) -> None:
        """Stop this process's platform processes and remove the run folder; a platform shared with other test
        processes (handed over) is stopped, and its folder removed, by whoever ends the run."""
        if self.supervisor.handed_over:
            self.supervisor.stop_all()
        else:
            self.supervisor.close()


def private_run_dir() -> Path:
    """A fresh folder only this user can read (keys, tokens and the dev server's log live here), marked as this
    run's and watched (:class:`esoconf.cleanup.RunFolder`): removed on every exit path."""
    return RunFolder.create(PLATFORM).path
