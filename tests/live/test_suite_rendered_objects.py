"""The live tier's objects are the chart's: the doc's values rendered by the (fixture) chart, rewritten only to
run in one test, each rewrite recorded as ``field: before → after``; what the chart did not render stays absent."""

from __future__ import annotations

import pytest
from fakes import FIXTURE_CHART, render_chart

from esoconf.config import PROJECT_ROOT, load_versions
from esoconf.eso_objects import (
    CSS,
    SS,
    ExternalSecretIsolation,
    Ref,
    Rewrites,
    StoreIsolation,
    external_secrets_writing,
    is_referent,
    isolate_external_secret,
    isolate_store,
    stores_named,
)
from esoconf.live.cases import DocShapes
from esoconf.schema import SchemaSet

SHAPES = DocShapes.load(PROJECT_ROOT / "tests" / "fixtures" / "docs" / "VAULT_INTEGRATION.md")
URL = "http://127.0.0.1:8200"


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.for_chart(FIXTURE_CHART, load_versions()["kubernetes"]["version"])


def rendered(auth: str, fetch: str = "data", source: dict | None = None) -> tuple[dict, dict]:
    store = {"name": SHAPES.store_names[auth], "source": source or SHAPES.sources[auth]}
    objects = render_chart(FIXTURE_CHART, {
        "clusterSecretStoreConfiguration": {"enabled": True, "clusterSecretStoreList": [store]},
        "externalSecretsConfiguration": {"enabled": True, "secretList": [SHAPES.items[fetch]]},
    })
    (css,) = stores_named(objects, "vault-secrets")
    (es,) = external_secrets_writing(objects, "my-app-secret", "external-secrets")
    return css, es


@pytest.mark.parametrize("auth", ["token", "kubernetes"])
@pytest.mark.parametrize("kind", [CSS, SS])
def test_rendered_store_runs_after_recorded_rewrites(schemas: SchemaSet, auth: str, kind: str) -> None:
    css, _ = rendered(auth)
    rewrites = Rewrites()
    scoped = kind == SS
    how = StoreIsolation(name="vault-secrets-t1", server=URL, kind=kind, namespace="ns1" if scoped else None,
                         token_secret=("vault-token", "ns1"), role="eso-role-t1", controller="b" if scoped else None)
    store = isolate_store(css, how, rewrites)
    assert schemas.check(store).status == "ok"
    vault = store["spec"]["provider"]["vault"]
    assert vault["server"] == URL and vault["path"] == "kv" and vault["version"] == "v2"  # the chart's, untouched
    assert "refreshInterval" not in store["spec"], "the chart renders none; only a case waiting for one adds it"
    assert "ClusterSecretStore spec.provider.vault.server: https://vault.example.com:8200 → " + URL in rewrites.lines
    assert "ClusterSecretStore metadata.name: vault-secrets → vault-secrets-t1" in rewrites.lines
    if auth == "token":
        assert vault["auth"]["tokenSecretRef"] == {"name": "vault-token", "key": "token", "namespace": "ns1"}
        assert "ClusterSecretStore spec.provider.vault.auth.tokenSecretRef.namespace: external-secrets → ns1" \
            in rewrites.lines
    else:
        assert vault["auth"]["kubernetes"]["role"] == "eso-role-t1"
        assert vault["auth"]["kubernetes"]["serviceAccountRef"] == {"name": "external-secrets",
                                                                    "namespace": "external-secrets"}
    assert css["metadata"]["name"] == "vault-secrets", "the rendered object itself is not changed"


def test_a_referent_store_stays_referent() -> None:
    source = {**SHAPES.sources["token"], "auth": {k: v for k, v in SHAPES.sources["token"]["auth"].items()
                                                  if k != "namespace"}}
    css, _ = rendered("token", source=source)
    store = isolate_store(css, StoreIsolation(name="s", server=URL, token_secret=("vault-token", "ns1")), Rewrites())
    assert is_referent(store)


def test_a_field_the_chart_did_not_render_stays_absent() -> None:
    css, _ = rendered("kubernetes")
    del css["spec"]["provider"]["vault"]["auth"]["kubernetes"]["role"]
    rewrites = Rewrites()
    store = isolate_store(css, StoreIsolation(name="s", server=URL, role="eso-role-t1"), rewrites)
    assert "role" not in store["spec"]["provider"]["vault"]["auth"]["kubernetes"]
    assert "ClusterSecretStore spec.provider.vault.auth.kubernetes.role: not rendered by the chart, left absent" \
        in rewrites.lines


@pytest.mark.parametrize("fetch", ["data", "dataFrom"])
def test_rendered_external_secret_runs_after_recorded_rewrites(schemas: SchemaSet, fetch: str) -> None:
    _, es = rendered("token", fetch)
    rewrites = Rewrites()
    how = ExternalSecretIsolation(namespace="ns1", stores={"vault-secrets": Ref(CSS, "vault-secrets-t1")},
                                  key_prefix="ns1", refresh_interval="10s")
    obj = isolate_external_secret(es, how, rewrites)
    assert schemas.check(obj).status == "ok"
    assert obj["metadata"] == {"name": "vault-secrets-externalsecrets", "namespace": "ns1"}
    assert obj["spec"]["target"] == {"name": "my-app-secret", "creationPolicy": "Owner"}
    assert obj["spec"]["secretStoreRef"] == {"name": "vault-secrets-t1", "kind": CSS}
    keys = [d.get("remoteRef", d.get("extract"))["key"] for d in obj["spec"].get("data", obj["spec"].get("dataFrom"))]
    assert keys and all(k == "ns1/my-app/config" for k in keys)
    assert "ExternalSecret spec.refreshInterval: 1m → 10s" in rewrites.lines
    assert "ExternalSecret metadata.namespace: external-secrets → ns1" in rewrites.lines


def test_a_store_ref_the_chart_got_wrong_stays_wrong() -> None:
    _, es = rendered("token")
    es["spec"]["secretStoreRef"]["name"] = "another-store"
    how = ExternalSecretIsolation(namespace="ns1", stores={"vault-secrets": Ref(CSS, "vault-secrets-t1")},
                                  key_prefix="ns1")
    assert isolate_external_secret(es, how, Rewrites())["spec"]["secretStoreRef"]["name"] == "another-store"
