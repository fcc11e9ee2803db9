"""Claim verdict logic and how verdicts turn into pytest outcomes (strict xfail for known doc errors)."""

from __future__ import annotations

import textwrap

import pytest

from esoconf.known_defects import KnownDefect
from esoconf.live.verdicts import (
    ClaimRefuted,
    LiveVerdict,
    Status,
    claim_marks,
    combine,
    judge_outcome,
    judge_wording,
    not_applicable,
    recorded,
    settle,
)
from esoconf.redact import REDACT

DOC_503 = (
    "Code: 503. Raw Message:\n\nupstream connect error or disconnect/reset before headers. retried and the "
    "latest reset reason: remote connection failure, transport failure reason: delayed connect error: "
    "Connection refused"
)
RBAC = (
    "invalid vault credentials: Error making API request.\n\nCode: 403. Raw Message:\n\nRBAC: access denied"
)


def test_outcome_verdicts() -> None:
    assert (
        judge_outcome("TRB-3", claimed="store-failure", observed="store-failure", evidence="e").status
        is Status.HOLDS
    )
    refuted = judge_outcome("TRB-3", claimed="store-failure", observed="store-ready", evidence="Ready=True")
    assert refuted.status is Status.REFUTED and "observed: store-ready" in refuted.evidence


def test_wording_verdict_says_what_appeared_instead() -> None:
    assert judge_wording("TRB-1", "doc-503", [RBAC, DOC_503]).status is Status.HOLDS
    verdict = judge_wording("TRB-1", "doc-503", ["store validated", RBAC])
    assert verdict.status is Status.REFUTED and "RBAC: access denied" in verdict.evidence
    assert "no Event" in judge_wording("TRB-1", "doc-503", []).evidence


def test_evidence_is_redacted() -> None:
    REDACT.add("hvs.verysecrettokenvalue1234")
    verdict = judge_wording("TRB-4", "non-printable", ["token hvs.verysecrettokenvalue1234 rejected"])
    assert "verysecret" not in verdict.evidence


def test_combine_prefers_refuted() -> None:
    holds, refuted = LiveVerdict("X-1", Status.HOLDS, "a"), LiveVerdict("X-1", Status.REFUTED, "b")
    assert combine([holds, refuted]) == LiveVerdict("X-1", Status.REFUTED, "b")
    assert combine([holds]).status is Status.HOLDS
    assert combine([not_applicable("X-1", "no Istio")]).status is Status.NOT_APPLICABLE


class Node:
    def __init__(self) -> None:
        self.user_properties: list[tuple[str, object]] = []


def test_settle_records_and_raises_only_when_refuted() -> None:
    node = Node()
    settle(node, LiveVerdict("A-1", Status.HOLDS, "ok"))
    with pytest.raises(ClaimRefuted, match="B-1 refuted: nope"):
        settle(node, LiveVerdict("B-1", Status.REFUTED, "nope"))
    assert [v.claim for v in recorded(node.user_properties)] == ["A-1", "B-1"]


DOC_WRONG = KnownDefect("D-1", "D-1", "ClaimRefuted", {"chart": ["c 1.0"], "doc": "d"}, kind="doc error",
                        reason="doc is wrong", evidence="seen live")


def test_claim_marks_add_strict_xfail_for_catalogued_defects_only() -> None:
    defects = {"D-1": DOC_WRONG}
    assert [m.name for m in claim_marks("H-1", defects=defects)] == ["claim"]
    marks = claim_marks("D-1", defects=defects)
    assert [m.name for m in marks] == ["claim", "xfail"]
    assert marks[1].kwargs == {
        "raises": ClaimRefuted,
        "strict": True,
        "reason": "D-1: known doc error: doc is wrong (seen in: c 1.0; doc d; proved by ClaimRefuted; catalogue "
                  "known-defects.yaml D-1)",
    }


def test_doc_error_outcomes_in_pytest(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        textwrap.dedent("""
        import pytest
        from esoconf.known_defects import KnownDefect
        from esoconf.live.verdicts import ClaimRefuted, claim_marks
        C = {"D-1": KnownDefect("D-1", "D-1", "ClaimRefuted", kind="doc error", reason="doc wrong")}

        @pytest.mark.parametrize("what", ["refuted", "regression", "corrected"])
        @pytest.mark.parametrize("_", [pytest.param(0, marks=claim_marks("D-1", defects=C))])
        def test_claim(_, what):
            if what == "refuted":
                raise ClaimRefuted("D-1 refuted: observed 403")
            assert what != "regression", "store became Ready without the AuthorizationPolicy"
    """)
    )
    result = suite.runpytest("-p", "no:esoconf.gate", "-rxX")
    result.assert_outcomes(xfailed=1, failed=2)
    result.stdout.fnmatch_lines_random(["*test_claim[[]0-regression[]]*", "*XPASS(strict)*D-1*"])


FAILURE_CLASS_CASES = [
    pytest.param(["Code: 503. Errors: upstream connect error or disconnect/reset before headers. reset reason: "
                  "remote connection failure, transport failure reason: delayed connect error: Connection refused"],
                 "connection failure", id="envoy-503-refused"),
    pytest.param(['Put "http://vault.vault:8200/v1/auth/token/lookup-self": dial tcp 10.96.0.9:8200: i/o timeout'],
                 "connection failure", id="dropped-timeout"),
    pytest.param(["Code: 403. Errors: RBAC: access denied"], "HTTP 403", id="istio-rbac-403"),
    pytest.param(["invalid vault credentials: configured Vault token contains non-printable characters and cannot "
                  "be used"], "non-printable token", id="non-printable"),
    pytest.param(["store is being validated"], "", id="no-class"),
]


@pytest.mark.parametrize(("texts", "expected"), FAILURE_CLASS_CASES)
def test_troubleshooting_claims_are_judged_on_the_failure_class(texts: list[str], expected: str) -> None:
    from esoconf.live.verdicts import failure_class, judge_failure_class

    assert failure_class(texts) == expected
    verdict = judge_failure_class("TRB-2", "connection failure", texts)
    assert (verdict.status is Status.HOLDS) == (expected == "connection failure"), verdict


def test_the_wording_check_is_recorded_with_the_platform_and_never_decides() -> None:
    from esoconf.live.verdicts import WORDING, judge_wording, record_wording

    node = Node()
    wording = judge_wording("TRB-2", "doc-503", ["dial tcp 10.96.0.9:8200: i/o timeout"])
    record_wording(node, wording, "kind")  # a refuted wording raises nothing
    ((name, value),) = node.user_properties
    assert name == WORDING and '"platform": "kind"' in value and '"matches": false' in value
    assert recorded(node.user_properties) == []  # not a claim verdict
