"""Live verdicts on the doc's claims: holds, refuted (with the observed evidence), or not applicable.

Claim ids are those of the render tier (``manifests/claims.yaml``) plus the live-only ones
(``manifests/claims-live.yaml``). A claim with an entry in the known-defects catalogue
(``manifests/known-defects.yaml``, keyed by the claim id) is a known error of the doc: its test
raises :class:`ClaimRefuted` when the claim is refuted and is marked ``xfail(raises=ClaimRefuted,
strict=True)``, so a corrected doc or chart shows up as XPASS (a failure) while any *other* assertion
failure (a behaviour regression) still fails the gate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from esoconf.claims import CLAIMS_FILE, Claim, ClaimRefuted, load_claims  # noqa: F401 - ClaimRefuted: the live tier's name for it
from esoconf.config import MANIFESTS
from esoconf.evidence import one_line

from .expectations import pattern

if TYPE_CHECKING:
    from esoconf.known_defects import KnownDefect

LIVE_CLAIMS_FILE = MANIFESTS / "claims-live.yaml"
USER_PROPERTY = "claim-verdict"


class Status(StrEnum):
    HOLDS = "holds"
    REFUTED = "refuted"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class LiveVerdict:
    claim: str
    status: Status
    evidence: str

    def __str__(self) -> str:
        return f"{self.claim} {self.status.value}: {self.evidence}"


def all_claims(render: Path = CLAIMS_FILE, live: Path = LIVE_CLAIMS_FILE) -> dict[str, Claim]:
    """Render-tier and live-only claims; an id defined in both files is a configuration error."""
    shared, only_live = load_claims(render), load_claims(live, ("e2e",))
    clash = sorted(set(shared) & set(only_live))
    if clash:
        raise ValueError(f"claim ids {clash} are defined in both {render.name} and {live.name}; keep one")
    return {**shared, **only_live}


def _evidence_line(text: str) -> str:
    return one_line(str(text), 240)


def judge_outcome(claim: str, *, claimed: str, observed: str, evidence: str) -> LiveVerdict:
    """The doc says the outcome is ``claimed``; the platform showed ``observed``."""
    status = Status.HOLDS if claimed == observed else Status.REFUTED
    return LiveVerdict(claim, status, _evidence_line(f"doc: {claimed}; observed: {observed}; {evidence}"))


def judge_wording(claim: str, wording: str, texts: Sequence[str]) -> LiveVerdict:
    """Did the doc's quoted text (pattern ``wording``) appear? If not, the evidence says what did."""
    compiled = pattern(wording)
    hit = next((t for t in texts if compiled.search(t)), None)
    if hit is not None:
        return LiveVerdict(claim, Status.HOLDS, _evidence_line(f"doc wording appeared: {hit}"))
    seen = texts[-1] if texts else "no Event or condition text at all"
    return LiveVerdict(
        claim,
        Status.REFUTED,
        _evidence_line(f"doc wording /{compiled.pattern[:60]}/ did not appear; observed: {seen}"),
    )


# the failure classes a Troubleshooting entry is about (what the doc is for: which cause, which fix), each as the
# patterns whose texts belong to it; the exact words depend on the network path and are a separate check
FAILURE_CLASSES: dict[str, tuple[str, ...]] = {
    "HTTP 403": ("istio-rbac-denied", "permission-denied", "kubernetes-login-denied"),
    "connection failure": ("unreachable", "envoy-503", "doc-503"),
    "non-printable token": ("non-printable",),
}
WORDING = "wording-check"  # user property: the doc's exact words vs what this platform showed (evidence only)


def failure_class(texts: Sequence[str]) -> str:
    """The class of the failure the texts show (first class whose pattern matches), "" when none does."""
    for name, patterns in FAILURE_CLASSES.items():
        compiled = pattern("|".join(patterns))
        if any(compiled.search(t) for t in texts):
            return name
    return ""


def judge_failure_class(claim: str, documented: str, texts: Sequence[str]) -> LiveVerdict:
    """The doc names a cause by its symptom's class (connection failure, HTTP 403, non-printable token): holds
    when the observed failure is of that class, whatever the exact words."""
    if documented not in FAILURE_CLASSES:
        raise KeyError(f"unknown failure class {documented!r}; known: {', '.join(FAILURE_CLASSES)}")
    observed = failure_class(texts) or "no known failure class"
    status = Status.HOLDS if observed == documented else Status.REFUTED
    seen = texts[-1] if texts else "no Event or condition text"
    return LiveVerdict(claim, status, _evidence_line(f"doc: {documented}; observed: {observed} ({seen})"))


def record_wording(node: Any, verdict: LiveVerdict, platform: str) -> None:
    """The separate, labelled wording check: recorded with the platform that showed the text, never the
    claim's verdict (the words differ with the network path: Envoy's 503 text, a TCP timeout, a refusal)."""
    node.user_properties.append((WORDING, json.dumps({"claim": verdict.claim, "platform": platform,
                                                      "matches": verdict.status is Status.HOLDS,
                                                      "evidence": verdict.evidence})))


def judge_label_fix(claim: str, labels: Sequence[str | None], *, recovered: str) -> LiveVerdict:
    """The doc's ``upstream.podLabels`` snippet, applied with helm, put ``vault-ingress: "true"`` on every pod of
    the release (``labels``: that label on each pod) and the store it had failed recovered (``recovered``)."""
    status = Status.HOLDS if labels and all(value == "true" for value in labels) else Status.REFUTED
    shown = ", ".join(repr(value) for value in labels) or "no pods"
    return LiveVerdict(claim, status, _evidence_line(
        f"the doc's upstream.podLabels snippet (helm upgrade): vault-ingress on the release's pods: {shown}; "
        f"{recovered}"))


def not_applicable(claim: str, why: str) -> LiveVerdict:
    return LiveVerdict(claim, Status.NOT_APPLICABLE, _evidence_line(why))


def combine(verdicts: Iterable[LiveVerdict]) -> LiveVerdict:
    """One verdict from several (refuted wins, then holds; all n/a stays n/a)."""
    items = list(verdicts)
    if not items:
        raise ValueError("combine() needs at least one verdict")
    for status in (Status.REFUTED, Status.HOLDS):
        chosen = [v for v in items if v.status is status]
        if chosen:
            return LiveVerdict(chosen[0].claim, status, "; ".join(v.evidence for v in chosen))
    return items[0]


def settle(node: Any, verdict: LiveVerdict) -> LiveVerdict:
    """Record the verdict on the test (JUnit/report property) and raise if the claim is refuted."""
    __tracebackhide__ = True
    node.user_properties.append(
        (
            USER_PROPERTY,
            json.dumps(
                {"claim": verdict.claim, "status": verdict.status.value, "evidence": verdict.evidence}
            ),
        )
    )
    if verdict.status is Status.REFUTED:
        raise ClaimRefuted(str(verdict))
    return verdict


def recorded(user_properties: Iterable[tuple[str, Any]]) -> list[LiveVerdict]:
    """The verdicts :func:`settle` recorded (for reports)."""
    out = []
    for key, value in user_properties:
        if key == USER_PROPERTY:
            data = json.loads(value)
            out.append(LiveVerdict(data["claim"], Status(data["status"]), data["evidence"]))
    return out


def claim_marks(*claim_ids: str, defects: Mapping[str, KnownDefect] | None = None) -> list[pytest.MarkDecorator]:
    """``claim(id)`` marks, plus the strict xfail of the known-defects catalogue entry of each claim (keyed by
    the claim id; it names the exception that proves it, ClaimRefuted for a live verdict)."""
    from esoconf.known_defects import load_defects

    defects = load_defects() if defects is None else defects
    marks = [pytest.mark.claim(*claim_ids)]
    known = [defects[c] for c in claim_ids if c in defects]
    if known:
        raises = tuple(sorted({d.exception() for d in known}, key=lambda e: e.__name__))
        marks.append(pytest.mark.xfail(raises=raises[0] if len(raises) == 1 else raises, strict=True,
                                       reason="; ".join(d.describe() for d in known)))
    return marks


_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*-\d+$")


def is_claim_id(text: str) -> bool:
    return bool(_ID.match(text))
