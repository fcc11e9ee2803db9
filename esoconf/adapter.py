"""From the doc's Big Bang override values to the values the umbrella hands each package chart.

The doc's snippets are Big Bang umbrella values (``addons.externalSecrets.values``,
``addons.vault.values``). The umbrella does not pass them through verbatim: it merges its own
defaults underneath and, for Vault, rewrites legacy keys (``mergeLegacyIstioHardenedKeys``). This
module is the one explicit model of that step (the umbrella's ``chart/templates/<package>/values.yaml`` and
``_helpers.tpl``, Big Bang 3.18.0; ``--umbrella-chart`` renders the real one instead). Each
translation is a small named function; :func:`package_values` returns the values and a
:class:`Note` for every translation it applied, so a report can say "this documented key only works
through the umbrella's translation".
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ADDON_KEY = {"external-secrets": "externalSecrets", "vault": "vault"}
PACKAGES = tuple(ADDON_KEY)


Leaf = tuple[tuple[str, ...], Any]


@dataclass(frozen=True)
class Platform:
    """The umbrella settings that shape package values (Big Bang defaults unless told otherwise).

    Each field is one umbrella value (``UMBRELLA_KEYS``); :meth:`umbrella_values` gives the umbrella values for the
    umbrella route, :meth:`from_umbrella` reads them back for this adapter. ``extra``: umbrella values this adapter
    does not model (the umbrella route passes them on; the adapter ignores them)."""

    istio: bool = True  # istiod.enabled (BB default)
    hardened: bool = False  # istiod.values.hardened.enabled (BB default false)
    network_policies: bool = True  # networkPolicies.enabled (BB global default true)
    monitoring: bool = True  # monitoring.enabled (BB default true)
    ambient: bool = False  # istio.ambient.enabled (umbrella 3.2x and later; 3.18.0 has no ambient mode)
    extra: tuple[Leaf, ...] = ()

    def umbrella_values(self) -> Values:
        """The umbrella values of this platform (ambient only when on: older umbrellas have no such key)."""
        values: Values = {}
        for name, path in UMBRELLA_KEYS.items():
            if name != "ambient" or self.ambient:
                values = deep_merge(values, nested(path, getattr(self, name)))
        for path, value in self.extra:
            values = deep_merge(values, nested(path, value))
        return values

    @property
    def network_policies_on(self) -> bool:
        """The umbrella turns NetworkPolicies on in ambient mode whatever networkPolicies.enabled says."""
        return self.network_policies or self.ambient

    @classmethod
    def from_umbrella(cls, values: Mapping[str, Any]) -> Platform:
        """The platform of umbrella values (Big Bang defaults for what they leave out)."""
        known = {name: _get(values, *path) for name, path in UMBRELLA_KEYS.items()}
        modelled = set(UMBRELLA_KEYS.values())
        return cls(**{name: bool(value) for name, value in known.items() if value is not None},
                   extra=tuple((path, value) for path, value in leaves(values).items() if path not in modelled))


UMBRELLA_KEYS: dict[str, tuple[str, ...]] = {
    "istio": ("istiod", "enabled"),
    "hardened": ("istiod", "values", "hardened", "enabled"),
    "network_policies": ("networkPolicies", "enabled"),
    "monitoring": ("monitoring", "enabled"),
    "ambient": ("istio", "ambient", "enabled"),
}


BIG_BANG_DEFAULTS = Platform()
HARDENED = Platform(hardened=True)
AMBIENT = Platform(ambient=True)


@dataclass(frozen=True)
class Note:
    translation: str  # name of the function that applied
    detail: str

    def __str__(self) -> str:
        return f"{self.translation}: {self.detail}"


@dataclass
class PackageValues:
    package: str
    values: dict[str, Any]
    notes: list[Note] = field(default_factory=list)
    source: str = "values from the suite's adapter (esoconf/adapter.py, Big Bang 3.18.0's translations)"

    def applied(self, translation: str) -> bool:
        return any(n.translation == translation for n in self.notes)


Values = dict[str, Any]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Values:
    """Helm-style coalesce: maps merge key by key, anything else (lists too) is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _get(values: Mapping[str, Any], *path: str) -> Any:
    node: Any = values
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


# --- snippet-level translations: how a doc snippet becomes umbrella values -------------------------

def umbrella_upstream_podlabels(snippet: Mapping[str, Any]) -> tuple[Values, list[Note]]:
    """The Troubleshooting snippet ``upstream.podLabels`` is package-level: under Big Bang it goes to
    ``addons.externalSecrets.values.upstream.podLabels``."""
    if "addons" in snippet or "upstream" not in snippet:
        return dict(snippet), []
    wrapped = {"addons": {"externalSecrets": {"values": copy.deepcopy(dict(snippet))}}}
    return wrapped, [Note("umbrella_upstream_podlabels",
                          "the snippet `upstream.podLabels` is package-level; under Big Bang it is "
                          "addons.externalSecrets.values.upstream.podLabels")]


def addon_values(snippet: Mapping[str, Any], package: str) -> Values:
    """``addons.<pkg>.values`` of one umbrella snippet ({} when the snippet is about another package)."""
    values = _get(snippet, "addons", ADDON_KEY[package], "values")
    return copy.deepcopy(dict(values)) if isinstance(values, Mapping) else {}


# --- package-level translations (umbrella helper mergeLegacyIstioHardenedKeys, Vault only) ---------

def _move_legacy(values: Values, legacy: str, target: tuple[str, ...], name: str) -> tuple[Values, list[Note]]:
    hardened = _get(values, "istio", "hardened")
    if not isinstance(hardened, Mapping) or legacy not in hardened:
        return values, []
    out = copy.deepcopy(values)
    items = list(out["istio"]["hardened"].pop(legacy) or [])
    node = out.setdefault("istio", {})
    for key in target[1:-1]:
        node = node.setdefault(key, {})
    node[target[-1]] = list(node.get(target[-1]) or []) + items
    return out, [Note(name, f"istio.hardened.{legacy} ({len(items)} item(s)) -> {'.'.join(target)}; the package "
                            f"itself has no istio.hardened key and ignores the literal one")]


def legacy_istio_hardened_custom_authorization_policies(values: Values) -> tuple[Values, list[Note]]:
    """istio.hardened.customAuthorizationPolicies -> istio.authorizationPolicies.custom."""
    return _move_legacy(values, "customAuthorizationPolicies", ("istio", "authorizationPolicies", "custom"),
                        "legacy_istio_hardened_custom_authorization_policies")


def legacy_istio_hardened_custom_service_entries(values: Values) -> tuple[Values, list[Note]]:
    """istio.hardened.customServiceEntries -> istio.serviceEntries.custom."""
    return _move_legacy(values, "customServiceEntries", ("istio", "serviceEntries", "custom"),
                        "legacy_istio_hardened_custom_service_entries")


def drop_legacy_istio_hardened(values: Values) -> tuple[Values, list[Note]]:
    """The umbrella removes what is left of ``istio.hardened`` before handing values to Vault."""
    if not isinstance(_get(values, "istio"), Mapping) or "hardened" not in values["istio"]:
        return values, []
    out = copy.deepcopy(values)
    dropped = out["istio"].pop("hardened")
    return out, [Note("drop_legacy_istio_hardened", f"removed istio.hardened (keys: {', '.join(dropped or {})})")]


Translation = Callable[[Values], tuple[Values, list[Note]]]
PACKAGE_TRANSLATIONS: dict[str, tuple[Translation, ...]] = {
    "external-secrets": (),
    "vault": (legacy_istio_hardened_custom_authorization_policies, legacy_istio_hardened_custom_service_entries,
              drop_legacy_istio_hardened),
}


@dataclass(frozen=True)
class PolicyLayout:
    """Where a Vault package release reads its custom AuthorizationPolicies, and how the umbrella of its time
    hands it the doc's legacy ``istio.hardened.customAuthorizationPolicies``."""

    key: str  # the values key the package's templates read
    releases: str
    translations: tuple[Translation, ...]  # what the umbrella of these releases applies to the user's values

    def __str__(self) -> str:
        return f"{self.key} ({self.releases})"


BB_COMMON = PolicyLayout("istio.authorizationPolicies.custom", "Vault package 0.31.0-bb.9 and later, bb-common",
                         PACKAGE_TRANSLATIONS["vault"])
LEGACY_HARDENED = PolicyLayout("istio.hardened.customAuthorizationPolicies", "Vault package before 0.31.0-bb.9", ())


def vault_policy_layout(chart_values: Mapping[str, Any]) -> PolicyLayout:
    """The layout of a Vault package from its own values.yaml: bb-common's ``istio.authorizationPolicies`` or
    the legacy ``istio.hardened`` block."""
    istio = _get(chart_values, "istio")
    if isinstance(istio, Mapping) and "authorizationPolicies" not in istio and isinstance(istio.get("hardened"),
                                                                                         Mapping):
        return LEGACY_HARDENED
    return BB_COMMON


# --- umbrella defaults (values the umbrella adds under the user's) ---------------------------------

def user_hardened(package: str, user: Mapping[str, Any], platform: Platform) -> bool:
    flags = [platform.hardened, bool(_get(user, "istio", "hardened", "enabled"))]
    if package == "vault":
        flags.append(bool(_get(user, "hardened", "enabled")))
    return any(flags)


ISTIO_VERSION_ANNOTATION = "bigbang.dev/istioVersion"
# the istioVersion annotation Big Bang 3.18.0 (umbrella of ESO 1.3.1-bb.1) hands its packages: observed "1.28.3" in
# its rendered values Secrets (not the istiod package's pin, 1.29.0)
UMBRELLA_ISTIO_VERSION = "1.28.3"


def umbrella_defaults_external_secrets(user: Mapping[str, Any], platform: Platform) -> Values:
    """bigbang.defaults.external-secrets: every value the umbrella hands the ESO package (1.3.1-bb.1 reads only
    networkPolicies.enabled and istio.*; the rest is here so a package that starts reading them is noticed)."""
    values: Values = {
        "image": {"imagePullPolicy": "IfNotPresent"},
        "monitoring": {"enabled": platform.monitoring},
        "networkPolicies": {"enabled": platform.network_policies_on, "controlPlaneCidr": "0.0.0.0/0",
                            "vpcCidr": "0.0.0.0/0"},
        "istio": {"enabled": platform.istio,
                  "hardened": {"enabled": user_hardened("external-secrets", user, platform)}},
        "openshift": False,
    }
    if platform.istio:
        values["annotations"] = {ISTIO_VERSION_ANNOTATION: UMBRELLA_ISTIO_VERSION}
    return values


# another value a Big Bang deployment can give each umbrella value of the ESO package (path -> value)
UMBRELLA_ALTERNATIVES: dict[str, dict[tuple[str, ...], Any]] = {
    "external-secrets": {
        ("image", "imagePullPolicy"): "Always",
        ("monitoring", "enabled"): False,
        ("networkPolicies", "enabled"): False,
        ("networkPolicies", "controlPlaneCidr"): "10.0.0.0/16",
        ("networkPolicies", "vpcCidr"): "10.0.0.0/16",
        ("istio", "enabled"): False,
        ("istio", "hardened", "enabled"): True,
        ("openshift",): True,
        ("annotations", ISTIO_VERSION_ANNOTATION): "1.30.3",
    },
}


def leaves(values: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every non-map value of nested maps by its key path."""
    found: dict[tuple[str, ...], Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            found.update(leaves(value, (*prefix, key)))
        else:
            found[(*prefix, key)] = value
    return found


def nested(path: Sequence[str], value: Any) -> Values:
    """``{"a": {"b": value}}`` for path ("a", "b")."""
    out: Any = value
    for key in reversed(path):
        out = {key: out}
    return dict(out)


def varied_by(package: str, platform: Platform) -> set[tuple[str, ...]]:
    """The umbrella value paths whose value under ``platform`` differs from Big Bang's defaults."""
    base, other = (leaves(UMBRELLA_DEFAULTS[package]({}, p)) for p in (BIG_BANG_DEFAULTS, platform))
    return {path for path in set(base) | set(other) if base.get(path, _MISSING) != other.get(path, _MISSING)}


_MISSING = object()


def umbrella_defaults_vault_legacy(user: Mapping[str, Any], platform: Platform) -> Values:
    """What the umbrella handed a pre-bb-common Vault package: the hardened switch under ``istio.hardened``."""
    return {
        "networkPolicies": {"enabled": platform.network_policies_on},
        "istio": {"enabled": platform.istio, "hardened": {"enabled": user_hardened("vault", user, platform)}},
    }


PROMETHEUS_PEER = "monitoring-monitoring-kube-prometheus@monitoring/prometheus"
ANYWHERE_BUT_METADATA = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}


def umbrella_defaults_vault(user: Mapping[str, Any], platform: Platform) -> Values:
    """The values Big Bang 3.18.0 hands the Vault package that change what it renders (checked against that
    umbrella's rendered values Secret, tests/test_umbrella.py and by hand): the switches, Prometheus to vault:8200
    when monitoring, Tempo (on by default) and the public gateway as egress, the istioVersion annotations. Ambient mode
    (umbrella 3.2x and later) turns the AuthorizationPolicies on and the sidecar off."""
    hardened = user_hardened("vault", user, platform)
    values: Values = {
        "monitoring": {"enabled": platform.monitoring},
        "networkPolicies": {
            "enabled": platform.network_policies_on,
            "ingress": {"to": {"vault:8200": {"from": {"k8s": {PROMETHEUS_PEER: platform.monitoring}}}}},
            "egress": {"from": {"vault": {"to": {"k8s": {"tempo/tempo:9411": True}}},
                                "vault-autoinit": {"to": {"k8s": {"istio-gateway/public-ingressgateway:8443": True}}}},
                       # bb-common migrations: kubeAPI and kms anywhere but the metadata IP (controlPlaneCidr 0.0.0.0/0)
                       "definitions": {"kubeAPI": {"to": [ANYWHERE_BUT_METADATA]},
                                       "kms": {"to": [ANYWHERE_BUT_METADATA], "ports": [{"port": 443,
                                                                                        "protocol": "TCP"}]}}},
        },
        "istio": {"enabled": platform.istio, "sidecar": {"enabled": hardened and not platform.ambient},
                  "authorizationPolicies": {"enabled": hardened or platform.ambient, "generateFromNetpol": True}},
    }
    server: Values = {"extraLabels": {"service.istio.io/canonical-name": "vault-vault"}}
    injector: Values = {"extraLabels": {"service.istio.io/canonical-name": "vault-vault-agent-injector"},
                        "annotations": {"traffic.sidecar.istio.io/excludeInboundPorts": "8080"}}
    if platform.istio:
        for part in (server, injector):
            part["annotations"] = {**part.get("annotations", {}), ISTIO_VERSION_ANNOTATION: UMBRELLA_ISTIO_VERSION}
    values["upstream"] = {"server": server, "injector": injector}
    return values


UMBRELLA_DEFAULTS: dict[str, Callable[[Mapping[str, Any], Platform], Values]] = {
    "external-secrets": umbrella_defaults_external_secrets,
    "vault": umbrella_defaults_vault,
}


def package_values(package: str, snippets: Sequence[Mapping[str, Any]], platform: Platform = BIG_BANG_DEFAULTS,
                   *, translate: bool = True, layout: PolicyLayout = BB_COMMON) -> PackageValues:
    """The values the umbrella hands ``package`` for the doc snippets merged in order.

    ``translate=False`` passes the user values literally (what a direct ``helm install`` of the
    package with the doc's values would see), keeping only the umbrella defaults. ``layout`` (Vault): the
    package release's policy layout, which decides the umbrella's defaults and translations.
    """
    if package not in ADDON_KEY:
        raise ValueError(f"unknown package {package!r} (one of {', '.join(PACKAGES)})")
    notes: list[Note] = []
    user: Values = {}
    for snippet in snippets:
        umbrella, applied = umbrella_upstream_podlabels(snippet) if package == "external-secrets" else (
            dict(snippet), [])
        notes += applied
        user = deep_merge(user, addon_values(umbrella, package))
    legacy = package == "vault" and layout is LEGACY_HARDENED
    defaults = (umbrella_defaults_vault_legacy if legacy else UMBRELLA_DEFAULTS[package])(user, platform)
    if translate:
        for translation in layout.translations if package == "vault" else PACKAGE_TRANSLATIONS[package]:
            user, applied = translation(user)
            notes += applied
    return PackageValues(package, deep_merge(defaults, user), notes)
