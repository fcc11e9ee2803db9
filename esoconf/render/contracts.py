"""What the doc says gets deployed, as checks on rendered objects (the "how" of suites/render).

A :class:`RenderCase` names the doc snippets to merge (plus an optional property-style variation)
and the umbrella platform; the ``assert_*`` helpers compare rendered objects with what the doc's
values promise, exactly where the doc is exact (selectors, ports, refs), and name the object and
field on failure. The expectations are derived from the values under test, never from the chart.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from ..adapter import (
    BB_COMMON,
    BIG_BANG_DEFAULTS,
    UMBRELLA_ALTERNATIVES,
    PackageValues,
    Platform,
    PolicyLayout,
    deep_merge,
    nested,
    package_values,
    varied_by,
)
from ..doc import VaultDoc
from ..eso_objects import CSS, DEFAULT_MOUNT_PATH, external_secrets_writing, stores_named
from .helm import Rendered, object_id
from .netpol import Pod, selects

# --- constants the doc states in prose ("Network and Istio Requirements") --------------------------
VAULT_NAMESPACE = "vault"
VAULT_PORT = 8200
ESO_NAMESPACE = "external-secrets"
ESO_POD_LABEL = {"app.kubernetes.io/name": "external-secrets"}  # the doc's `kubectl get pods -l ...`
VAULT_INGRESS_LABEL = {"vault-ingress": "true"}
EGRESS_POLICY = "allow-egress-vault"
VAULT_INGRESS_POLICY = "allow-ingress-to-vault-port-8200-from-custom-app-ingress"
VAULT_SERVER_LABEL = {"app.kubernetes.io/name": "vault"}  # pods the Vault package runs its server in
STORE_KIND = CSS


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()


def edit(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` deep-merged in; a ``DELETE`` value removes the key."""
    out = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = edit(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


Variation = Callable[[VaultDoc], Mapping[str, Any]]  # package-level values merged after the doc's


@dataclass(frozen=True)
class RenderCase:
    """One helm render: doc snippets (section keys of esoconf.doc.SECTIONS) merged in order, then a
    variation, through the umbrella adapter for ``platform``."""

    id: str
    package: str
    sections: tuple[str, ...]
    variation: Variation | None = None
    platform: Platform = BIG_BANG_DEFAULTS
    translate: bool = True
    about: str = ""
    switch: str = ""  # the umbrella setting (a Switch id) this case renders with, when it is one of several

    def __str__(self) -> str:
        return self.id

    def values(self, doc: VaultDoc, layout: PolicyLayout = BB_COMMON) -> PackageValues:
        snippets: list[Mapping[str, Any]] = [doc.yaml(key).data for key in self.sections]
        result = package_values(self.package, snippets, self.platform, translate=self.translate, layout=layout)
        if self.variation is not None:
            result.values = deep_merge(result.values, self.variation(doc))
        return result


@dataclass(frozen=True)
class Switch:
    """One setting of the umbrella switches a Big Bang deployment can have (Istio, hardened, ambient, ...), as the
    umbrella values that set it (over Big Bang defaults): the umbrella route renders them, the adapter reads the ones
    it models (:meth:`Platform.from_umbrella`)."""

    id: str
    umbrella: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.id

    @property
    def platform(self) -> Platform:
        return Platform.from_umbrella(self.umbrella)

    def on(self, case: RenderCase) -> RenderCase:
        """``case`` rendered with this setting (its id says which)."""
        return replace(case, id=f"{case.id}@{self.id}", platform=self.platform, switch=self.id)

    def on_item(self, item: NamedItem) -> NamedItem:
        return replace(item, id=f"{item.id}@{self.id}", render=self.on(item.render))


@dataclass(frozen=True)
class UmbrellaFlip:
    """``case`` with one umbrella value set to another value a deployment can give it."""

    path: tuple[str, ...]
    value: Any
    case: RenderCase

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}={self.value}"


def unswitched_flips(case: RenderCase, switches: Sequence[Switch]) -> tuple[UmbrellaFlip, ...]:
    """One flip per umbrella value of ``case.package`` that no switch varies (those the table already covers)."""
    covered = set().union(*(varied_by(case.package, s.platform) for s in switches))
    flips = []
    for path, value in UMBRELLA_ALTERNATIVES[case.package].items():
        if path not in covered:
            changed = _flip_variation(case.variation, path, value)
            flips.append(UmbrellaFlip(path, value, replace(case, id=f"{case.id}+{'.'.join(path)}", variation=changed)))
    return tuple(flips)


def _flip_variation(variation: Variation | None, path: tuple[str, ...], value: Any) -> Variation:
    def flipped(doc: VaultDoc) -> Mapping[str, Any]:
        return deep_merge(variation(doc) if variation else {}, nested(path, value))
    return flipped


def rendering_changes(base: Rendered, other: Rendered) -> list[str]:
    """Objects added, removed or changed from ``base`` to ``other`` (by kind/namespace/name)."""
    before, after = ({object_id(o): o for o in r.objects} for r in (base, other))
    return ([f"+{i}" for i in sorted(set(after) - set(before))] + [f"-{i}" for i in sorted(set(before) - set(after))]
            + [f"~{i}" for i in sorted(set(before) & set(after)) if before[i] != after[i]])


def doc_store(doc: VaultDoc, section: str) -> dict[str, Any]:
    """The (first) clusterSecretStoreList item of a doc section."""
    values = package_values("external-secrets", [doc.yaml(section).data], translate=False).values
    return copy.deepcopy(values["clusterSecretStoreConfiguration"]["clusterSecretStoreList"][0])


def doc_secret(doc: VaultDoc, section: str) -> dict[str, Any]:
    """The (first) secretList item of a doc section."""
    values = package_values("external-secrets", [doc.yaml(section).data], translate=False).values
    return copy.deepcopy(values["externalSecretsConfiguration"]["secretList"][0])


def stores(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((values.get("clusterSecretStoreConfiguration") or {}).get("clusterSecretStoreList")) or [])


def secret_items(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((values.get("externalSecretsConfiguration") or {}).get("secretList")) or [])


# --- exact comparison with a readable diff ---------------------------------------------------------

def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every path where ``actual`` differs from ``expected`` (extra keys included; types strict)."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        found: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                found.append(f"{where}: missing (expected {expected[key]!r})")
            elif key not in expected:
                found.append(f"{where}: unexpected {actual[key]!r}")
            else:
                found += differences(expected[key], actual[key], where)
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for d in differences(e, a, f"{path}[{i}]")]
    if expected == actual and type(expected) is type(actual):
        return []
    return [f"{path or '(value)'}: expected {expected!r}, got {actual!r}"]


def assert_exactly(actual: Any, expected: Any, what: str) -> None:
    __tracebackhide__ = True
    found = differences(expected, actual)
    if found:
        dump = yaml.safe_dump({"expected": expected, "actual": actual}, sort_keys=False)
        raise AssertionError(f"{what} differs from the doc's values: " + "; ".join(found[:6])
                             + "\n" + "\n".join("    " + line for line in dump.splitlines()))


# --- pods the network claims are about ------------------------------------------------------------

def pod_templates(rendered: Rendered, namespace: str, labels: Mapping[str, str]) -> list[tuple[str, dict[str, str]]]:
    """(object id, pod template labels) of workloads in ``namespace`` whose pods carry ``labels``."""
    found = []
    for obj in rendered.objects:
        if obj.get("kind") not in {"Deployment", "StatefulSet", "DaemonSet"}:
            continue
        if rendered.namespace_of(obj) != namespace:
            continue
        pod_labels = ((((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")) or {}
        if all(pod_labels.get(k) == v for k, v in labels.items()):
            found.append((object_id(obj), dict(pod_labels)))
    return found


def eso_pods(rendered: Rendered) -> list[Pod]:
    """ESO pods as the doc finds them: ``-n external-secrets -l app.kubernetes.io/name=external-secrets``."""
    __tracebackhide__ = True
    found = [Pod(rendered.namespace, labels, what) for what, labels in
             pod_templates(rendered, rendered.namespace, ESO_POD_LABEL)]
    if not found:
        raise AssertionError(f"no workload in {rendered.namespace} runs pods labelled {ESO_POD_LABEL} "
                             f"(values {rendered.values_file})")
    return found


def vault_server_pods(rendered: Rendered | None) -> list[Pod]:
    """Vault server pods from the rendered Vault package, else the documented labels."""
    if rendered is None:
        return [Pod(VAULT_NAMESPACE, VAULT_SERVER_LABEL, "vault server pod (documented labels)")]
    found = [Pod(VAULT_NAMESPACE, labels, what) for what, labels in
             pod_templates(rendered, VAULT_NAMESPACE, VAULT_SERVER_LABEL) if what.startswith("StatefulSet/")]
    if not found:
        raise AssertionError(f"the Vault package renders no server StatefulSet labelled {VAULT_SERVER_LABEL}")
    return found


# --- documented shapes -----------------------------------------------------------------------------

def network_policies_enabled(values: Mapping[str, Any]) -> bool:
    """What the package's networkPolicies switch is after the umbrella defaults and the doc's values."""
    return bool((values.get("networkPolicies") or {}).get("enabled"))


def expected_egress_policy(namespace: str) -> dict[str, Any]:
    """allow-egress-vault as "Network and Istio Requirements" describes it."""
    return {
        "metadata": {"name": EGRESS_POLICY, "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": dict(ESO_POD_LABEL)},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": VAULT_NAMESPACE}},
                        "podSelector": {"matchLabels": dict(VAULT_SERVER_LABEL)}}],
                "ports": [{"protocol": "TCP", "port": VAULT_PORT}],
            }],
        },
    }


def expected_vault_ingress_policy() -> dict[str, Any]:
    return {
        "metadata": {"name": VAULT_INGRESS_POLICY, "namespace": VAULT_NAMESPACE},
        "spec": {
            "podSelector": {"matchLabels": dict(VAULT_SERVER_LABEL)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {},
                                   "podSelector": {"matchLabels": dict(VAULT_INGRESS_LABEL)}}],
                         "ports": [{"port": VAULT_PORT, "protocol": "TCP"}]}],
        },
    }


def _shape(obj: Mapping[str, Any], expected: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of ``obj`` that ``expected`` names at the top two levels (the rest is not the doc's)."""
    meta = obj.get("metadata") or {}
    return {"metadata": {k: meta.get(k) for k in expected["metadata"]},
            "spec": {k: (obj.get("spec") or {}).get(k) for k in expected["spec"]}}


def assert_policy_shape(obj: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    __tracebackhide__ = True
    assert_exactly(_shape(obj, expected), dict(expected), object_id(obj))


def expected_vault_provider(item: Mapping[str, Any]) -> dict[str, Any]:
    """spec.provider.vault for one clusterSecretStoreList item (Vault provider)."""
    source = item.get("source") or {}
    auth = source.get("auth") or {}
    provider: dict[str, Any] = {"server": source.get("server"), "path": source.get("path"),
                                "version": source.get("version")}
    if auth.get("type") == "token":
        ref = {"name": auth.get("secretName"), "key": auth.get("key")}
        if auth.get("namespace"):
            ref["namespace"] = auth["namespace"]
        provider["auth"] = {"tokenSecretRef": ref}
    elif auth.get("type") == "kubernetes":
        account = auth.get("serviceAccountRef") or {}
        provider["auth"] = {"kubernetes": {
            "mountPath": auth.get("mountPath") or DEFAULT_MOUNT_PATH, "role": auth.get("role"),
            "serviceAccountRef": {"name": account.get("name"), "namespace": account.get("namespace")}}}
    return provider


def store_of(rendered: Rendered, item: Mapping[str, Any]) -> dict[str, Any]:
    __tracebackhide__ = True
    if len(stores_named(rendered.objects, item["name"])) != 1:
        rendered.one(STORE_KIND, item["name"])  # raises, naming what was rendered
    return stores_named(rendered.objects, item["name"])[0]


def assert_vault_store(rendered: Rendered, item: Mapping[str, Any]) -> dict[str, Any]:
    """The ClusterSecretStore of ``item`` has exactly the provider the values give."""
    __tracebackhide__ = True
    store = store_of(rendered, item)
    provider = ((store.get("spec") or {}).get("provider")) or {}
    assert_exactly(provider, {"vault": expected_vault_provider(item)},
                   f"{object_id(store)} spec.provider")
    return store


def expected_external_secret(item: Mapping[str, Any]) -> dict[str, Any]:
    """metadata.namespace and spec of the ExternalSecret one secretList item promises."""
    secrets = item.get("secrets") or {}
    spec: dict[str, Any] = {"secretStoreRef": {"name": item.get("name"), "kind": STORE_KIND},
                            "target": {"name": secrets.get("targetName"),
                                       "creationPolicy": secrets.get("targetPolicy")}}
    if "refreshInterval" in item:
        spec["refreshInterval"] = item["refreshInterval"]
    if secrets.get("data"):
        spec["data"] = secrets["data"]
    if secrets.get("dataFrom"):
        spec["dataFrom"] = secrets["dataFrom"]
    return {"namespace": item.get("namespace"), "spec": spec}


def external_secrets_for(rendered: Rendered, item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ExternalSecrets in the item's namespace that write the item's target Secret."""
    target = (item.get("secrets") or {}).get("targetName")
    return external_secrets_writing(rendered.objects, target, item.get("namespace"), rendered.namespace_of)


def assert_external_secret(rendered: Rendered, item: Mapping[str, Any]) -> dict[str, Any]:
    __tracebackhide__ = True
    found = external_secrets_for(rendered, item)
    target = (item.get("secrets") or {}).get("targetName")
    if len(found) != 1:
        present = sorted(object_id(o) for o in rendered.find("ExternalSecret"))
        raise AssertionError(f"expected one ExternalSecret in {item.get('namespace')} writing Secret {target!r}, "
                             f"found {len(found)} (rendered: {', '.join(present) or 'none'}; values "
                             f"{rendered.values_file})")
    es = found[0]
    expected = expected_external_secret(item)
    spec = es.get("spec") or {}
    shown = set(expected["spec"]) | {"data", "dataFrom"}
    actual = {"namespace": rendered.namespace_of(es), "spec": {k: v for k, v in spec.items() if k in shown}}
    assert_exactly(actual, expected, object_id(es))
    return es


@dataclass(frozen=True)
class NamedItem:
    """A case that checks one list item (store or secretList entry) of a render case."""

    id: str
    render: RenderCase
    pick: Callable[[Mapping[str, Any]], dict[str, Any]] = field(repr=False)

    def __str__(self) -> str:
        return self.id

    def item(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return self.pick(values)


def store_named(name: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    def pick(values: Mapping[str, Any]) -> dict[str, Any]:
        matches = [s for s in stores(values) if s.get("name") == name]
        assert matches, f"case error: no store {name!r} in the values"
        return matches[0]
    return pick


def secret_at(index: int) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    def pick(values: Mapping[str, Any]) -> dict[str, Any]:
        return secret_items(values)[index]
    return pick


def assert_selects(selector: Mapping[str, Any] | None, pod: Pod, what: str) -> None:
    __tracebackhide__ = True
    assert selects(selector, pod.labels), f"{what} selector {selector} does not select {pod.what} " \
                                          f"(labels {dict(pod.labels)})"


def assert_labels(pod: Pod, wanted: Mapping[str, str]) -> None:
    __tracebackhide__ = True
    missing = {k: v for k, v in wanted.items() if pod.labels.get(k) != v}
    assert not missing, f"{pod.what} pod template lacks labels {missing} (has {dict(pod.labels)})"


def assert_unique_names(rendered: Rendered, kind: str, namespace: str | None = None) -> None:
    __tracebackhide__ = True
    ids = [object_id(o) for o in rendered.find(kind, namespace=namespace)]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"{len(ids)} {kind}s rendered but names collide: {', '.join(duplicates)} (one overwrites " \
                           f"the other on install)"


def doc_authorization_policies(doc: VaultDoc) -> list[dict[str, Any]]:
    """The AuthorizationPolicy items of the doc's Vault override (legacy key, as written)."""
    values = package_values("vault", [doc.yaml("network").data], translate=False).values
    hardened = ((values.get("istio") or {}).get("hardened")) or {}
    return list(hardened.get("customAuthorizationPolicies") or [])


def is_allow_nothing(policy: Mapping[str, Any]) -> bool:
    """A namespace-wide policy that matches no request: ``spec: {}`` (ALLOW with no rules) denies everything."""
    spec = policy.get("spec") or {}
    return not spec.get("selector") and not spec.get("targetRef") and not spec.get("targetRefs") and \
        spec.get("action", "ALLOW") == "ALLOW" and not spec.get("rules")


def denies_everything(rendered: Rendered, namespace: str) -> list[dict[str, Any]]:
    """The namespace-wide allow-nothing AuthorizationPolicies rendered in ``namespace``."""
    return [p for p in rendered.find("AuthorizationPolicy", namespace=namespace) if is_allow_nothing(p)]


def policy_route(layout: PolicyLayout, notes: Sequence[Any], literal: Rendered,
                 wanted: Sequence[Mapping[str, Any]]) -> str:
    """Which values key made the doc's policies render: the package reading the doc's literal key, or the
    umbrella's translation of it (``literal``: the same values installed directly, without translation)."""
    legacy_key = "istio.hardened.customAuthorizationPolicies"
    if all(literal.find("AuthorizationPolicy", w["name"], VAULT_NAMESPACE) for w in wanted):
        return f"through the doc's literal key {legacy_key}, which the package reads itself ({layout.releases})"
    applied = ", ".join(getattr(n, "translation", str(n)) for n in notes) or "none"
    return (f"ONLY through the umbrella's translation of the doc's literal key {legacy_key} to {layout.key} "
            f"({applied}); the package ({layout.releases}) ignores the literal key: installed directly with the "
            f"doc's values it renders no policy")
