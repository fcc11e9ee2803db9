"""Lifecycle of a synced secret: Vault changes propagate within the refresh interval; deleting the
ExternalSecret removes the Secret it owns. (Recovery after a fix, by forced resync, is part of
test_failure_modes.py: missing-vault-key, token-*, k8s-auth-default-policy.)"""

from __future__ import annotations

import pytest

from esoconf.live.scenario import Scenario, doc_shapes, scenario  # noqa: F401  (fixtures)
from esoconf.live.verdicts import claim_marks

pytestmark = [pytest.mark.e2e, pytest.mark.sync]


@pytest.mark.parametrize(
    "fetch",
    [
        pytest.param("data", marks=claim_marks("ES-DATA-1")),
        pytest.param("dataFrom", marks=claim_marks("ES-FROM-1")),
    ],
)
def test_vault_change_reaches_secret_within_refresh(fetch: str, scenario: Scenario) -> None:  # noqa: F811
    world = scenario.synced("token", fetch, refresh=True)  # type: ignore[arg-type]
    synced_at = scenario.refreshed_at(world.es)
    expected = scenario.change_vault_value(world)
    # fails when the change does not arrive within two refresh intervals (the wait is the check)
    scenario.assert_secret_data(world.target, expected, timeout=scenario.refresh_budget)
    # and it arrived through ESO's refresh of this ExternalSecret, not some other writer
    assert scenario.refreshed_at(world.es) != synced_at, (
        f"the Secret changed but ExternalSecret {world.es.name} status.refreshTime stayed {synced_at}"
    )


@pytest.mark.parametrize("policy", ["Owner"])
def test_deleting_external_secret_removes_owned_secret(policy: str, scenario: Scenario) -> None:  # noqa: F811
    world = scenario.synced("token", "data")  # the doc's ExternalSecret: creationPolicy Owner
    scenario.assert_owned_by(world.target, world.es)  # fails when ESO did not make it the Secret's owner
    scenario.kube.delete(world.es.kind, world.es.name, world.es.namespace, wait=True)
    scenario.wait_secret_gone(world.target)
