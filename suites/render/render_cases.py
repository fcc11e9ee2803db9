"""The render cases: the doc's own values, and property-style variations the doc implies.

Every case starts from the doc's snippets (looked up by section), so a changed doc changes the cases.
Variations edit the doc's own list items (other names, keys, namespaces, mount paths, roles, several
stores and entries, refreshInterval forms).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from esoconf.adapter import AMBIENT, HARDENED
from esoconf.doc import VaultDoc
from esoconf.render.contracts import (
    DELETE,
    NamedItem,
    RenderCase,
    Switch,
    doc_secret,
    doc_store,
    edit,
    secret_at,
    store_named,
    unswitched_flips,
)

ESO, VAULT = "external-secrets", "vault"


def store_list(*items: dict[str, Any]) -> dict[str, Any]:
    return {"clusterSecretStoreConfiguration": {"enabled": True, "clusterSecretStoreList": list(items)}}


def secret_list(*items: dict[str, Any]) -> dict[str, Any]:
    return {"externalSecretsConfiguration": {"enabled": True, "secretList": list(items)}}


# --- the doc, literally ----------------------------------------------------------------------------
DOC_TOKEN_DATA = RenderCase("doc-token+data", ESO, ("token", "data"))
DOC_K8S_DATAFROM = RenderCase("doc-kubernetes+dataFrom", ESO, ("kubernetes", "dataFrom"))
DOC_TROUBLESHOOTING_LABELS = RenderCase("doc-token+troubleshooting-podLabels", ESO, ("token", "troubleshooting"))
DOC_CASES = (DOC_TOKEN_DATA, DOC_K8S_DATAFROM)

# --- variations: one render exercising many independent properties the doc implies ------------------

def _stores(doc: VaultDoc) -> list[dict[str, Any]]:
    token, kubernetes = doc_store(doc, "token"), doc_store(doc, "kubernetes")
    return [
        edit(token, {"name": "vault-team-a", "source": {"auth": {
            "secretName": "team-a-vault-token", "key": "vault.token", "namespace": "team-a"}}}),
        edit(token, {"name": "vault-referent", "source": {"auth": {"namespace": DELETE}}}),
        edit(token, {"name": "vault-kv1", "source": {
            "server": "http://vault-vault.vault.svc.cluster.local:8200", "path": "secret", "version": "v1"}}),
        edit(kubernetes, {"name": "vault-k8s-team-b", "source": {"auth": {
            "mountPath": "k8s-team-b", "role": "team-b-reader",
            "serviceAccountRef": {"name": "team-b-eso", "namespace": "team-b"}}}}),
        edit(kubernetes, {"name": "vault-k8s-default-mount", "source": {"auth": {"mountPath": DELETE}}}),
    ]


def _entries(doc: VaultDoc) -> list[dict[str, Any]]:
    data, data_from = doc_secret(doc, "data"), doc_secret(doc, "dataFrom")
    return [
        edit(data, {"namespace": "team-a", "refreshInterval": "1h", "secrets": {
            "targetName": "payments-db", "targetPolicy": "Merge",
            "data": [{"secretKey": "db-user", "remoteRef": {"key": "payments/db", "property": "user"}},
                     {"secretKey": "db-pass", "remoteRef": {"key": "payments/db", "property": "pass"}}]}}),
        edit(data, {"namespace": "team-b", "refreshInterval": "30s", "secrets": {
            "targetName": "app-b",
            "data": [{"secretKey": f"key-{i}", "remoteRef": {"key": f"app-b/{i}", "property": "value"}}
                     for i in range(3)]}}),
        edit(data_from, {"namespace": "team-c", "refreshInterval": "1h30m", "secrets": {
            "targetName": "app-c", "targetPolicy": "Orphan",
            "dataFrom": [{"extract": {"key": "app-c/config"}}, {"extract": {"key": "app-c/extra"}}]}}),
        edit(data_from, {"namespace": "team-d", "secrets": {"targetName": "app-d", "data": []}}),
        edit(data, {"name": "vault-kv1", "namespace": "team-a", "secrets": {"targetName": "payments-api"}}),
    ]


def _variations(doc: VaultDoc) -> dict[str, Any]:
    return {"networkPolicies": {"enabled": False},
            "upstream": {"podLabels": {"app-team": "payments"}},
            **store_list(*_stores(doc)), **secret_list(*_entries(doc))}


VARIATIONS = RenderCase("variations", ESO, ("token", "troubleshooting"), _variations,
                        about="networkPolicies off, one more pod label, five stores, five secretList entries")


# --- known chart defects the variations expose (one render, one namespace each) --------------------

def _defects(doc: VaultDoc) -> dict[str, Any]:
    data, data_from = doc_secret(doc, "data"), doc_secret(doc, "dataFrom")
    return secret_list(
        edit(data, {"namespace": "both", "secrets": {"dataFrom": data_from["secrets"]["dataFrom"]}}),
        edit(data, {"namespace": "neither", "secrets": {"data": DELETE}}),
        edit(data, {"namespace": "refresh-zero", "refreshInterval": "0"}),
        edit(data, {"namespace": "collision"}),
        edit(data, {"namespace": "collision", "secrets": {"targetName": "my-other-secret"}}),
    )


DEFECTS = RenderCase("known-defects", ESO, ("token",), _defects)
BOTH_DATA_AND_DATAFROM, NEITHER_DATA_NOR_DATAFROM, REFRESH_ZERO = (NamedItem(n, DEFECTS, secret_at(i)) for i, n in
                                                                   enumerate(("both", "neither", "refresh-zero")))
SAME_STORE_SAME_NAMESPACE = (NamedItem("collision-1", DEFECTS, secret_at(3)),
                             NamedItem("collision-2", DEFECTS, secret_at(4)))

# --- the Vault package with the doc's Vault override -----------------------------------------------
VAULT_BIG_BANG = RenderCase("vault-doc-override,bigbang-defaults", VAULT, ("network",))
VAULT_HARDENED = RenderCase("vault-doc-override,bigbang-hardened", VAULT, ("network",), platform=HARDENED)
VAULT_AMBIENT = RenderCase("vault-doc-override,bigbang-ambient", VAULT, ("network",), platform=AMBIENT)
VAULT_SWITCHED = (VAULT_HARDENED, VAULT_BIG_BANG, VAULT_AMBIENT)  # the Vault-side traffic claims' settings
VAULT_LITERAL = RenderCase("vault-doc-override,hardened,passed-literally", VAULT, ("network",), platform=HARDENED,
                           translate=False)

# --- the umbrella switches a Big Bang deployment can have: the doc's claims are unconditional -----------
SWITCHES = (  # one row per setting, as the umbrella values that set it; a new umbrella switch is one row
    Switch("istio-off", {"istiod": {"enabled": False}}),
    Switch("istio-on,hardened-off", {}),
    Switch("istio-on,hardened-on", {"istiod": {"values": {"hardened": {"enabled": True}}}}),
    Switch("istio-off,hardened-on", {"istiod": {"enabled": False, "values": {"hardened": {"enabled": True}}}}),
    Switch("monitoring-off", {"monitoring": {"enabled": False}}),
    Switch("networkPolicies-off", {"networkPolicies": {"enabled": False}}),
    Switch("ambient", {"istio": {"ambient": {"enabled": True}}}),
)
SWITCHED_DOC_CASES = tuple(switch.on(case) for case in DOC_CASES for switch in SWITCHES)
# every other umbrella value the package is handed, set to another value once (it must change nothing)
UMBRELLA_FLIPS = unswitched_flips(DOC_TOKEN_DATA, SWITCHES)

# every well-formed render (schema checks run on all of them)
SCHEMA_CASES = (*SWITCHED_DOC_CASES, DOC_TROUBLESHOOTING_LABELS, VARIATIONS, *VAULT_SWITCHED)
ESO_SCHEMA_CASES = tuple(case for case in SCHEMA_CASES if case.package == ESO)

# --- per-item case tables --------------------------------------------------------------------------
DOC_STORE = "vault-secrets"


def across(item: NamedItem) -> tuple[NamedItem, ...]:
    """A row on every umbrella switch."""
    return tuple(switch.on_item(item) for switch in SWITCHES)


DOC_TOKEN_STORES = across(NamedItem("doc", DOC_TOKEN_DATA, store_named(DOC_STORE)))
TOKEN_STORES = (
    *DOC_TOKEN_STORES,
    NamedItem("other-secret-name-key-namespace", VARIATIONS, store_named("vault-team-a")),
    NamedItem("other-server-path-kv-v1", VARIATIONS, store_named("vault-kv1")),
    NamedItem("no-secret-namespace", VARIATIONS, store_named("vault-referent")),
)
KUBERNETES_STORES = (
    *across(NamedItem("doc", DOC_K8S_DATAFROM, store_named(DOC_STORE))),
    NamedItem("other-mountPath-role-serviceAccount", VARIATIONS, store_named("vault-k8s-team-b")),
)
DEFAULT_MOUNT_STORES = across(NamedItem("mountPath-omitted", VARIATIONS, store_named("vault-k8s-default-mount")))
REFERENT_STORE = NamedItem("no-secret-namespace", VARIATIONS, store_named("vault-referent"))

DATA_SECRETS = (
    *across(NamedItem("doc", DOC_TOKEN_DATA, secret_at(0))),
    NamedItem("other-namespace-target-policy-keys,refresh-1h", VARIATIONS, secret_at(0)),
    NamedItem("three-entries,refresh-30s", VARIATIONS, secret_at(1)),
    NamedItem("second-store-same-namespace", VARIATIONS, secret_at(4)),
)
DATAFROM_SECRETS = (
    *across(NamedItem("doc", DOC_K8S_DATAFROM, secret_at(0))),
    NamedItem("two-extracts,Orphan,refresh-1h30m", VARIATIONS, secret_at(2)),
    NamedItem("empty-data-list-falls-through", VARIATIONS, secret_at(3)),
)


def claimed(claim: str, cases: Iterable[NamedItem]) -> list[Any]:
    """Parameters for one test that checks several claims the same way: each case marked with its claim."""
    return [pytest.param(case, marks=pytest.mark.claim(claim), id=f"{claim}:{case}") for case in cases]
