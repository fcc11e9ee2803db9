"""esoconf.render.schema: strict validation of rendered objects; every failure names the object and the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from esoconf.render.contracts import edit
from esoconf.render.schema import SchemaSet, assert_has_schema, assert_valid, openapi_to_jsonschema

CHART = Path(__file__).resolve().parent / "fixtures" / "charts" / "external-secrets"

STORE: dict[str, Any] = {
    "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "vault-secrets"},
    "spec": {"provider": {"vault": {"server": "https://vault.example.com:8200", "path": "kv", "version": "v2",
                                    "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token",
                                                                "namespace": "external-secrets"}}}}}}
POLICY: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "allow-egress-vault", "namespace": "external-secrets"},
    "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "external-secrets"}}, "policyTypes": ["Egress"],
             "egress": [{"ports": [{"protocol": "TCP", "port": 8200}]}]}}
AUTHZ: dict[str, Any] = {
    "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
    "metadata": {"name": "allow-external-secrets", "namespace": "vault"},
    "spec": {"action": "ALLOW", "rules": [{"from": [{"source": {"namespaces": ["external-secrets"]}}],
                                           "to": [{"operation": {"ports": ["8200"]}}]}]}}


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.for_chart(CHART, "v1.33.4")


def vault(**changes: Any) -> dict[str, Any]:
    return edit(STORE, {"spec": {"provider": {"vault": changes}}})


@pytest.mark.parametrize("obj", [STORE, POLICY, AUTHZ], ids=["ClusterSecretStore", "NetworkPolicy",
                                                              "AuthorizationPolicy"])
def test_valid_objects_pass(schemas: SchemaSet, obj: dict[str, Any]) -> None:
    assert schemas.check(obj).status == "ok", str(schemas.check(obj))


@pytest.mark.parametrize(("obj", "field", "problem"), [
    (vault(version="v3"), "spec.provider.vault.version", "'v3' is not one of"),
    (vault(auth={"tokenSecretRf": {"name": "x", "key": "y"}}), "spec.provider.vault.auth",
     "'tokenSecretRf' was unexpected"),
    (edit(STORE, {"spec": {"provider": {"vault": {"server": "__delete__"}}}}), "spec.provider.vault",
     "'server' is a required property"),
    (edit(STORE, {"apiVersion": "external-secrets.io/v1beta1"}), "apiVersion", "is not served"),
    (edit(STORE, {"apiVersion": "external-secrets.io/v2"}), "apiVersion", "is not defined"),
    (edit(POLICY, {"spec": {"egress": [{"ports": [{"protocl": "TCP", "port": 8200}]}]}}), "spec.egress.0.ports.0",
     "'protocl' was unexpected"),
    (edit(POLICY, {"apiVersion": "networking.k8s.io/v1beta1"}), "apiVersion/kind", "is not served"),
    (edit(AUTHZ, {"spec": {"action": "PERMIT"}}), "spec.action", "'PERMIT' is not one of"),
    (edit(AUTHZ, {"spec": {"rules": [{"to": [{"operation": {"port": ["8200"]}}]}]}}), "spec.rules.0.to.0.operation",
     "'port' was unexpected"),
], ids=["enum", "misspelled-field", "missing-required", "unserved-version", "unknown-version", "core-strict",
        "core-unserved", "istio-enum", "istio-misspelled"])
def test_invalid_objects_name_the_object_and_field(schemas: SchemaSet, obj: dict[str, Any], field: str,
                                                   problem: str) -> None:
    obj = _drop_marked(copy.deepcopy(obj))
    finding = schemas.check(obj)
    assert finding.status == "invalid"
    assert any(m.startswith(f"{field}:") and problem in m for m in finding.messages), finding.messages
    with pytest.raises(AssertionError, match=f"{obj['kind']}/"):
        assert_valid([finding])


def _drop_marked(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_marked(v) for k, v in node.items() if v != "__delete__"}
    return node


def test_kind_without_schema_is_reported_not_passed(schemas: SchemaSet) -> None:
    service_monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "m"}}
    finding = schemas.check(service_monitor)
    assert finding.status == "no-schema"
    assert_valid([finding])  # not invalid ...
    with pytest.raises(AssertionError, match="not checked, so not passed.*ServiceMonitor/m"):
        assert_has_schema([finding])  # ... but never silently passed


def test_crds_rendered_by_the_chart_are_used(schemas: SchemaSet) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.io"},
           "spec": {"group": "example.io", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced",
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "properties": {
                            "size": {"type": "integer"}}}}}}}]}}
    local = SchemaSet.for_chart(CHART, "v1.33.4", [crd])
    widget = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": "big"}}
    assert local.check(widget).messages == ("spec.size: 'big' is not of type 'integer'",)


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": "string", "nullable": True}, {"type": ["string", "null"]}),
    ({"x-kubernetes-int-or-string": True}, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
    ({"type": "object", "properties": {"a": {"type": "string"}}},
     {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}),
    ({"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {}},
     {"type": "object", "properties": {}}),
    ({"type": "object", "additionalProperties": {"type": "string"}},
     {"type": "object", "additionalProperties": {"type": "string"}}),
    ({"type": "object", "properties": {"enum": {"type": "string"}}},
     {"type": "object", "properties": {"enum": {"type": "string"}}, "additionalProperties": False}),
], ids=["nullable", "int-or-string", "strict", "preserve-unknown", "map", "field-named-like-a-keyword"])
def test_openapi_shim(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert openapi_to_jsonschema(schema) == expected
