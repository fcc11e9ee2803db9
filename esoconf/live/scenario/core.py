"""What every verb shares: the scenario's platform (only through
:class:`~esoconf.live.platform.LivePlatform`), its namespace and unique names, applying and cleaning up,
forcing a resync, and :class:`World`, what one arranged case consists of."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from esoconf.eso_objects import CSS, Ref
from esoconf.wait import Clock

from ..cases import Auth, DocShapes, Fetch
from ..platform import LivePlatform

if TYPE_CHECKING:  # pragma: no cover
    from ..kube import Kube
    from ..vault import VaultSeeder

# refresh intervals a case that waits for a refresh rewrites the rendered objects to (the chart's: 1m, none)
SHORT_ES_REFRESH = "10s"
SHORT_ES_REFRESH_SECONDS = 10
SHORT_STORE_REFRESH_SECONDS = 10
FORCE_SYNC_ANNOTATION = "force-sync"  # any annotation change re-enqueues; ESO's docs use this name


def _default_policy_hcl(mount: str, path_glob: str) -> str:
    from ..vault import read_policy_hcl

    return read_policy_hcl(mount, path_glob)


@dataclass
class World:
    """What one arranged case consists of (names only; values stay in Vault and the Secret)."""

    auth: Auth
    fetch: Fetch
    store: Ref
    store_manifest: dict[str, Any]
    es: Ref
    es_manifest: dict[str, Any]
    target: str
    vault_key: str  # under the mount (kv)
    vault_data: dict[str, str] = field(repr=False)
    expected: dict[str, str] = field(repr=False)  # what the target Secret must hold
    policy: str = ""
    role: str | None = None
    token_secret: Ref | None = None
    raw_token: str = field(default="", repr=False)
    rewrites: list[str] = field(default_factory=list)  # what changed in the rendered objects to run them


TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)


class RefusedByApiServer(AssertionError):
    """The API server rejected an object (e.g. a field the CRD requires is missing), in its own words."""


def _api_message(exc: BaseException) -> str:
    try:
        return str(json.loads(getattr(exc, "body", "") or "{}").get("message") or exc)
    except (ValueError, AttributeError):
        return str(exc)


class ScenarioCore:
    """The state every verb reads: the platform, the namespace, the doc's shapes, the clock and what to clean up."""

    def __init__(
        self,
        platform: LivePlatform,
        namespace: str,
        shapes: DocShapes,
        *,
        clock: Clock | None = None,
        policy_hcl: Callable[[str, str], str] = _default_policy_hcl,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.platform = platform
        self.kube: Kube = platform.kube
        self.vault: VaultSeeder = platform.vault
        self.namespace = namespace
        self.shapes = shapes
        # a platform may bring its own clock (the unit tests' fake platform does)
        self.clock = clock or getattr(platform, "clock", None) or Clock()
        self.timeouts = platform.timeouts
        self.policy_hcl = policy_hcl
        self.now = now
        self.interval = self.timeouts.poll_interval
        self.cleanups: list[Callable[[], None]] = []
        self.arranged = 0  # worlds arranged so far; the second and later get a name tag
        self.rewrites: list[str] = []  # every change made to the chart's rendered objects to run them here
        self.notes: list[str] = []  # what was applied (evidence)

    # ---- naming -----------------------------------------------------------------------------------
    @property
    def eso_version(self) -> str:
        return self.platform.eso_version

    @property
    def mount(self) -> str:
        return str(self.shapes.sources["token"].get("path") or "kv")

    def unique(self, stem: str, tag: str = "", limit: int = 63) -> str:
        """A cluster-wide unique name: stem (+ tag) + test namespace + run id (DNS-1123, <= ``limit`` chars;
        Helm release names: 53)."""
        name = f"{stem}{'-' + tag if tag else ''}-{self.namespace}-{self.platform.run_id}".lower()
        if len(name) > limit:
            name = f"{name[:limit - 9].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        return name

    # ---- applying ---------------------------------------------------------------------------------
    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        try:
            live = self.kube.apply(obj)
        except Exception as exc:  # the API server's 422 says which field of the chart's object it refused
            if getattr(exc, "status", None) != 422:
                raise
            raise RefusedByApiServer(f"the API server refused {obj['kind']}/{obj['metadata']['name']}: "
                                     f"{_api_message(exc)}") from None
        meta = obj["metadata"]
        if obj["kind"] in {CSS} or meta.get("namespace") not in {None, self.namespace}:
            kind, name, ns = obj["kind"], meta["name"], meta.get("namespace")
            self.cleanups.append(lambda: self.kube.delete(kind, name, ns))
        return live

    def apply_es(self, world: World) -> dict[str, Any]:
        return self.apply(world.es_manifest)

    def cleanup(self) -> None:
        """Delete what is not inside the test namespace (cluster-scoped stores, Vault policy and role)."""
        while self.cleanups:
            with contextlib.suppress(Exception):
                self.cleanups.pop()()

    # ---- a forced resync ---------------------------------------------------------------------------
    def force_sync(self, ref: Ref) -> None:
        """Bump an annotation: ESO reconciles now instead of after its back-off (up to 7 minutes)."""
        self.kube.patch(
            ref.kind,
            ref.name,
            ref.namespace,
            {"metadata": {"annotations": {FORCE_SYNC_ANNOTATION: f"{self.now():.6f}"}}},
        )

    def vault_host(self) -> tuple[str, int]:
        parsed = urlparse(self.platform.vault_url)
        return parsed.hostname or "", parsed.port or 8200

    def vault_namespace(self) -> str:
        host, _ = self.vault_host()
        parts = host.split(".")
        return parts[1] if len(parts) > 2 and parts[2] == "svc" else "vault"

