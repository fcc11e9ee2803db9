"""What ESO reports for each outcome, per ESO version range (read from the external-secrets tags:
``apis/externalsecrets/v1/secretstore_types.go``, ``pkg/controllers/secretstore/common.go`` and the Vault provider's
error strings).

Store conditions changed twice: up to v0.18 a failed validation was reason
``ValidationFailed`` with message ``unable to validate store: <err>``; v0.19 kept the message but switched
the reason to ``InvalidProviderConfig``; from v0.20 the reason is ``InvalidProviderConfig`` and the
message is generic, so the detail is only in the store's Events. A client that cannot even be built
(token Secret missing, Kubernetes login refused) has always been ``InvalidProviderConfig`` + ``unable to
create client``. ExternalSecret failures are ``SecretSyncedError`` + a generic message, the detail in an
``UpdateFailed`` Event.

Detail texts are matched by named regular expressions (:data:`PATTERNS`), never by equality: Vault and
Envoy wrap the same error differently across versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from esoconf.match import Contains, Matcher, Regex


class Stage(StrEnum):
    """Where a store fails: building the client (login, reading the token Secret) or validating it.

    Read from ESO v1.3.1 (``pkg/controllers/secretstore/common.go`` ``validateStore``,
    ``providers/v1/vault``): ``NewClient`` for token auth only reads the Secret and calls ``SetToken`` (no
    request), so a missing Secret or key fails here; Kubernetes auth logs in here, so a refused login
    fails here. ``Validate`` then calls ``auth/token/lookup-self``: the Vault client checks the token for
    non-printable characters before every request, so a CR/LF token, a revoked token, an Istio 403 or an
    unreachable Vault (token auth) all fail at validation, wrapped ``invalid vault credentials: ...``.
    """

    CLIENT = "client"  # NewClient: token Secret read, Kubernetes login
    VALIDATE = "validate"  # Validate: lookup-self against Vault


def parse_version(text: str) -> tuple[int, int, int]:
    """``v1.3.1`` / ``1.3.1-bb.1`` / ``0.19`` -> (1, 3, 1); one clear error otherwise."""
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", str(text).strip())
    if not match:
        raise ValueError(f"not an ESO version: {text!r} (expected e.g. v1.3.1)")
    return int(match[1]), int(match[2]), int(match[3] or 0)


@dataclass(frozen=True)
class VersionRange:
    """``low <= version < high``; None means unbounded."""

    low: tuple[int, int, int] | None
    high: tuple[int, int, int] | None

    def __contains__(self, version: object) -> bool:
        v = parse_version(str(version))
        return (self.low is None or v >= self.low) and (self.high is None or v < self.high)

    def __str__(self) -> str:
        low = "v" + ".".join(map(str, self.low)) if self.low else ""
        high = "v" + ".".join(map(str, self.high)) if self.high else ""
        return f"{low or '*'}..{high or '*'}"


@dataclass(frozen=True)
class ConditionExpectation:
    """A Ready condition and where the detail is to be read (message or Events)."""

    status: str
    reason: str
    message: Matcher
    event_reason: str | None  # reason of the Event that carries the detail (None: no Event expected)
    detail_in_message: bool  # True when the condition message embeds the error text

    def condition(self) -> dict[str, Any]:
        return {"type": "Ready", "status": self.status, "reason": self.reason, "message": self.message}


@dataclass(frozen=True)
class StoreRule:
    versions: VersionRange
    stage: Stage
    expect: ConditionExpectation


def _store(status: str, reason: str, message: Matcher, *, detail: bool) -> ConditionExpectation:
    return ConditionExpectation(status, reason, message, reason, detail)


# (version range, stage) -> expected store condition on failure. Ranges are half-open and disjoint.
STORE_FAILURE_TABLE: tuple[StoreRule, ...] = (
    StoreRule(
        VersionRange(None, (0, 19, 0)),
        Stage.VALIDATE,
        _store("False", "ValidationFailed", Regex(r"^unable to validate store: .+"), detail=True),
    ),
    StoreRule(
        VersionRange((0, 19, 0), (0, 20, 0)),
        Stage.VALIDATE,
        _store("False", "InvalidProviderConfig", Regex(r"^unable to validate store: .+"), detail=True),
    ),
    StoreRule(
        VersionRange((0, 20, 0), None),
        Stage.VALIDATE,
        _store("False", "InvalidProviderConfig", Regex(r"^unable to validate store$"), detail=False),
    ),
    # building the client has said the same thing in every version the suite supports
    StoreRule(
        VersionRange(None, None),
        Stage.CLIENT,
        _store("False", "InvalidProviderConfig", Regex(r"^unable to create client"), detail=False),
    ),
)

STORE_READY = ConditionExpectation("True", "Valid", Contains("store validated"), None, False)
ES_SYNCED = ConditionExpectation("True", "SecretSynced", Contains("secret synced"), None, False)
ES_FAILED = ConditionExpectation("False", "SecretSyncedError", Regex(r"^could not "), "UpdateFailed", False)


def store_failure(eso_version: str, stage: Stage) -> ConditionExpectation:
    """The store condition ESO ``eso_version`` sets when it fails at ``stage``."""
    for rule in STORE_FAILURE_TABLE:
        if rule.stage == stage and eso_version in rule.versions:
            return rule.expect
    raise LookupError(
        f"no store expectation for ESO {eso_version} at stage {stage.value}"
    )  # pragma: no cover


def es_failure(eso_version: str) -> ConditionExpectation:  # noqa: ARG001 - same in every supported version
    return ES_FAILED


# Named detail patterns (section 3). Each case names the one it expects; DOTALL because Vault's API
# errors span lines ("Error making API request.\n\nURL: ...\nCode: 403. Errors:\n\n* permission denied").
PATTERNS: dict[str, str] = {
    "non-printable": r"configured Vault token contains non-printable characters and cannot be used",
    "permission-denied": r"Code: 403\..*permission denied",
    "token-invalid": r"invalid vault credentials: .*Code: 403\..*permission denied",
    "secret-not-found": r"Secret does not exist",
    "property-missing": r'cannot find secret data for key: "[^"]+"',
    "token-secret-missing": (
        r'cannot get Kubernetes secret "[^"]+" from namespace "[^"]+": secrets? "[^"]+" not found'
    ),
    "token-key-missing": r'cannot find secret data for key: "[^"]+"',
    "kubernetes-login-denied": r"unable to log in with Kubernetes auth: .*Code: 403\.",
    # the doc's Troubleshooting symptom, word for word where it matters
    "doc-503": r"upstream connect error or disconnect/reset before headers\..*Connection refused",
    "envoy-503": r"Code: 503\..*upstream connect error or disconnect/reset before headers",
    "istio-rbac-denied": r"Code: 403\..*RBAC: access denied",
    # ESO cannot reach Vault at all: dropped (timeout), rejected (refused) or answered by the sidecar (503)
    "unreachable": (
        r"(connection refused|Connection refused|i/o timeout|context deadline exceeded"
        r"|connection timeout|upstream connect error|no healthy upstream|connection reset by peer)"
    ),
    "store-not-ready": r'(Cluster)?SecretStore "[^"]+" is not ready',
}


def pattern(name: str) -> re.Pattern[str]:
    """Compile pattern ``name``; ``"a|b"`` accepts either named pattern."""
    parts = name.split("|")
    unknown = [p for p in parts if p not in PATTERNS]
    if unknown:
        raise KeyError(f"unknown error pattern(s) {', '.join(unknown)}; known: {', '.join(sorted(PATTERNS))}")
    return re.compile("|".join(f"(?:{PATTERNS[p]})" for p in parts), re.DOTALL)


def first_match(name: str, texts: list[str]) -> str | None:
    """The first text matching pattern ``name`` (or None)."""
    compiled = pattern(name)
    return next((t for t in texts if compiled.search(t)), None)
