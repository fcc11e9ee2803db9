"""The Big Bang umbrella as the values adapter: render it, and take the values it hands each package.

The umbrella renders, per package, a Secret ``<release>-<package>-values`` whose keys ``common``, ``defaults`` and
``overlays`` its Flux HelmRelease lists in ``valuesFrom`` in that order; Flux merges them in order (maps deep,
everything else replaced, later wins). This module builds the umbrella values of a render case (the platform's
switch values, both addons enabled, the doc's snippets, the case's package-level variation under
``addons.<package>.values``), renders the umbrella once per distinct values, and merges the three keys the way Flux
does. The hand-written adapter (:mod:`esoconf.adapter`) stays the fallback when no umbrella is given.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import yamlio
from ..adapter import (
    ADDON_KEY,
    BB_COMMON,
    Note,
    PackageValues,
    Platform,
    PolicyLayout,
    Values,
    addon_values,
    deep_merge,
    leaves,
    nested,
    umbrella_upstream_podlabels,
)
from ..charts import ChartInfo
from ..doc import VaultDoc
from .contracts import RenderCase, rendering_changes
from .helm import RELEASES, Rendered, Renderer, RenderError

UMBRELLA = "umbrella"
VALUE_KEYS = ("common", "defaults", "overlays")  # the order of the HelmRelease's valuesFrom


class UmbrellaError(AssertionError):
    """The umbrella rendered, but not the values Secret the route reads."""


# umbrella values every render adds (Big Bang defaults otherwise). Observed: umbrella 3.18.0 cannot render
# addons.vault without addons.vault.sso ("templates/vault/values.yaml:112: nil pointer evaluating interface
# {}.enabled" at .Values.addons.vault.sso.enabled; 3.18.0's values.yaml has no addons.vault.sso); SSO off is what
# the doc's deployment has.
UMBRELLA_BASE: Values = {"addons": {"vault": {"sso": {"enabled": False}}}}


def secret_name(package: str) -> str:
    return f"{RELEASES[UMBRELLA][0]}-{package}-values"


def umbrella_values(package: str, snippets: Sequence[Mapping[str, Any]], platform: Platform,
                    variation: Mapping[str, Any] | None = None) -> tuple[Values, list[Note]]:
    """The umbrella values of one render case: the platform's switches, both addons on (the doc wires ESO to the
    Vault addon), the doc's snippets (a package-level ``upstream.podLabels`` snippet placed under the addon, as the
    adapter does), then the package-level variation under ``addons.<package>.values``."""
    values: Values = deep_merge(deep_merge(UMBRELLA_BASE, platform.umbrella_values()),
                                {"addons": {key: {"enabled": True} for key in ADDON_KEY.values()}})
    notes: list[Note] = []
    for snippet in snippets:
        wrapped, applied = umbrella_upstream_podlabels(snippet) if package == "external-secrets" else (
            dict(snippet), [])
        notes += applied
        values = deep_merge(values, wrapped)
    if variation:
        values = deep_merge(values, nested(("addons", ADDON_KEY[package], "values"), dict(variation)))
    return values, notes


def _secret_data(secret: Mapping[str, Any], key: str) -> Any:
    """One key of the values Secret, parsed (stringData, else base64 data; absent: {})."""
    if key in (secret.get("stringData") or {}):
        value = secret["stringData"][key]
        return value if isinstance(value, Mapping) else yamlio.load(str(value) or "{}")
    encoded = (secret.get("data") or {}).get(key)
    return yamlio.load(base64.b64decode(encoded).decode()) if encoded else {}


def handed_values(rendered: Rendered, package: str) -> Values:
    """The values the umbrella hands ``package``: its values Secret's keys merged in Flux's valuesFrom order."""
    __tracebackhide__ = True
    name = secret_name(package)
    found = rendered.find("Secret", name)
    if len(found) != 1:
        secrets = sorted(o["metadata"]["name"] for o in rendered.find("Secret"))
        raise UmbrellaError(f"the umbrella {rendered.chart} rendered {len(found)} Secret {name!r} (it renders the "
                            f"values of addons.{ADDON_KEY[package]} there; Secrets: {', '.join(secrets) or 'none'}; "
                            f"values {rendered.values_file})")
    merged: Values = {}
    for key in VALUE_KEYS:
        part = _secret_data(found[0], key) or {}
        if not isinstance(part, Mapping):
            raise UmbrellaError(f"the umbrella's Secret {name} key {key} is not a mapping ({rendered.values_file})")
        merged = deep_merge(merged, part)
    return merged


def _translation_notes(package: str, user: Mapping[str, Any], handed: Mapping[str, Any], label: str) -> list[Note]:
    """What the umbrella did with the doc's legacy Vault key (read from its output, not assumed)."""
    if package != "vault":
        return []
    legacy = (((user.get("istio") or {}).get("hardened")) or {}).get("customAuthorizationPolicies") or []
    istio = handed.get("istio") or {}
    moved = ((istio.get("authorizationPolicies") or {}).get("custom")) or []
    if not legacy:
        return []
    names = [p.get("name") for p in legacy]
    if all(name in [m.get("name") for m in moved] for name in names) and "customAuthorizationPolicies" not in (
            istio.get("hardened") or {}):
        return [Note("legacy_istio_hardened_custom_authorization_policies",
                     f"{label} moved istio.hardened.customAuthorizationPolicies ({len(names)} item(s)) -> "
                     f"istio.authorizationPolicies.custom")]
    return [Note("umbrella_passes_legacy_key", f"{label} hands istio.hardened.customAuthorizationPolicies on as is")]


@dataclass(frozen=True)
class UmbrellaRoute:
    """One umbrella chart handing the packages their values (its renders are the session renderer's, cached)."""

    chart: ChartInfo

    @property
    def label(self) -> str:
        return f"umbrella {self.chart.version}"

    def user_values(self, case: RenderCase, doc: VaultDoc) -> tuple[Values, list[Note]]:
        return umbrella_values(case.package, [doc.yaml(key).data for key in case.sections], case.platform,
                               case.variation(doc) if case.variation else None)

    def case_values(self, case: RenderCase, doc: VaultDoc, renderer: Renderer) -> PackageValues:
        """The values the umbrella hands the case's package (renders the umbrella; raises RenderError)."""
        user, notes = self.user_values(case, doc)
        try:
            rendered = renderer.render(self.chart.path, UMBRELLA, user)
        except RenderError as exc:
            raise UmbrellaError(f"Big Bang defect: {self.label} cannot render the umbrella values of {case} "
                                f"(so no Big Bang deployment with them gets the package installed): {exc}") from None
        handed = handed_values(rendered, case.package)
        notes = notes + _translation_notes(case.package, addon_values(user, case.package), handed, self.label)
        return PackageValues(case.package, handed, notes, source=f"values from {self.label}")

    def unknown_settings(self, platform: Platform) -> list[str]:
        """The switch values this umbrella release has no key for (e.g. ``istio.ambient.enabled`` before ambient
        mode existed): a row setting them is not a setting of this release. Free-form ``...values`` maps count as
        known."""
        return [".".join(path) for path in leaves(platform.umbrella_values())
                if not _known(self.chart.values, path)]


def _known(values: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = values
    for depth, key in enumerate(path):
        if not isinstance(node, Mapping):
            return False
        if key not in node:
            return depth > 0 and path[depth - 1] == "values"
        node = node[key]
    return True


def disagreements(route: UmbrellaRoute, cases: Sequence[RenderCase], doc: VaultDoc, renderer: Renderer,
                  charts: Mapping[str, Path], layout: PolicyLayout = BB_COMMON) -> list[str]:
    """Where the umbrella route and the adapter make a package chart render differently: one line per case
    (objects added, removed, changed from the adapter's render to the umbrella's)."""
    found = []
    for case in cases:
        chart = charts[case.package]
        adapter = renderer.render(chart, case.package, case.values(doc, layout).values)
        umbrella = renderer.render(chart, case.package, route.case_values(case, doc, renderer).values)
        changes = rendering_changes(adapter, umbrella)
        if changes:
            found.append(f"{case}: {', '.join(changes[:6])}")
    return found
