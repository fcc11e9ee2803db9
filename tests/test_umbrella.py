"""The umbrella route: the values Secret merged in Flux's order, and the fixture umbrella agreeing with the adapter
on the 1.3-era fixture packages (every render case renders the same objects through either route)."""

from __future__ import annotations

import base64
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from mutants import CHARTS, ESO, FIXTURE_DOC, VAULT, helm_binary

from esoconf.adapter import Platform
from esoconf.charts import chart_info
from esoconf.doc import load_doc
from esoconf.render.helm import Rendered, Renderer
from esoconf.render.umbrella import UmbrellaError, UmbrellaRoute, disagreements, handed_values, umbrella_values

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "suites" / "render"))
import render_cases  # noqa: E402

UMBRELLA_FIXTURE = CHARTS[ESO].parent / "umbrella"
CASES = (*render_cases.SWITCHED_DOC_CASES, render_cases.DOC_TROUBLESHOOTING_LABELS, render_cases.VARIATIONS,
         *render_cases.VAULT_SWITCHED)


def secret(data: dict[str, str], encoded: bool = False) -> Rendered:
    body = {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}} if encoded else {
        "stringData": data}
    obj = {"kind": "Secret", "metadata": {"name": "bigbang-external-secrets-values", "namespace": "bigbang"}, **body}
    return Rendered(Path("umbrella"), "bigbang", "bigbang", Path("values.yaml"), (obj,))


@pytest.mark.parametrize("encoded", [False, True], ids=["stringData", "data"])
def test_common_defaults_overlays_merge_in_flux_order(encoded: bool) -> None:
    rendered = secret({"common": "istio: {enabled: true}\nnetworkPolicies: {enabled: true}\n",
                       "defaults": "istio: {enabled: false, hardened: {enabled: false}}\nlist: [1, 2]\n",
                       "overlays": "istio: {hardened: {enabled: true}}\nlist: [3]\n"}, encoded)
    assert handed_values(rendered, "external-secrets") == {
        "istio": {"enabled": False, "hardened": {"enabled": True}}, "networkPolicies": {"enabled": True},
        "list": [3]}


def test_a_missing_values_secret_names_what_was_rendered() -> None:
    with pytest.raises(UmbrellaError, match="rendered 0 Secret 'bigbang-vault-values'"):
        handed_values(secret({"common": "{}"}), "vault")


def test_umbrella_values_carry_switches_snippets_and_the_variation() -> None:
    case = render_cases.VARIATIONS
    doc = load_doc(FIXTURE_DOC)
    values, notes = umbrella_values(case.package, [doc.yaml(k).data for k in case.sections],
                                    render_cases.SWITCHES[0].platform, {"x": 1})
    assert values["istiod"]["enabled"] is False and values["addons"]["vault"]["enabled"] is True
    assert values["addons"]["externalSecrets"]["values"]["x"] == 1
    assert [n.translation for n in notes] == ["umbrella_upstream_podlabels"]


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Renderer:
    return Renderer(helm_binary(), tmp_path_factory.mktemp("umbrella"))


def agreement(umbrella: Path, renderer: Renderer) -> list[str]:
    route = UmbrellaRoute(chart_info(umbrella, "--umbrella-chart"))
    charts = {ESO: CHARTS[ESO], VAULT: CHARTS[VAULT]}
    return disagreements(route, CASES, load_doc(FIXTURE_DOC), renderer, charts)


def test_the_fixture_umbrella_and_the_adapter_agree_on_the_1_3_era_fixtures(renderer: Renderer) -> None:
    assert agreement(UMBRELLA_FIXTURE, renderer) == []


def test_an_umbrella_that_drops_the_legacy_key_translation_disagrees(renderer: Renderer, tmp_path: Path) -> None:
    """The agreement check can fail: an umbrella handing the doc's legacy Vault key on untranslated."""
    import shutil

    umbrella = tmp_path / "umbrella"
    shutil.copytree(UMBRELLA_FIXTURE, umbrella)
    helpers = umbrella / "templates" / "_helpers.tpl"
    text = helpers.read_text()
    helpers.write_text(text.replace('{{- if $legacy -}}', '{{- if false -}}', 1))
    found = agreement(umbrella, renderer)
    assert any(line.startswith("vault-doc-override,bigbang-hardened") and "AuthorizationPolicy/vault/allow-external"
               in line for line in found), found


def test_switch_values_an_umbrella_release_lacks_are_named() -> None:
    older = UmbrellaRoute(chart_info(UMBRELLA_FIXTURE, "--umbrella-chart"))
    older = UmbrellaRoute(replace(older.chart, values={k: v for k, v in older.chart.values.items() if k != "istio"}))
    hardened_ambient = Platform(hardened=True, ambient=True)
    assert older.unknown_settings(hardened_ambient) == ["istio.ambient.enabled"], "istiod.values is free-form"
    assert UmbrellaRoute(chart_info(UMBRELLA_FIXTURE, "--umbrella-chart")).unknown_settings(hardened_ambient) == []
