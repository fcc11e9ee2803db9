"""Version-aware expectations, matched against the recorded ESO objects (tests/fixtures/recorded)."""

from __future__ import annotations

import pytest
import yaml
from fakes import RECORDED, recorded

from esoconf.live.expectations import (
    STORE_READY,
    Stage,
    VersionRange,
    es_failure,
    parse_version,
    store_failure,
)
from esoconf.live.scenario.observe import observe_expectation

V = {
    "server": "http://vault:8200",
    "secret": "vault-token",
    "namespace": "ns",
    "key": "token",
    "mount": "kv",
    "path": "ns/my-app/config",
    "property": "nope",
    "index": "data[0] (key: ns/my-app/config)",
}


@pytest.mark.parametrize(
    ("version", "stage", "reason", "detail_in_message"),
    [
        ("v0.18.2", Stage.VALIDATE, "ValidationFailed", True),
        ("0.19.0", Stage.VALIDATE, "InvalidProviderConfig", True),
        ("v0.20.0", Stage.VALIDATE, "InvalidProviderConfig", False),
        ("v1.3.1", Stage.VALIDATE, "InvalidProviderConfig", False),
        ("2.9.0", Stage.VALIDATE, "InvalidProviderConfig", False),
        ("v0.9.0", Stage.CLIENT, "InvalidProviderConfig", False),
        ("v1.3.1", Stage.CLIENT, "InvalidProviderConfig", False),
    ],
)
def test_store_failure_table(version: str, stage: Stage, reason: str, detail_in_message: bool) -> None:
    expect = store_failure(version, stage)
    assert (expect.reason, expect.detail_in_message, expect.status) == (reason, detail_in_message, "False")


def test_version_parsing_and_ranges() -> None:
    assert parse_version("1.3.1-bb.1") == (1, 3, 1)
    assert parse_version("v0.19") == (0, 19, 0)
    assert "v0.19.9" in VersionRange((0, 19, 0), (0, 20, 0))
    assert "v0.20.0" not in VersionRange((0, 19, 0), (0, 20, 0))
    with pytest.raises(ValueError, match="not an ESO version"):
        parse_version("latest")


def _obj(kind: str, record: dict, uid: str = "uid-x") -> dict:
    return {"kind": kind, "metadata": {"name": "x", "uid": uid}, "status": record["status"]}


# (recorded store outcome, ESO version, stage, pattern that must match, patterns that must not)
STORE_CASES = [
    ("non-printable", "v1.3.1", Stage.VALIDATE, "non-printable", ["permission-denied", "doc-503"]),
    ("non-printable", "v0.19.3", Stage.VALIDATE, "non-printable", []),
    ("non-printable", "v0.18.0", Stage.VALIDATE, "non-printable", []),
    ("token-invalid", "v1.3.1", Stage.VALIDATE, "token-invalid", ["istio-rbac-denied"]),
    ("token-secret-missing", "v1.3.1", Stage.CLIENT, "token-secret-missing", ["token-key-missing"]),
    ("token-key-missing", "v1.3.1", Stage.CLIENT, "token-key-missing", ["token-secret-missing"]),
    ("kubernetes-login-denied", "v1.3.1", Stage.CLIENT, "kubernetes-login-denied", ["istio-rbac-denied"]),
    ("istio-rbac-denied", "v1.3.1", Stage.VALIDATE, "istio-rbac-denied", ["doc-503", "unreachable"]),
    ("connect-timeout", "v1.3.1", Stage.VALIDATE, "unreachable", ["doc-503", "istio-rbac-denied"]),
    ("doc-503", "v1.3.1", Stage.VALIDATE, "doc-503", ["istio-rbac-denied"]),
]


@pytest.mark.parametrize(
    ("outcome", "version", "stage", "wanted", "unwanted"),
    STORE_CASES,
    ids=[f"{c[0]}@{c[1]}" for c in STORE_CASES],
)
def test_recorded_store_failures_meet_the_expectation(
    outcome: str, version: str, stage: Stage, wanted: str, unwanted: list[str]
) -> None:
    record = recorded("store", outcome, version, **V)
    obs, met = observe_expectation(
        _obj("ClusterSecretStore", record), record["events"], "css/x", store_failure(version, stage), wanted
    )
    assert met, obs.as_state()
    for name in unwanted:
        assert not observe_expectation(
            _obj("ClusterSecretStore", record), record["events"], "css/x", store_failure(version, stage), name
        )[1], name


def test_a_generic_message_alone_is_not_enough_from_v0_20() -> None:
    record = recorded("store", "non-printable", "v1.3.1", **V)
    obs, met = observe_expectation(
        _obj("ClusterSecretStore", record),
        [],
        "css/x",
        store_failure("v1.3.1", Stage.VALIDATE),
        "non-printable",
    )
    assert not met and obs.condition["message"] == "unable to validate store"


def test_old_version_reason_does_not_meet_new_expectation() -> None:
    record = recorded("store", "non-printable", "v0.18.0", **V)
    assert not observe_expectation(
        _obj("ClusterSecretStore", record),
        record["events"],
        "css/x",
        store_failure("v1.3.1", Stage.VALIDATE),
        "non-printable",
    )[1]


@pytest.mark.parametrize(
    ("outcome", "wanted", "unwanted"),
    [
        ("permission-denied", "permission-denied", "secret-not-found"),
        ("secret-not-found", "secret-not-found", "permission-denied"),
        ("property-missing", "property-missing", "secret-not-found"),
        ("store-not-ready", "store-not-ready", "permission-denied"),
    ],
)
def test_recorded_external_secret_failures(outcome: str, wanted: str, unwanted: str) -> None:
    record = recorded("es", outcome, "v1.3.1", **V, store="s", store_kind="ClusterSecretStore")
    obj = _obj("ExternalSecret", record)
    assert observe_expectation(obj, record["events"], "es/x", es_failure("v1.3.1"), wanted)[1]
    assert not observe_expectation(obj, record["events"], "es/x", es_failure("v1.3.1"), unwanted)[1]


def test_ready_store_meets_ready_not_failure() -> None:
    record = recorded("store", "valid", "v1.3.1")
    obj = _obj("ClusterSecretStore", record)
    assert observe_expectation(obj, record["events"], "css/x", STORE_READY, None)[1]
    assert not observe_expectation(
        obj, record["events"], "css/x", store_failure("v1.3.1", Stage.VALIDATE), None
    )[1]


@pytest.mark.parametrize(("incarnation", "met"), [("old", True), ("new", False)])
def test_events_of_an_earlier_object_with_the_same_name_do_not_count(incarnation: str, met: bool) -> None:
    record = yaml.safe_load((RECORDED / "events" / "css-recreated.yaml").read_text(encoding="utf-8"))
    assert {e["metadata"]["namespace"] for e in record["events"]} == {"default"}  # cluster-scoped object
    obj = _obj("ClusterSecretStore", record, uid=record["uids"][incarnation])
    expect = store_failure("v1.3.1", Stage.VALIDATE)
    assert observe_expectation(obj, record["events"], "css/x", expect, "non-printable")[1] is met


def test_no_object_no_events() -> None:
    record = yaml.safe_load((RECORDED / "events" / "css-recreated.yaml").read_text(encoding="utf-8"))
    obs, met = observe_expectation(None, record["events"], "css/x", store_failure("v1.3.1", Stage.VALIDATE), None)
    assert not met and obs.texts == []


def test_every_recorded_file_is_used_and_says_where_it_comes_from() -> None:
    files = sorted(RECORDED.glob("*/*.yaml"))
    assert len(files) >= 15
    for path in files:
        assert path.read_text(encoding="utf-8").startswith("# "), f"{path.name}: first line names its source"
