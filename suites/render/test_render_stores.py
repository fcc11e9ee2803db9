"""Authentication Method: Token / Kubernetes: the ClusterSecretStore the doc's values promise."""

from __future__ import annotations

import pytest
from render_cases import (
    DEFAULT_MOUNT_STORES,
    DOC_TOKEN_STORES,
    KUBERNETES_STORES,
    REFERENT_STORE,
    TOKEN_STORES,
    claimed,
)

from esoconf.eso_objects import DEFAULT_MOUNT_PATH, describe_store, is_referent
from esoconf.known_defects import known_defect
from esoconf.render.contracts import assert_vault_store, store_of

pytestmark = pytest.mark.render


@pytest.mark.parametrize("case", claimed("TOK-1", TOKEN_STORES) + claimed("K8S-1", KUBERNETES_STORES))
def test_store_renders_provider_and_auth_as_given(case, tier, render, evidence):
    item = case.item(tier.values(case.render).values)
    store = assert_vault_store(render(case.render), item)
    evidence(describe_store(store))


@pytest.mark.claim("TOK-2")
@pytest.mark.parametrize("case", (*DOC_TOKEN_STORES, pytest.param(
    REFERENT_STORE, marks=known_defect("TOK-2/referent"))), ids=str)
def test_token_store_names_the_secret_namespace_so_eso_validates_it(case, tier, render, evidence):
    store = store_of(render(case.render), case.item(tier.values(case.render).values))
    assert not is_referent(store), f"{describe_store(store)}: referent store, never validated by ESO"
    evidence(f"{describe_store(store)} (not referent: ESO validates it)")


@pytest.mark.claim("K8S-2")
@pytest.mark.parametrize("case", DEFAULT_MOUNT_STORES, ids=str)
def test_kubernetes_mount_path_defaults_to_kubernetes(case, tier, render, evidence):
    store = store_of(render(case.render), case.item(tier.values(case.render).values))
    mount = store["spec"]["provider"]["vault"]["auth"]["kubernetes"].get("mountPath")
    assert mount == DEFAULT_MOUNT_PATH, f"{describe_store(store)}: mountPath omitted renders {mount!r}, " \
                                        f"not the default {DEFAULT_MOUNT_PATH!r}"
    evidence(describe_store(store))
