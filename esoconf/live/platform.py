"""The platform contract of the case layer: what a live platform gives a case (:class:`LivePlatform`), and the
phase timings every platform records while it comes up (:class:`Phases`, ``<artifacts>/phases.json``), and
how a platform shared by xdist workers hands its seeding to the ones that attach (:func:`attach_seed`).

The platforms themselves live elsewhere: a cluster of a provider (kind, node, existing) in
:mod:`esoconf.platforms.incluster`, local processes in :mod:`esoconf.platforms.local`.
:class:`~esoconf.live.scenario.Scenario` knows only this protocol.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..redact import REDACT
from ..stops import EnvironmentNotReady
from ..wait import Timeouts
from .vault import DEFAULT_PLAN, SeedPlan, SeedResult

if TYPE_CHECKING:  # pragma: no cover
    from .kube import Kube
    from .vault import VaultSeeder


class LivePlatform(Protocol):
    """What the verbs and the cases use: the cluster and Vault clients, the run's names and timeouts, the ESO
    under test, and the release verbs the serial cases change shared state with. Implemented by
    :class:`esoconf.platforms.incluster.platform.Platform` and
    :class:`esoconf.platforms.local.platform.LocalPlatform`."""

    kube: Kube
    vault: VaultSeeder
    vault_url: str  # Vault as ESO reaches it (the stores' ``server``)
    run_id: str
    timeouts: Timeouts
    eso_version: str
    eso_namespace: str

    def install_eso(self, release: str, values: dict[str, Any], *, namespace: str | None = None) -> None: ...

    def upgrade_eso(
        self,
        values_override: dict[str, Any] | None = None,
        *,
        chart: str | None = None,
        version: str | None = None,
    ) -> None: ...

    def uninstall_eso(self, release: str, *, namespace: str | None = None) -> None: ...

    def eso_values(self) -> dict[str, Any]: ...

    def render_eso(self, values: dict[str, Any]) -> Sequence[dict[str, Any]]:
        """``helm template`` of the ESO chart the primary release runs, with ``values`` (the case's)."""
        ...

    def set_vault_authorization_policy(self, present: bool) -> None: ...

    def eso_pods(self) -> list[dict[str, Any]]: ...

    def require_netpol_enforcement(self) -> None:
        """Never a pass, never a plain skip: a case that relies on NetworkPolicy where enforcement is not shown
        (no enforcer, or a canary that could not conclude) raises :class:`NetpolNotShown`, an environment
        verdict (blocked, exit 2) on every platform."""
        ...


class NetpolNotShown(EnvironmentNotReady):
    """NetworkPolicy enforcement is not shown on this platform (the environment's, never the chart's)."""


@dataclass
class PlatformBase:
    """The fields every live platform has (kind and local add their own): the clients, the ESO under test,
    the run's id and timeouts."""

    kube: Kube
    vault: VaultSeeder
    vault_url: str  # Vault as ESO reaches it (the stores' ``server``)
    eso_namespace: str
    eso_release: str
    eso_version: str
    run_id: str
    timeouts: Timeouts


@dataclass
class Phases:
    """Bring-up timings, and what the platform knows differed from a cluster running the chart: ``differences``
    is a plain list of lines any platform fills (overrides, rewrites, objects not applied and why, CRD source,
    Vault product and version, API server version, the controller's route, version and digest); ``skew`` says
    when the controller that ran is not the release the chart deploys. The report merges every file written."""

    durations: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    platform: str = ""
    differences: list[str] = field(default_factory=list)
    skew: str = ""
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = self.clock()
        try:
            yield
        finally:
            with self._lock:
                self.durations[name] = round(self.durations.get(name, 0.0) + self.clock() - start, 3)

    def note(self, name: str, text: str) -> None:
        with self._lock:
            self.notes[name] = text

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"phases": self.durations, "notes": self.notes, "platform": self.platform,
                  "differences": self.differences, "skew": self.skew}
        path.write_text(json.dumps(record, indent=2), encoding="utf-8")


def attach_seed(seeder: VaultSeeder, kube: Kube, plan: SeedPlan = DEFAULT_PLAN) -> SeedResult:
    """This run's seeding as the first worker wrote it: the values read back from Vault, the token from its Secret."""
    values = seeder.read_secret(plan.secret_path, mount=plan.mount)
    secret = kube.get("Secret", plan.token_secret_name, plan.token_secret_namespace) or {}
    encoded = (secret.get("data") or {}).get(plan.token_secret_key, "")
    token = base64.b64decode(encoded).decode() if encoded else ""
    REDACT.add(token)
    return SeedResult(values, token, plan)
