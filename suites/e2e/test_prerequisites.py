"""Prerequisites, live: 'Prerequisites / Network and Istio Requirements' and the Troubleshooting label
check."""

from __future__ import annotations

import pytest

from esoconf.live.cases import VAULT_INGRESS_NETWORKPOLICY
from esoconf.live.scenario import Scenario, doc_shapes, has_sidecar, scenario  # noqa: F401  (fixtures)
from esoconf.match import Contains, assert_matches

pytestmark = [pytest.mark.e2e, pytest.mark.smoke]


@pytest.mark.claim("LBL-1")
@pytest.mark.needs("pods", "network-policy")  # the label matters only where a policy selects on it
def test_eso_pods_carry_vault_ingress_label(scenario: Scenario) -> None:  # noqa: F811
    assert scenario.run_doc_label_check() == "true", "the doc's own kubectl check must print true"
    for pod in scenario.platform.eso_pods():
        assert_matches(
            pod["metadata"], {"labels": {"vault-ingress": "true"}}, f"ESO pod {pod['metadata']['name']}"
        )


@pytest.mark.claim("NET-1")
@pytest.mark.needs("network-policy")  # an API server without an enforcer only stores it: no live verdict there
def test_allow_egress_vault_exists(scenario: Scenario) -> None:  # noqa: F811
    policy = scenario.kube.get("NetworkPolicy", "allow-egress-vault", scenario.platform.eso_namespace)
    assert policy is not None, "NetworkPolicy allow-egress-vault is missing (networkPolicies.enabled: true)"
    assert_matches(
        policy["spec"],
        {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "external-secrets"}},
            "policyTypes": Contains("Egress"),
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": scenario.vault_namespace()}
                            }
                        }
                    ],
                    "ports": [{"port": 8200, "protocol": "TCP"}],
                }
            ],
        },
        "allow-egress-vault spec (doc: ESO pods to the vault namespace on port 8200)",
    )


@pytest.mark.claim("VLT-NP-1")
@pytest.mark.needs("vault-package", "network-policy")
def test_vault_ingress_networkpolicy_exists(scenario: Scenario) -> None:  # noqa: F811
    policy = scenario.kube.get("NetworkPolicy", VAULT_INGRESS_NETWORKPOLICY, scenario.vault_namespace())
    assert policy is not None, f"Vault's NetworkPolicy {VAULT_INGRESS_NETWORKPOLICY} is missing"
    assert_matches(
        policy["spec"],
        {
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"vault-ingress": "true"}}}],
                    "ports": [{"port": 8200}],
                }
            ]
        },
        f"{VAULT_INGRESS_NETWORKPOLICY} spec (doc: 8200 from vault-ingress pods)",
    )


@pytest.mark.claim("VLT-AP-1")
@pytest.mark.needs("vault-package", "mesh")
def test_vault_allow_authorization_policy_exists(scenario: Scenario) -> None:  # noqa: F811
    eso, vault = scenario.platform.eso_namespace, scenario.vault_namespace()
    present = [p["metadata"]["name"] for p in scenario.kube.list("AuthorizationPolicy", vault)]
    assert scenario.vault_admits(eso), (
        f"no ALLOW AuthorizationPolicy for namespace {eso} on 8200 in {vault} (present: {present or 'none'})"
    )


@pytest.mark.claim("MESH-1")
@pytest.mark.needs("mesh", "pods")
def test_eso_reaches_vault_through_mesh(scenario: Scenario) -> None:  # noqa: F811
    pods = scenario.platform.eso_pods()
    assert pods and all(has_sidecar(p) for p in pods), "every ESO pod runs an istio-proxy sidecar"
    before = {p["metadata"]["name"]: scenario.mesh_requests_to_vault(p) for p in pods}
    world = scenario.arrange("token")
    scenario.wait_store_ready(world.store)  # a validation is a lookup-self call to Vault
    after = {p["metadata"]["name"]: scenario.mesh_requests_to_vault(p) for p in pods}
    assert any(after[n] > before[n] for n in before), f"no ESO sidecar sent anything to Vault: {before} -> {after}"
