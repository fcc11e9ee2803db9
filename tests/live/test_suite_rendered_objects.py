"""The live tier's objects are the chart's: the doc's values, changed only to run on a shared platform (each change
recorded as ``field: before → after``), rendered by the (fixture) chart; what no value can say is changed on the
rendered object, and what the chart did not render stays absent."""

from __future__ import annotations

import pytest
from fakes import FIXTURE_CHART, render_chart

from esoconf import eso_objects as eso
from esoconf.config import PROJECT_ROOT, load_versions
from esoconf.eso_objects import CSS, SS, CaseIsolation, Rewrites, StoreChange, case_values
from esoconf.live.cases import DocShapes
from esoconf.render.schema import SchemaSet

SHAPES = DocShapes.load(PROJECT_ROOT / "tests" / "fixtures" / "docs" / "VAULT_INTEGRATION.md")
URL = "http://127.0.0.1:8200"
HOW = CaseIsolation(store_name="vault-secrets-t1", server=URL, namespace="ns1", key_prefix="ns1",
                    token_secret="vault-token", role="eso-role-t1")


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.for_chart(FIXTURE_CHART, load_versions()["kubernetes"]["version"])


def rendered(auth: str, fetch: str = "data", source: dict | None = None, how: CaseIsolation = HOW,
             rewrites: Rewrites | None = None) -> tuple[dict, dict]:
    store = {"name": SHAPES.store_names[auth], "source": source or SHAPES.sources[auth]}
    objects = render_chart(FIXTURE_CHART, case_values(store, SHAPES.items[fetch], how, rewrites or Rewrites()))
    (css,) = eso.stores_named(objects, how.store_name)
    (es,) = eso.external_secrets_writing(objects, f"my-app-secret{'-' + how.tag if how.tag else ''}", "ns1")
    return css, es


@pytest.mark.parametrize("auth", ["token", "kubernetes"])
def test_the_chart_renders_the_isolated_values(schemas: SchemaSet, auth: str) -> None:
    rewrites = Rewrites()
    css, _ = rendered(auth, rewrites=rewrites)
    assert schemas.check(css).status == "ok"
    vault = css["spec"]["provider"]["vault"]
    assert vault["server"] == URL and vault["path"] == "kv" and vault["version"] == "v2"
    assert "refreshInterval" not in css["spec"], "the chart renders none"
    src = "values clusterSecretStoreConfiguration.clusterSecretStoreList[0]"
    assert f"{src}.source.server: https://vault.example.com:8200 → {URL}" in rewrites.lines
    assert f"{src}.name: vault-secrets → vault-secrets-t1" in rewrites.lines
    if auth == "token":
        assert vault["auth"]["tokenSecretRef"] == {"name": "vault-token", "key": "token", "namespace": "ns1"}
        assert f"{src}.source.auth.namespace: external-secrets → ns1" in rewrites.lines
    else:
        assert vault["auth"]["kubernetes"] == {"mountPath": "kubernetes", "role": "eso-role-t1", "serviceAccountRef": {
            "name": "external-secrets", "namespace": "external-secrets"}}


@pytest.mark.parametrize("fetch", ["data", "dataFrom"])
def test_the_external_secret_follows_the_store_name_and_the_test_namespace(schemas: SchemaSet, fetch: str) -> None:
    rewrites = Rewrites()
    how = CaseIsolation(**{**HOW.__dict__, "es_refresh": "10s", "tag": "w2"})
    _, es = rendered("token", fetch, how=how, rewrites=rewrites)
    assert schemas.check(es).status == "ok"
    assert es["metadata"] == {"name": "vault-secrets-t1-externalsecrets", "namespace": "ns1"}
    assert es["spec"]["target"] == {"name": "my-app-secret-w2", "creationPolicy": "Owner"}
    assert es["spec"]["secretStoreRef"] == {"name": "vault-secrets-t1", "kind": CSS}
    assert es["spec"]["refreshInterval"] == "10s"
    keys = [d.get("remoteRef", d.get("extract"))["key"] for d in es["spec"].get("data", es["spec"].get("dataFrom"))]
    assert keys and all(k == "ns1/my-app/config" for k in keys)
    assert "values externalSecretsConfiguration.secretList[0].namespace: external-secrets → ns1" in rewrites.lines


def test_a_referent_store_stays_referent() -> None:
    source = {**SHAPES.sources["token"], "auth": {k: v for k, v in SHAPES.sources["token"]["auth"].items()
                                                  if k != "namespace"}}
    css, _ = rendered("token", source=source)
    assert eso.is_referent(css)


def test_what_no_value_can_say_is_changed_on_the_rendered_store(schemas: SchemaSet) -> None:
    css, es = rendered("token")
    rewrites = Rewrites()
    store = eso.change_store(css, StoreChange(kind=SS, namespace="ns1", controller="b", refresh_interval=10), rewrites)
    assert schemas.check(store).status == "ok"
    assert rewrites.lines == ["ClusterSecretStore metadata.namespace: (absent) → ns1",
                              "ClusterSecretStore spec.controller: (absent) → b",
                              "ClusterSecretStore spec.refreshInterval: (absent) → 10",
                              "ClusterSecretStore kind: ClusterSecretStore → SecretStore"]
    assert eso.change_external_secret(es, eso.Ref(SS, "vault-secrets-t1", "ns1"), rewrites)["spec"]["secretStoreRef"][
        "kind"] == SS
    assert css["kind"] == CSS, "the rendered object itself is not changed"


def test_a_field_that_is_not_there_stays_absent() -> None:
    rewrites = Rewrites()
    obj = {"kind": CSS, "spec": {"provider": {"vault": {"auth": {"kubernetes": {"mountPath": "k"}}}}}}
    assert not rewrites.set(obj, "spec.provider.vault.auth.kubernetes.role", "r")
    assert "role" not in obj["spec"]["provider"]["vault"]["auth"]["kubernetes"]
    assert rewrites.lines == ["ClusterSecretStore spec.provider.vault.auth.kubernetes.role: not there, left absent"]


def test_a_secret_item_naming_another_store_keeps_it() -> None:
    item = {**SHAPES.items["data"], "name": "another-store"}
    values = case_values({"name": "vault-secrets", "source": SHAPES.sources["token"]}, item, HOW, Rewrites())
    assert values["externalSecretsConfiguration"]["secretList"][0]["name"] == "another-store"
