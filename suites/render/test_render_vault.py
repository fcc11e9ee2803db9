"""Prerequisites / Network and Istio Requirements, Vault side (needs --vault-chart)."""

from __future__ import annotations

import pytest
from render_cases import VAULT_BIG_BANG, VAULT_HARDENED, VAULT_LITERAL

from esoconf.contracts import (
    ESO_NAMESPACE,
    VAULT_INGRESS_LABEL,
    VAULT_INGRESS_POLICY,
    VAULT_NAMESPACE,
    VAULT_PORT,
    Pod,
    allows,
    assert_exactly,
    assert_policy_shape,
    assert_selects,
    denies_everything,
    doc_authorization_policies,
    expected_vault_ingress_policy,
    policy_admits,
    policy_route,
    vault_server_pods,
)
from esoconf.known_defects import known_defect

pytestmark = pytest.mark.render


@pytest.mark.claim("VLT-NP-1")
def test_vault_ingress_policy_admits_pods_labelled_vault_ingress_on_8200(render, evidence):
    vault = render(VAULT_BIG_BANG)
    policy = vault.one("NetworkPolicy", VAULT_INGRESS_POLICY, namespace=VAULT_NAMESPACE)
    assert_policy_shape(policy, expected_vault_ingress_policy())
    for server in vault_server_pods(vault):
        assert_selects(policy["spec"]["podSelector"], server, VAULT_INGRESS_POLICY)
    labelled = Pod(ESO_NAMESPACE, VAULT_INGRESS_LABEL, "a pod labelled vault-ingress in external-secrets")
    assert policy_admits(policy, "ingress", labelled, VAULT_PORT), \
        f"{VAULT_INGRESS_POLICY} does not admit {labelled.what} on TCP {VAULT_PORT}"
    evidence(f"{VAULT_INGRESS_POLICY}: any namespace, pods vault-ingress=true -> vault server pods TCP {VAULT_PORT}")


@pytest.mark.claim("VLT-AP-1")
@pytest.mark.parametrize("case", (VAULT_HARDENED, VAULT_BIG_BANG), ids=str)
def test_doc_vault_override_renders_allow_policy_for_external_secrets_on_8200(case, doc, tier, render, evidence):
    rendered, wanted = render(case), doc_authorization_policies(doc)
    if not case.platform.hardened and not any(denies_everything(rendered, VAULT_NAMESPACE)) and not any(
            rendered.find("AuthorizationPolicy", w["name"], VAULT_NAMESPACE) for w in wanted):
        return evidence(f"{case}: not rendered, and not needed: {tier.vault_layout} renders it only when hardened, "
                        f"and no policy in {VAULT_NAMESPACE} denies ESO")
    for policy in wanted:
        rendered_policy = rendered.one("AuthorizationPolicy", policy["name"], namespace=VAULT_NAMESPACE)
        assert_exactly(rendered_policy.get("spec"), policy["spec"], f"AuthorizationPolicy {policy['name']} spec")
        assert allows(rendered_policy, ESO_NAMESPACE, VAULT_PORT), \
            f"AuthorizationPolicy {policy['name']} does not ALLOW namespace {ESO_NAMESPACE} to port {VAULT_PORT}"
    route = policy_route(tier.vault_layout, tier.values(case).notes, render(VAULT_LITERAL), wanted)
    evidence(f"{case}: ALLOW {ESO_NAMESPACE} -> {VAULT_PORT} rendered in {VAULT_NAMESPACE} {route}")


@pytest.mark.claim("VLT-AP-2")
@pytest.mark.parametrize("case", (VAULT_HARDENED, pytest.param(
    VAULT_BIG_BANG, marks=known_defect("VLT-AP-2/big-bang-defaults"))), ids=str)
def test_vault_namespace_denies_everything_not_allowed(case, tier, render, evidence):
    rendered = render(case)
    deny = denies_everything(rendered, VAULT_NAMESPACE)
    assert deny, f"no namespace-wide allow-nothing AuthorizationPolicy in {VAULT_NAMESPACE} ({case}; Vault package " \
                 f"{tier.vault_layout}; values {rendered.values_file})"
    evidence(f"{case}: {deny[0]['metadata']['name']} (spec {{}}) denies everything not explicitly allowed")
