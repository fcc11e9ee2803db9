"""Fetching Secrets with ExternalSecret: `data` and `dataFrom`, and what the variations expose."""

from __future__ import annotations

import pytest
from render_cases import (
    BOTH_DATA_AND_DATAFROM,
    DATA_SECRETS,
    DATAFROM_SECRETS,
    NEITHER_DATA_NOR_DATAFROM,
    REFRESH_ZERO,
    SAME_STORE_SAME_NAMESPACE,
    claimed,
)

from esoconf.eso_objects import describe_external_secret
from esoconf.known_defects import known_defect
from esoconf.render.contracts import assert_external_secret, assert_unique_names, external_secrets_for
from esoconf.render.schema import assert_valid

pytestmark = pytest.mark.render


@pytest.mark.parametrize("case", claimed("ES-DATA-1", DATA_SECRETS) + claimed("ES-FROM-1", DATAFROM_SECRETS))
def test_external_secret_renders_as_given(case, tier, render, evidence):
    item = case.item(tier.values(case.render).values)
    es = assert_external_secret(render(case.render), item)
    evidence(describe_external_secret(es))


@pytest.mark.claim("ES-VAR-1")
@known_defect("ES-VAR-1")
def test_data_and_datafrom_together_both_render(tier, render):
    case = BOTH_DATA_AND_DATAFROM
    assert_external_secret(render(case.render), case.item(tier.values(case.render).values))


@pytest.mark.claim("ES-VAR-2")
@known_defect("ES-VAR-2")
def test_entry_without_data_or_datafrom_renders_no_invalid_external_secret(tier, render):
    case = NEITHER_DATA_NOR_DATAFROM
    rendered = render(case.render)
    found = external_secrets_for(rendered, case.item(tier.values(case.render).values))
    assert len(found) == 1, f"the entry rendered {len(found)} ExternalSecrets, expected one"
    assert_valid(tier.schemas("external-secrets").check_all(found), rendered.values_file)


@pytest.mark.claim("ES-VAR-3")
@known_defect("ES-VAR-3")
def test_two_entries_with_one_store_in_one_namespace_render_two_external_secrets(tier, render):
    rendered = render(SAME_STORE_SAME_NAMESPACE[0].render)
    items = [case.item(tier.values(case.render).values) for case in SAME_STORE_SAME_NAMESPACE]
    for item in items:
        assert_external_secret(rendered, item)
    assert_unique_names(rendered, "ExternalSecret", namespace=items[0]["namespace"])


@pytest.mark.claim("ES-VAR-4")
@known_defect("ES-VAR-4")
def test_refresh_interval_zero_stays_a_duration_string(tier, render):
    case = REFRESH_ZERO
    assert_external_secret(render(case.render), case.item(tier.values(case.render).values))
