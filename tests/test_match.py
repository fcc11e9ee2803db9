"""The partial-object matcher: subsets, any-element lists, matchers, conditions by type, readable failures."""

from __future__ import annotations

from typing import Any

import pytest

from esoconf.match import (
    Absent,
    Anything,
    Contains,
    MatchError,
    OneOf,
    Regex,
    assert_condition,
    assert_matches,
    condition,
    find_objects,
    matches,
)
from esoconf.redact import REDACT

STORE: dict[str, Any] = {
    "apiVersion": "external-secrets.io/v1",
    "kind": "ClusterSecretStore",
    "metadata": {"name": "vault-backend", "labels": {"app": "eso"}},
    "spec": {
        "provider": {
            "vault": {
                "server": "http://vault.vault.svc.cluster.local:8200",
                "path": "secret",
                "version": "v2",
            }
        }
    },
    "status": {
        "conditions": [
            {"type": "Synced", "status": "True"},
            {
                "type": "Ready",
                "status": "False",
                "reason": "InvalidProviderConfig",
                "message": "token expired",
            },
        ]
    },
}


@pytest.mark.parametrize(
    ("expected", "ok"),
    [
        ({"kind": "ClusterSecretStore"}, True),
        ({"spec": {"provider": {"vault": {"version": "v2"}}}}, True),
        ({"spec": {"provider": {"vault": {"version": "v1"}}}}, False),
        ({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}, True),
        ({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, False),
        ({"status": {"conditions": [{"type": "Ready"}, {"type": "Synced"}]}}, True),
        ({"spec": {"provider": {"vault": {"version": OneOf("v1", "v2")}}}}, True),
        ({"spec": {"provider": {"vault": {"server": Contains("vault.vault.svc")}}}}, True),
        ({"spec": {"provider": {"vault": {"server": Regex(r":8200$")}}}}, True),
        ({"spec": {"provider": {"vault": {"server": Regex(r":8201$")}}}}, False),
        ({"spec": {"provider": {"vault": {"caBundle": Absent()}}}}, True),
        ({"spec": {"provider": {"vault": {"path": Absent()}}}}, False),
        ({"metadata": {"labels": Anything()}}, True),
        ({"metadata": {"annotations": Anything()}}, False),
        ({"metadata": {"labels": {"app": Contains("es")}}}, True),
        ({"status": {"conditions": Contains({"type": "Synced"})}}, True),
    ],
    ids=[
        "dict-subset",
        "nested-subset",
        "nested-mismatch",
        "list-some-element",
        "list-no-element",
        "list-order-free",
        "one-of",
        "contains-substring",
        "regex",
        "regex-mismatch",
        "absent",
        "absent-but-present",
        "anything",
        "anything-missing",
        "contains-in-dict",
        "contains-list-element",
    ],
)
def test_partial_match(expected: dict[str, Any], ok: bool) -> None:
    assert matches(STORE, expected) is ok


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (1, True),
        (True, 1),
        ("1", 1),
        (None, {}),
        ({"a": 1}, [{"a": 1}]),
    ],
    ids=["bool-is-not-int", "int-is-not-bool", "str-is-not-int", "none-is-not-dict", "dict-is-not-list"],
)
def test_types_are_not_coerced(actual: Any, expected: Any) -> None:
    assert not matches(actual, expected)


def test_failure_names_field_path_and_shows_yaml_diff() -> None:
    with pytest.raises(MatchError) as err:
        assert_matches(
            STORE,
            {"spec": {"provider": {"vault": {"version": "v1", "path": "secret"}}}},
            "ClusterSecretStore/vault-backend",
        )

    message = str(err.value)
    assert message.splitlines()[:2] == [
        "ClusterSecretStore/vault-backend does not match (1 field(s)):",
        "  - $.spec.provider.vault.version: expected 'v1', got 'v2'",
    ]
    assert "-      version: v1" in message and "+      version: v2" in message
    assert "server" not in message  # the diff shows only what the expectation talks about


def test_failure_for_list_names_the_expected_element() -> None:
    with pytest.raises(
        MatchError,
        match=r"\$\.status\.conditions\[\?0\]: expected \{'type': 'Ready', 'status': "
        r"'True'\}, got 'no element matches'",
    ):
        assert_matches(STORE, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})


def test_failure_message_redacts_registered_secrets() -> None:
    REDACT.add("s3cr3t-token-value")

    with pytest.raises(MatchError) as err:
        assert_matches({"data": {"token": "s3cr3t-token-value"}}, {"data": {"token": "other"}})

    assert "s3cr3t-token-value" not in str(err.value)


def test_condition_is_found_by_type_not_position() -> None:
    assert condition(STORE, "Ready") == STORE["status"]["conditions"][1]
    assert condition(STORE, "Missing") is None
    assert condition({"status": None}, "Ready") is None


def test_assert_condition_reports_missing_type_and_present_ones() -> None:
    with pytest.raises(
        MatchError,
        match=r"ClusterSecretStore/vault-backend: no condition of type 'Healthy' "
        r"\(present: \['Synced', 'Ready'\]\)",
    ):
        assert_condition(STORE, "Healthy", status="True")


def test_assert_condition_mismatch_shows_the_condition_fields() -> None:
    with pytest.raises(MatchError, match=r"\$\.status: expected 'True', got 'False'"):
        assert_condition(STORE, "Ready", status="True")


def test_find_objects_by_kind_name_and_namespace() -> None:
    objects = [
        STORE,
        {"kind": "ExternalSecret", "metadata": {"name": "a", "namespace": "x"}},
        {"kind": "ExternalSecret", "metadata": {"name": "a", "namespace": "y"}},
    ]

    assert find_objects(objects, "ExternalSecret", "a", "y") == [objects[2]]
    assert len(find_objects(objects, "ExternalSecret")) == 2
    assert find_objects(objects, "ClusterSecretStore", "other") == []
