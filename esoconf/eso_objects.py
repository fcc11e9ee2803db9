"""The chart's ESO objects as rendered: ClusterSecretStores and ExternalSecrets, read the same way by both tiers.

The render tier (:mod:`esoconf.render.contracts`) compares them with the values they were rendered from. The live tier
(:mod:`esoconf.live.scenario.arrange`) applies them: it gives the chart under test a case's values, changed only
where a shared platform needs it (names and namespaces for isolation, the Vault URL, a short ``refreshInterval``
where a case waits for a refresh), so the chart itself carries each of those into its objects (a chart that
hard-codes or drops one fails live); the rendered objects are then changed only where no value can say it (a
namespaced SecretStore and its controller class for a second install, a store revalidation interval the chart
never renders). Every change is recorded as ``<where> <field>: <before> → <after>``; a field the chart did not
render is never added back.
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


# ---- changing values and rendered objects to run them, recorded -----------------------------------------


@dataclass
class Rewrites:
    """Every change made to run a case, each ``<where> <field>: <before> → <after>`` (``where``: ``values`` or
    the rendered object's kind)."""

    lines: list[str] = field(default_factory=list)

    def set(self, obj: dict[str, Any], path: str, value: Any, *, add: bool = False, where: str = "") -> bool:
        """Set the dotted ``path`` of ``obj`` (``spec.data[0].remoteRef.key``) to ``value`` and record it. A
        field that is not there is left absent (and the skip recorded) unless ``add``."""
        where = where or str(obj.get("kind"))
        *parents, last = _steps(path)
        holder: Any = obj
        for step in parents:
            child = holder[step] if _has(holder, step) else None
            if child is None:
                if not add:
                    return self._skipped(where, path)
                child = holder[step] = {}
            holder = child
        if not _has(holder, last) and not add:
            return self._skipped(where, path)
        before = holder[last] if _has(holder, last) else ABSENT
        if before == value:
            return False
        holder[last] = value
        self.lines.append(f"{where} {path}: {_show(before)} → {_show(value)}")
        return True

    def _skipped(self, where: str, path: str) -> bool:
        self.lines.append(f"{where} {path}: not there, left absent")
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


STORE_LIST = "clusterSecretStoreConfiguration.clusterSecretStoreList"
SECRET_LIST = "externalSecretsConfiguration.secretList"


@dataclass(frozen=True)
class CaseIsolation:
    """What one test's store and ExternalSecret must be called and point at on a shared platform."""

    store_name: str
    server: str  # Vault as ESO reaches it
    namespace: str  # the test's: the ExternalSecret, its token Secret
    key_prefix: str  # Vault keys move under it (parallel tests never share a path)
    token_secret: str | None = None  # the test's token Secret name (token auth)
    role: str | None = None  # the test's Vault role (kubernetes auth)
    tag: str = ""  # suffix of the target Secret when a test runs several
    es_refresh: str | None = None  # a short ExternalSecret refreshInterval (a case that waits for a refresh)


def case_values(store: Mapping[str, Any], item: Mapping[str, Any], how: CaseIsolation,
                rewrites: Rewrites) -> dict[str, Any]:
    """The chart values (one ``clusterSecretStoreList`` store, one ``secretList`` item) a case renders, from the
    doc's ``store`` and ``item`` changed as ``how`` says (each change recorded). The ExternalSecret's ``name``
    (the store it references) follows the store's only when it named it."""
    values: dict[str, Any] = {
        "clusterSecretStoreConfiguration": {"enabled": True, "clusterSecretStoreList": [copy.deepcopy(dict(store))]},
        "externalSecretsConfiguration": {"enabled": True, "secretList": [copy.deepcopy(dict(item))]},
    }

    def put(path: str, value: Any, add: bool = False) -> None:
        rewrites.set(values, path, value, add=add, where="values")

    src, es = f"{STORE_LIST}[0]", f"{SECRET_LIST}[0]"
    doc_name = store.get("name")
    put(f"{src}.name", how.store_name)
    put(f"{src}.source.server", how.server)
    auth = (store.get("source") or {}).get("auth") or {}
    if how.token_secret and auth.get("type") == "token":
        put(f"{src}.source.auth.secretName", how.token_secret)
        if auth.get("namespace"):  # a referent store stays referent
            put(f"{src}.source.auth.namespace", how.namespace)
    if how.role and auth.get("type") == "kubernetes":
        put(f"{src}.source.auth.role", how.role)
    if item.get("name") == doc_name:
        put(f"{es}.name", how.store_name)
    put(f"{es}.namespace", how.namespace)
    secrets = item.get("secrets") or {}
    for index, entry in enumerate(secrets.get("data") or []):
        if "key" in ((entry or {}).get("remoteRef") or {}):
            put(f"{es}.secrets.data[{index}].remoteRef.key", f"{how.key_prefix}/{entry['remoteRef']['key']}")
    for index, entry in enumerate(secrets.get("dataFrom") or []):
        if "key" in ((entry or {}).get("extract") or {}):
            put(f"{es}.secrets.dataFrom[{index}].extract.key", f"{how.key_prefix}/{entry['extract']['key']}")
    if how.tag:
        put(f"{es}.secrets.targetName", f"{secrets.get('targetName') or 'default-k8s'}-{how.tag}", add=True)
    if how.es_refresh:
        put(f"{es}.refreshInterval", how.es_refresh, add=True)
    return values


@dataclass(frozen=True)
class StoreChange:
    """What no value can make the chart render: a namespaced SecretStore (with its controller class) for a second
    install, a store revalidation interval (the chart renders none)."""

    kind: str = CSS
    namespace: str | None = None
    controller: str | None = None
    refresh_interval: int | None = None


def change_store(store: Mapping[str, Any], how: StoreChange, rewrites: Rewrites) -> dict[str, Any]:
    """A copy of the rendered ``store`` changed as ``how`` says (each change recorded)."""
    out = copy.deepcopy(dict(store))
    if how.namespace:
        rewrites.set(out, "metadata.namespace", how.namespace, add=True)
    if how.controller:
        rewrites.set(out, "spec.controller", how.controller, add=True)
    if how.refresh_interval:
        rewrites.set(out, "spec.refreshInterval", how.refresh_interval, add=True)
    if how.kind != out.get("kind"):  # last: every line above names the kind the chart rendered
        rewrites.set(out, "kind", how.kind)
    return out


def change_external_secret(es: Mapping[str, Any], store: Ref, rewrites: Rewrites) -> dict[str, Any]:
    """A copy of the rendered ``es``, referencing ``store``'s kind when the chart's reference named it by name."""
    out = copy.deepcopy(dict(es))
    ref = (out.get("spec") or {}).get("secretStoreRef") or {}
    if ref.get("name") == store.name and ref.get("kind") == CSS and store.kind != CSS:
        rewrites.set(out, "spec.secretStoreRef.kind", store.kind)
    return out
