"""A second ESO install beside the primary (the isolation Troubleshooting relies on): its own controller class,
scoped to one namespace. Its SecretStore syncs through it, the primary's store and ExternalSecret stay Ready,
and a store naming no class is never picked up by the second controller (each controller reconciles only its
own class)."""

from __future__ import annotations

import pytest

from esoconf.live.scenario import SS, Scenario, doc_shapes, scenario  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.store]


def test_second_install_serves_only_its_controller_class(scenario: Scenario) -> None:  # noqa: F811
    primary = scenario.synced("token", "data")
    with scenario.second_eso() as controller_class:
        world = scenario.arrange("token", store_kind=SS, controller=controller_class)
        scenario.wait_store_ready(world.store)
        scenario.apply_es(world)
        scenario.wait_es_synced(world.es)
        scenario.assert_secret_data(world.target, world.expected)
        scenario.assert_stays_ready(primary.store, primary.es)
