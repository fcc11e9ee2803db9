"""Release gating: upgrade from --from-chart-version to the candidate while every ExternalSecret stays
Ready and every synced Secret keeps its value (sampled during the upgrade)."""

from __future__ import annotations

from typing import Any

import pytest

from esoconf.live.cases import SYNC_CASES, SyncCase
from esoconf.live.scenario import (  # noqa: F401  (doc_shapes, scenario: fixtures)
    Scenario,
    digest,
    doc_shapes,
    judge_samples,
    previous_chart,
    sample_while,
    scenario,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.upgrade,
    pytest.mark.slow,
    pytest.mark.serial,
    pytest.mark.needs("previous-release"),
]


@pytest.mark.parametrize("matrix", [pytest.param(SYNC_CASES, id="sync-matrix")])
def test_upgrade_keeps_secrets_synced(
    matrix: tuple[SyncCase, ...],
    scenario: Scenario,  # noqa: F811
    conformance_config: Any,
) -> None:
    previous = conformance_config.from_chart_version
    if not previous:
        pytest.skip("the upgrade test needs --from-chart-version (the release to upgrade from)")
    chart = previous_chart(conformance_config.chart, conformance_config.versions)
    with scenario.previous_release(chart, previous) as upgrade_to_candidate:
        worlds = [scenario.synced(case.auth, case.fetch, mount=case.mount) for case in matrix]
        expected = {w.target: digest(w.expected) for w in worlds}
        samples = sample_while(
            upgrade_to_candidate,
            lambda: scenario.sample(worlds),
            interval=scenario.interval,
            clock=scenario.clock,
        )
    problems = judge_samples(samples, expected)
    assert not problems, f"{len(problems)} violation(s) in {len(samples)} samples:\n" + "\n".join(
        problems[:20]
    )
    for world in worlds:
        scenario.assert_secret_data(world.target, world.expected)
