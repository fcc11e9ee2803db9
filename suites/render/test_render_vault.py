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
    doc_authorization_policies,
    expected_vault_ingress_policy,
    is_allow_nothing,
    policy_admits,
    vault_server_pods,
)

pytestmark = pytest.mark.render

NOT_BY_DEFAULT = ("doc says the Vault chart deploys a deny-all AuthorizationPolicy by default; it does only when "
                  "Big Bang is hardened (istio.authorizationPolicies.enabled), not with Big Bang/package defaults")


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
@pytest.mark.parametrize("case", (VAULT_BIG_BANG, VAULT_HARDENED), ids=str)
def test_doc_vault_override_renders_allow_policy_for_external_secrets_on_8200(case, doc, tier, render, evidence):
    rendered = render(case)
    notes = [n.translation for n in tier.values(case).notes]
    for wanted in doc_authorization_policies(doc):
        policy = rendered.one("AuthorizationPolicy", wanted["name"], namespace=VAULT_NAMESPACE)
        assert_exactly(policy.get("spec"), wanted["spec"], f"AuthorizationPolicy {wanted['name']} spec")
        assert allows(policy, ESO_NAMESPACE, VAULT_PORT), \
            f"AuthorizationPolicy {wanted['name']} does not ALLOW namespace {ESO_NAMESPACE} to port {VAULT_PORT}"
    literal = render(VAULT_LITERAL)
    ignored = [w["name"] for w in doc_authorization_policies(doc)
               if not literal.find("AuthorizationPolicy", w["name"], VAULT_NAMESPACE)]
    how = (f"only through the umbrella translation {', '.join(notes)}; the package ignores the literal key "
           f"istio.hardened.customAuthorizationPolicies") if ignored else "the package also honours the literal key"
    evidence(f"ALLOW {ESO_NAMESPACE} -> {VAULT_PORT} rendered in {VAULT_NAMESPACE}: {how}")


@pytest.mark.claim("VLT-AP-2")
@pytest.mark.parametrize("case", (VAULT_HARDENED, pytest.param(
    VAULT_BIG_BANG, marks=pytest.mark.xfail(strict=True, reason=NOT_BY_DEFAULT))), ids=str)
def test_vault_namespace_denies_everything_not_allowed(case, render, evidence):
    rendered = render(case)
    deny = [p for p in rendered.find("AuthorizationPolicy", namespace=VAULT_NAMESPACE) if is_allow_nothing(p)]
    assert deny, f"no namespace-wide allow-nothing AuthorizationPolicy in {VAULT_NAMESPACE} ({case}; values " \
                 f"{rendered.values_file})"
    evidence(f"{case}: {deny[0]['metadata']['name']} (spec {{}}) denies everything not explicitly allowed")
