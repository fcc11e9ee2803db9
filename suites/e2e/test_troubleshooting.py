"""Troubleshooting causes (those that change what every test shares run beside no other live test: `serial`).

Each case makes the change (verified in effect), watches a validated token store settle, removes the
cause in place and sees the same store recover (so the cause, not something else, made the difference),
restores (verified), and judges the doc's claim on what the doc is for: the named cause gives a failure of
the documented class (connection failure, HTTP 403) and removing it clears it. The doc's exact words are a
separate wording check recorded with the platform (they depend on the network path). Known doc errors are
strict expected failures (manifests/known-defects.yaml).
"""

from __future__ import annotations

import pytest

from esoconf.live.cases import TROUBLESHOOTING_CASES, TroubleshootingCase
from esoconf.live.expectations import Stage
from esoconf.live.scenario import CSS, SS, Scenario, doc_shapes, scenario  # noqa: F401  (fixtures)
from esoconf.live.verdicts import (
    claim_marks,
    combine,
    judge_failure_class,
    judge_label_fix,
    judge_outcome,
    judge_wording,
    record_wording,
    settle,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.failure,
]


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=[*claim_marks(c.claim, *filter(None, [c.fix_claim])),
                                        pytest.mark.needs(*c.needs), *([pytest.mark.serial] if c.shared else [])])
     for c in TROUBLESHOOTING_CASES],
)
def test_failure(case: TroubleshootingCase, scenario: Scenario, request: pytest.FixtureRequest) -> None:  # noqa: F811
    if case.needs_netpol:
        scenario.platform.require_netpol_enforcement()
    primary, fixed = scenario.synced("token", "data"), []
    with scenario.changed(case.change) as change:
        world = scenario.arrange("token", store_kind=SS if change.controller else CSS, controller=change.controller)
        seen = scenario.store_settles(world.store, Stage.VALIDATE, case.pattern)
        observed = "store-ready" if seen.ready else "store-failure"
        assert observed == f"store-{case.store}", f"expected store-{case.store}, got {observed}: {seen.evidence}"
        untouched = (primary.store, primary.es) if case.primary_untouched else ()
        if not seen.ready:  # one window: the new store never Ready while the primary's stay Ready
            scenario.assert_never_ready(world.store, beside=untouched)
        elif untouched:
            scenario.assert_stays_ready(*untouched)
        texts = scenario.observe_store(world.store).texts
        change.undo()  # the cause removed in place (the doc's fix where it gives one): the same store recovers
        scenario.wait_store_ready(world.store, nudge=True)
        if case.fix_claim:  # what the doc's fix did, judged as its own claim
            fixed.append(judge_label_fix(case.fix_claim, scenario.pod_labels_of(str(change.controller)),
                                         recovered=f"{world.store} Ready again"))
    scenario.wait_recovered(primary)  # restored: recovery by forced resync, not ESO's back-off
    claimed = f"store-{case.claim_says}"
    verdicts = [judge_outcome(case.claim, claimed=claimed, observed=observed, evidence=seen.evidence)]
    if case.doc_class and not seen.ready:  # judged on the failure class; the fix clearing it was seen above
        verdicts.append(judge_failure_class(case.claim, case.doc_class, texts))
    if case.doc_wording:  # the doc's exact words: evidence with the platform, not the claim's verdict
        record_wording(request.node, judge_wording(case.claim, case.doc_wording, texts),
                       getattr(scenario.platform, "name", "kind"))
    for verdict in (*fixed, combine(verdicts)):
        settle(request.node, verdict)
