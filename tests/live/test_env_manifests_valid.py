"""Every object the live environment applies, validated offline and strictly (Kubernetes schemas for core
kinds, our Istio schemas, the reference chart's CRDs): a typo here would otherwise first show up live."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from mutants import CHARTS

from esoconf.config import load_versions
from esoconf.live.naming import namespace_manifest
from esoconf.live.scenario.manifests import allow_policy_manifest, secret_manifest
from esoconf.live.vault import token_secret_manifest
from esoconf.platforms.incluster import fingerprint as fp
from esoconf.platforms.incluster.canary import canary_manifests
from esoconf.platforms.incluster.images import pull_secret_manifest
from esoconf.platforms.incluster.istio import mesh_policies
from esoconf.platforms.incluster.vault import doc_authorization_policy_objects
from esoconf.render.schema import SchemaSet

DOC_POLICY = {
    "name": "allow-external-secrets",
    "enabled": True,
    "spec": {"action": "ALLOW", "rules": [{"from": [{"source": {"namespaces": ["external-secrets"]}}],
                                          "to": [{"operation": {"ports": ["8200"]}}]}]},
}


def _applied_objects() -> list[tuple[str, dict[str, Any]]]:
    objects: list[tuple[str, dict[str, Any]]] = [
        ("namespace", namespace_manifest("e2e-sync-ab12", "r1")),
        *((f"canary-{o['kind']}", o) for o in canary_manifests("eso-canary-r1", "busybox:1.37.0", "r1")),
        *((f"mesh-{o['metadata']['name']}", o) for o in mesh_policies(hardened=True)),
        ("fingerprint-configmap", fp.configmap({"vault": "abc"}, fp.RunState("r1", True, "enforced"))),
        ("pull-secret", pull_secret_manifest("external-secrets", secrets.token_hex(6), secrets.token_hex(8))),
        # built at collection time, outside the per-test redaction isolation: a random token, so the fragments
        # the redaction layer registers ("-token", ...) never mask words in other tests' output
        ("vault-token", token_secret_manifest("hvs." + secrets.token_hex(12), run_id="r1")),
        ("test-secret", secret_manifest("vault-token", "e2e-x", {"token": "t"}, {"a": "b"})),
        *(("vault-ap", o) for o in doc_authorization_policy_objects([DOC_POLICY])),
        ("test-ap", allow_policy_manifest(DOC_POLICY, name="allow-e2e", namespace="vault", source_namespace="e2e-x")),
    ]
    return objects


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.for_chart(CHARTS["external-secrets"], load_versions()["kubernetes"]["version"])


@pytest.mark.parametrize("obj", [pytest.param(o, id=i) for i, o in _applied_objects()])
def test_applied_object_is_schema_valid(schemas: SchemaSet, obj: dict[str, Any]) -> None:
    finding = schemas.check(obj)
    assert finding.status == "ok", str(finding)


def test_a_broken_object_is_caught(schemas: SchemaSet) -> None:
    pod = canary_manifests("eso-canary-r1", "busybox", "r1")[1]
    pod["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert schemas.check(pod).status == "invalid"
