"""The chart's ESO objects as rendered: ClusterSecretStores and ExternalSecrets, read the same way by both tiers.

The render tier (:mod:`esoconf.contracts`) compares them with the values they were rendered from. The live tier
(:mod:`esoconf.live.scenario.arrange`) applies them: it renders the chart under test with a case's values, picks
the objects here and rewrites only what must change to run them on a shared platform (names and namespaces for
isolation, the Vault URL, a short ``refreshInterval`` where a case waits for a refresh). Every rewrite is
recorded as ``<kind> <field>: <before> → <after>``; a field the chart did not render is never added back.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

API = "external-secrets.io/v1"
CSS = "ClusterSecretStore"
SS = "SecretStore"
ES = "ExternalSecret"
STORE_KINDS = (CSS, SS)
DEFAULT_MOUNT_PATH = "kubernetes"  # the CRD's default of spec.provider.vault.auth.kubernetes.mountPath
ABSENT = "(absent)"


@dataclass(frozen=True)
class Ref:
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace + '/' if self.namespace else ''}{self.name}"


def object_id(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{obj.get('kind', '?')}/{namespace + '/' if namespace else ''}{meta.get('name', '?')}"


# ---- reading rendered objects -------------------------------------------------------------------------


def of_kind(objects: Iterable[Mapping[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [dict(o) for o in objects if o.get("kind") in kinds]


def stores_named(objects: Iterable[Mapping[str, Any]], name: str, kind: str = CSS) -> list[dict[str, Any]]:
    """The rendered stores of ``kind`` called ``name`` (a values item's store)."""
    return [o for o in of_kind(objects, kind) if (o.get("metadata") or {}).get("name") == name]


def external_secrets_writing(
    objects: Iterable[Mapping[str, Any]],
    target: str | None,
    namespace: str | None = None,
    namespace_of: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> list[dict[str, Any]]:
    """Rendered ExternalSecrets (in ``namespace`` when given) that write the Secret ``target``."""
    where = namespace_of or (lambda o: (o.get("metadata") or {}).get("namespace"))
    return [o for o in of_kind(objects, ES)
            if (namespace is None or where(o) == namespace) and target_of(o) == target]


def vault_of(store: Mapping[str, Any]) -> dict[str, Any]:
    return dict((((store.get("spec") or {}).get("provider") or {}).get("vault")) or {})


def auth_of(store: Mapping[str, Any]) -> dict[str, Any]:
    return dict(vault_of(store).get("auth") or {})


def target_of(es: Mapping[str, Any]) -> Any:
    return (((es.get("spec") or {}).get("target")) or {}).get("name")


def is_referent(store: Mapping[str, Any]) -> bool:
    """Token auth whose secret ref has no namespace: ESO resolves it per ExternalSecret namespace and never
    validates the store (eso-upstream.md section 4)."""
    ref = auth_of(store).get("tokenSecretRef")
    return isinstance(ref, Mapping) and not ref.get("namespace")


def expected_data(spec: Mapping[str, Any], vault_data: Mapping[str, str]) -> dict[str, str]:
    """What ESO must write for ``data``/``dataFrom`` (an ExternalSecret spec, or a values item's ``secrets``):
    one key per ``data`` entry, or every Vault key for ``dataFrom.extract``."""
    if spec.get("data"):
        return {d["secretKey"]: vault_data.get(d["remoteRef"].get("property", ""), "") for d in spec["data"]}
    return dict(vault_data)


def describe_store(store: Mapping[str, Any]) -> str:
    vault = vault_of(store)
    auth = vault.get("auth") or {}
    if "tokenSecretRef" in auth:
        ref = auth["tokenSecretRef"]
        how = f"token from Secret {ref.get('namespace') or '<ES namespace: referent>'}/{ref.get('name')}" \
              f"[{ref.get('key')}]"
    elif "kubernetes" in auth:
        k8s = auth["kubernetes"]
        account = k8s.get("serviceAccountRef") or {}
        how = f"kubernetes mountPath={k8s.get('mountPath')} role={k8s.get('role')} " \
              f"sa={account.get('namespace')}/{account.get('name')}"
    else:
        how = f"auth={sorted(auth)}"
    return f"{object_id(store)}: {vault.get('server')} path={vault.get('path')} {vault.get('version')}, {how}"


def describe_external_secret(es: Mapping[str, Any]) -> str:
    spec = es.get("spec") or {}
    ref, target = spec.get("secretStoreRef") or {}, spec.get("target") or {}
    keys = [d.get("secretKey") for d in spec.get("data") or []]
    extracts = [((d.get("extract") or {}).get("key")) for d in spec.get("dataFrom") or []]
    what = f"data keys {keys}" if keys else f"dataFrom extract {extracts}"
    return f"{object_id(es)} -> Secret {target.get('name')} ({target.get('creationPolicy')}) from " \
           f"{ref.get('kind')}/{ref.get('name')}, {what}, refresh {spec.get('refreshInterval')!r}"


# ---- rewriting rendered objects to run them -----------------------------------------------------------


@dataclass
class Rewrites:
    """The rewrites made to rendered objects, each ``<kind> <field>: <before> → <after>``."""

    lines: list[str] = field(default_factory=list)

    def set(self, obj: dict[str, Any], path: str, value: Any, *, add: bool = False) -> bool:
        """Set the dotted ``path`` of ``obj`` (``spec.data[0].remoteRef.key``) to ``value`` and record it. A
        field the chart did not render is left absent (and the skip recorded) unless ``add``."""
        *parents, last = _steps(path)
        holder: Any = obj
        for step in parents:
            child = holder[step] if _has(holder, step) else None
            if child is None:
                if not add:
                    return self._skipped(obj, path)
                child = holder[step] = {}
            holder = child
        if not _has(holder, last) and not add:
            return self._skipped(obj, path)
        before = holder[last] if _has(holder, last) else ABSENT
        if before == value:
            return False
        holder[last] = value
        self.lines.append(f"{obj.get('kind')} {path}: {_show(before)} → {_show(value)}")
        return True

    def _skipped(self, obj: Mapping[str, Any], path: str) -> bool:
        self.lines.append(f"{obj.get('kind')} {path}: not rendered by the chart, left absent")
        return False


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        steps.append(name)
        if rest:
            steps.append(int(rest.rstrip("]")))
    return steps


def _has(holder: Any, step: str | int) -> bool:
    if isinstance(step, int):
        return isinstance(holder, list) and step < len(holder)
    return isinstance(holder, dict) and step in holder


def _show(value: Any) -> str:
    return ABSENT if value is ABSENT else (repr(value) if value in ("", None) else str(value))


@dataclass(frozen=True)
class StoreIsolation:
    """What a store must become to run in one test: its name (and kind), Vault as ESO reaches it, the
    test's token Secret or Vault role, and optionally a controller class and a revalidation interval."""

    name: str
    server: str
    kind: str = CSS
    namespace: str | None = None
    token_secret: tuple[str, str] | None = None  # name, namespace of the test's token Secret
    role: str | None = None
    controller: str | None = None
    refresh_interval: int | None = None


def isolate_store(store: Mapping[str, Any], how: StoreIsolation, rewrites: Rewrites) -> dict[str, Any]:
    """A copy of the rendered ``store`` rewritten as ``how`` says (each change recorded)."""
    out = copy.deepcopy(dict(store))
    rewrites.set(out, "metadata.name", how.name)
    if how.namespace:
        rewrites.set(out, "metadata.namespace", how.namespace, add=True)
    vault = "spec.provider.vault"
    rewrites.set(out, f"{vault}.server", how.server)
    auth = auth_of(out)
    if how.token_secret and "tokenSecretRef" in auth:
        name, namespace = how.token_secret
        rewrites.set(out, f"{vault}.auth.tokenSecretRef.name", name)
        if auth["tokenSecretRef"].get("namespace"):  # a referent store stays referent
            rewrites.set(out, f"{vault}.auth.tokenSecretRef.namespace", namespace)
    if how.role and "kubernetes" in auth:
        rewrites.set(out, f"{vault}.auth.kubernetes.role", how.role)
    if how.controller:
        rewrites.set(out, "spec.controller", how.controller, add=True)
    if how.refresh_interval:
        rewrites.set(out, "spec.refreshInterval", how.refresh_interval, add=True)
    if how.kind != out.get("kind"):  # last: every line above names the kind the chart rendered
        rewrites.set(out, "kind", how.kind)
    return out


@dataclass(frozen=True)
class ExternalSecretIsolation:
    """What an ExternalSecret must become to run in one test."""

    namespace: str
    stores: Mapping[str, Ref]  # rendered store name -> the store the test applied instead
    key_prefix: str  # Vault keys move under it (parallel tests never share a path)
    tag: str = ""  # suffix of the name and the target Secret when a test runs several
    refresh_interval: str | None = None


def isolate_external_secret(
    es: Mapping[str, Any], how: ExternalSecretIsolation, rewrites: Rewrites
) -> dict[str, Any]:
    out = copy.deepcopy(dict(es))
    meta = out.get("metadata") or {}
    rewrites.set(out, "metadata.namespace", how.namespace, add=True)
    if how.tag:
        rewrites.set(out, "metadata.name", f"{meta.get('name')}-{how.tag}")
    spec = out.get("spec") or {}
    ref = spec.get("secretStoreRef") or {}
    store = how.stores.get(str(ref.get("name")))
    if store is not None:  # a ref to a store the chart did not render stays as rendered
        rewrites.set(out, "spec.secretStoreRef.name", store.name)
        if ref.get("kind") == CSS and store.kind != CSS:
            rewrites.set(out, "spec.secretStoreRef.kind", store.kind)
    for index, item in enumerate(spec.get("data") or []):
        if isinstance((item or {}).get("remoteRef"), Mapping) and "key" in item["remoteRef"]:
            rewrites.set(out, f"spec.data[{index}].remoteRef.key", f"{how.key_prefix}/{item['remoteRef']['key']}")
    for index, item in enumerate(spec.get("dataFrom") or []):
        if isinstance((item or {}).get("extract"), Mapping) and "key" in item["extract"]:
            rewrites.set(out, f"spec.dataFrom[{index}].extract.key", f"{how.key_prefix}/{item['extract']['key']}")
    if how.tag:
        rewrites.set(out, "spec.target.name", f"{target_of(out)}-{how.tag}")
    if how.refresh_interval:
        rewrites.set(out, "spec.refreshInterval", how.refresh_interval, add=True)
    return out
