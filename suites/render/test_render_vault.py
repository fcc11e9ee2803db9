"""Prerequisites / Network and Istio Requirements, Vault side (needs --vault-chart)."""

from __future__ import annotations

import pytest
from render_cases import DOC_TOKEN_DATA, VAULT_BIG_BANG, VAULT_HARDENED, VAULT_LITERAL, VAULT_SWITCHED

from esoconf.known_defects import known_defect
from esoconf.render.contracts import (
    ESO_NAMESPACE,
    VAULT_INGRESS_LABEL,
    VAULT_INGRESS_POLICY,
    VAULT_NAMESPACE,
    VAULT_PORT,
    assert_exactly,
    assert_policy_shape,
    assert_selects,
    denies_everything,
    doc_authorization_policies,
    expected_vault_ingress_policy,
    policy_route,
    vault_server_pods,
)
from esoconf.render.netpol import Pod, policy_admits
from esoconf.render.traffic import ap_admits, ap_applies_to, describe, renamed, vault_ingress_traffic

pytestmark = pytest.mark.render


@pytest.mark.claim("VLT-NP-1")
def test_vault_ingress_policy_admits_pods_labelled_vault_ingress_on_8200(render, evidence):
    vault = render(VAULT_BIG_BANG)
    if not vault.find("NetworkPolicy", VAULT_INGRESS_POLICY, namespace=VAULT_NAMESPACE):
        traffic = vault_ingress_traffic(vault, None)
        assert traffic.failures("ingress") or not traffic.admitting("ingress"), \
            renamed(traffic, "ingress", VAULT_INGRESS_POLICY)
    policy = vault.one("NetworkPolicy", VAULT_INGRESS_POLICY, namespace=VAULT_NAMESPACE)
    assert_policy_shape(policy, expected_vault_ingress_policy())
    for server in vault_server_pods(vault):
        assert_selects(policy["spec"]["podSelector"], server, VAULT_INGRESS_POLICY)
    labelled = Pod(ESO_NAMESPACE, VAULT_INGRESS_LABEL, "a pod labelled vault-ingress in external-secrets")
    assert policy_admits(policy, "ingress", labelled, VAULT_PORT), \
        f"{VAULT_INGRESS_POLICY} does not admit {labelled.what} on TCP {VAULT_PORT}"
    evidence(f"{VAULT_INGRESS_POLICY}: any namespace, pods vault-ingress=true -> vault server pods TCP {VAULT_PORT}")


@pytest.mark.claim("VLT-NP-TRAFFIC-1")
def test_pods_labelled_vault_ingress_may_reach_vault_on_8200(tier, render, evidence):
    """The meaning of VLT-NP-1: under the Vault package's default deny, its NetworkPolicies together admit a pod
    labelled vault-ingress "true" from any namespace to the Vault server pods on TCP 8200."""
    eso = render(DOC_TOKEN_DATA) if "external-secrets" in tier.charts else None
    traffic = vault_ingress_traffic(render(VAULT_BIG_BANG), eso)
    refused = traffic.failures("ingress")
    assert not refused, "the Vault package's NetworkPolicies refuse what the doc says they allow: " + \
        "; ".join(str(v.ingress) for v in refused[:2])
    evidence(f"vault-ingress pods (any namespace) -> Vault server pods TCP {VAULT_PORT}: "
             f"{describe(traffic, 'ingress')}")


def allowing(rendered, servers) -> list[str]:
    """ALLOW AuthorizationPolicies in vault admitting namespace external-secrets to 8200 on the server pods."""
    return [p["metadata"]["name"] for p in rendered.find("AuthorizationPolicy", namespace=VAULT_NAMESPACE)
            if ap_admits(p, ESO_NAMESPACE, VAULT_PORT) and all(ap_applies_to(p, s.labels) for s in servers)]


@pytest.mark.claim("VLT-AP-TRAFFIC-1")
@pytest.mark.parametrize("case", VAULT_SWITCHED, ids=str)
def test_vault_allows_external_secrets_on_8200_when_something_denies(case, tier, render, evidence):
    """The meaning of VLT-AP-1, whatever the policy is called: where an allow-nothing policy denies in vault, an
    ALLOW (custom or generated from NetworkPolicies) admits namespace external-secrets to the servers on 8200."""
    rendered = render(case)
    allowed, deny = allowing(rendered, vault_server_pods(rendered)), denies_everything(rendered, VAULT_NAMESPACE)
    if not deny:
        return evidence(f"{case}: nothing denies in {VAULT_NAMESPACE}; ALLOW for {ESO_NAMESPACE} on {VAULT_PORT}: "
                        f"{', '.join(allowed) or 'none (not needed)'}")
    present = [p["metadata"]["name"] for p in rendered.find("AuthorizationPolicy", namespace=VAULT_NAMESPACE)]
    assert allowed, f"{', '.join(d['metadata']['name'] for d in deny)} denies everything in {VAULT_NAMESPACE} and " \
                    f"no ALLOW admits namespace {ESO_NAMESPACE} to {VAULT_PORT} (present: {', '.join(present)})"
    evidence(f"{case}: {deny[0]['metadata']['name']} denies; ALLOW {ESO_NAMESPACE} -> {VAULT_PORT} by "
             f"{', '.join(allowed)}")


@pytest.mark.claim("VLT-AP-1")
@pytest.mark.parametrize("case", (VAULT_HARDENED, VAULT_BIG_BANG), ids=str)
def test_doc_vault_override_renders_allow_policy_for_external_secrets_on_8200(case, doc, tier, render, evidence):
    rendered, wanted = render(case), doc_authorization_policies(doc)
    if not case.platform.hardened and not any(denies_everything(rendered, VAULT_NAMESPACE)) and not any(
            rendered.find("AuthorizationPolicy", w["name"], VAULT_NAMESPACE) for w in wanted):
        return evidence(f"{case}: not rendered, and not needed: {tier.vault_layout} renders it only when hardened, "
                        f"and no policy in {VAULT_NAMESPACE} denies ESO")
    for policy in wanted:
        if not rendered.find("AuthorizationPolicy", policy["name"], VAULT_NAMESPACE):
            others = allowing(rendered, vault_server_pods(rendered))
            assert not others, f"doc defect: the doc names AuthorizationPolicy {policy['name']}; this release " \
                               f"renders none, and {', '.join(others)} ALLOWs {ESO_NAMESPACE} to {VAULT_PORT}"
        rendered_policy = rendered.one("AuthorizationPolicy", policy["name"], namespace=VAULT_NAMESPACE)
        assert_exactly(rendered_policy.get("spec"), policy["spec"], f"AuthorizationPolicy {policy['name']} spec")
        assert ap_admits(rendered_policy, ESO_NAMESPACE, VAULT_PORT), \
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
