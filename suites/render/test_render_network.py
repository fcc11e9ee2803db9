"""Prerequisites / Network and Istio Requirements, and Troubleshooting item 2 (ESO side)."""

from __future__ import annotations

import pytest
from render_cases import (
    DOC_TROUBLESHOOTING_LABELS,
    SWITCHED_DOC_CASES,
    VARIATIONS,
    VAULT_BIG_BANG,
)

from esoconf.render.contracts import (
    EGRESS_POLICY,
    VAULT_INGRESS_LABEL,
    VAULT_PORT,
    assert_labels,
    assert_policy_shape,
    assert_selects,
    eso_pods,
    expected_egress_policy,
    network_policies_enabled,
    vault_server_pods,
)
from esoconf.render.netpol import policy_admits
from esoconf.render.traffic import describe, eso_vault_traffic, renamed

pytestmark = pytest.mark.render


@pytest.mark.claim("NET-1")
@pytest.mark.parametrize("case", (*SWITCHED_DOC_CASES, VARIATIONS), ids=str)
def test_allow_egress_vault_lets_eso_pods_reach_vault_pods_on_8200(case, tier, render, evidence):
    rendered = render(case)
    if not network_policies_enabled(tier.values(case).values):
        assert not rendered.find("NetworkPolicy", EGRESS_POLICY), \
            f"{EGRESS_POLICY} rendered although networkPolicies.enabled is false ({rendered.values_file})"
        return evidence(f"networkPolicies.enabled=false renders no {EGRESS_POLICY}")
    vault = render(VAULT_BIG_BANG) if "vault" in tier.charts else None
    if not rendered.find("NetworkPolicy", EGRESS_POLICY, namespace=rendered.namespace):
        traffic = eso_vault_traffic(rendered, vault)
        assert traffic.failures("egress") or not traffic.admitting("egress"), renamed(traffic, "egress", EGRESS_POLICY)
    policy = rendered.one("NetworkPolicy", EGRESS_POLICY, namespace=rendered.namespace)
    assert_policy_shape(policy, expected_egress_policy(rendered.namespace))
    for pod in eso_pods(rendered):
        assert_selects(policy["spec"]["podSelector"], pod, EGRESS_POLICY)
    for server in vault_server_pods(vault):
        assert policy_admits(policy, "egress", server, VAULT_PORT), \
            f"{EGRESS_POLICY} does not admit {server.what} (labels {dict(server.labels)}) on TCP {VAULT_PORT}"
    evidence(f"{EGRESS_POLICY} in {rendered.namespace}: ESO pods -> ns vault pods app.kubernetes.io/name=vault, "
             f"TCP {VAULT_PORT} only")


@pytest.mark.claim("NET-TRAFFIC-1")
@pytest.mark.parametrize("case", (*SWITCHED_DOC_CASES, VARIATIONS), ids=str)
def test_eso_pods_may_reach_vault_server_pods_on_8200(case, tier, render, evidence):
    """The meaning of NET-1, whatever the policies are called: under the package's default deny, the rendered
    NetworkPolicies together admit ESO pods -> Vault server pods on TCP 8200."""
    rendered = render(case)
    vault = render(VAULT_BIG_BANG) if "vault" in tier.charts else None
    traffic = eso_vault_traffic(rendered, vault)
    refused = traffic.failures("egress")
    assert not refused, "the ESO package's NetworkPolicies refuse what the doc says they allow: " + \
        "; ".join(str(v.egress) for v in refused[:2])
    evidence(f"ESO pods -> Vault server pods TCP {VAULT_PORT}: {describe(traffic, 'egress')}; end to end "
             f"{'admitted' if all(v.allowed for v in traffic.needed) else 'refused at the Vault side'}")


@pytest.mark.claim("LBL-1")
@pytest.mark.parametrize("case", SWITCHED_DOC_CASES, ids=str)
def test_eso_pods_carry_vault_ingress_label_by_default(case, render, evidence):
    pods = eso_pods(render(case))
    for pod in pods:
        assert_labels(pod, VAULT_INGRESS_LABEL)
    evidence(f"{', '.join(p.what for p in pods)} pod template has vault-ingress: \"true\" without podLabels values")


@pytest.mark.claim("LBL-2")
@pytest.mark.parametrize("case", (DOC_TROUBLESHOOTING_LABELS, VARIATIONS), ids=str)
def test_pod_labels_snippet_reaches_the_pod_template(case, tier, render, evidence):
    values = tier.values(case)
    wanted = values.values["upstream"]["podLabels"]
    for pod in eso_pods(render(case)):
        assert_labels(pod, wanted)
    notes = "; ".join(str(n) for n in values.notes) or "no translation"
    evidence(f"upstream.podLabels {wanted} on the ESO pod template ({notes})")
