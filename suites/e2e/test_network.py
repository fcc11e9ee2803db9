"""The doc's network claims as traffic (Prerequisites / Network and Istio Requirements): what the ESO and Vault
charts' NetworkPolicies let through, observed as connections under a platform's enforcer (the node platform:
kind's own kube-network-policies), after the canary proved it enforces. The probe results are the evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from esoconf.live.scenario import Scenario, doc_shapes, scenario  # noqa: F401  (fixtures)
from esoconf.live.scenario.traffic import BLOCKED, OPEN
from esoconf.plugin import get_config

pytestmark = [pytest.mark.e2e, pytest.mark.serial, pytest.mark.needs("network-policy", "pods", "vault-package")]
EGRESS_EVERYWHERE = "allow-egress-external"  # the package's 0.0.0.0/0 egress policy, next to allow-egress-vault


def record(request: pytest.FixtureRequest, seen: Scenario, finding: str = "") -> None:
    """The probe results, the enforcer, what the render tier's static evaluator says of the same connections
    (its traffic records go to <artifacts>/traffic/, the self-test's fixtures), and the finding if any."""
    enforcer = getattr(seen.platform, "ran", {}).get("node", "the cluster's CNI")
    request.node.user_properties.append(("probes", "; ".join(seen.evidence_lines())))
    request.node.user_properties.append(("enforcer", enforcer))
    wrong = seen.model_disagreements()
    request.node.user_properties.append(("static model", "; ".join(wrong) if wrong else
                                         f"agrees on all {len(seen.traffic_records())} policy set(s) probed"))
    folder = Path(get_config(request.config).artifacts_dir) / "traffic"
    folder.mkdir(parents=True, exist_ok=True)
    for n, data in enumerate(seen.traffic_records(), 1):
        (folder / f"{request.node.name}-{n}.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    if finding:
        request.node.user_properties.append(("finding", finding))


@pytest.mark.claim("VLT-NP-1")
@pytest.mark.claim("LBL-1")
def test_vault_admits_port_8200_only_from_vault_ingress_pods(scenario: Scenario, request) -> None:  # noqa: F811
    scenario.platform.require_netpol_enforcement()
    eso_ns, vault = scenario.platform.eso_namespace, scenario.vault_host()[0]
    labelled = scenario.probe(eso_ns, "labelled", scenario.eso_pod_labels())
    unlabelled = scenario.probe(eso_ns, "unlabelled", scenario.eso_pod_labels(vault_ingress=False))
    elsewhere = scenario.probe(scenario.namespace, "elsewhere", {"vault-ingress": "true"})

    assert scenario.connects(labelled, vault, 8200, expect=OPEN) == OPEN, "ESO's labels must reach Vault:8200"
    assert scenario.connects(labelled, vault, 8201, expect=BLOCKED) == BLOCKED, "Vault admits 8200 only"
    assert scenario.connects(unlabelled, vault, 8200, expect=BLOCKED) == BLOCKED, "no vault-ingress, no Vault"
    assert scenario.connects(elsewhere, vault, 8200, expect=OPEN) == OPEN, "the label admits from any namespace"
    record(request, scenario)


@pytest.mark.claim("NET-1")
def test_eso_egress_reaches_vault_and_what_allow_egress_external_opens(scenario: Scenario, request) -> None:  # noqa: F811
    scenario.platform.require_netpol_enforcement()
    eso_ns, vault = scenario.platform.eso_namespace, scenario.vault_host()[0]
    eso = scenario.probe(eso_ns, "eso", scenario.eso_pod_labels())
    other = scenario.probe(scenario.namespace, "listener", {"app": "not-vault"}, listen=8200)

    vault_ip = scenario.service_ip(vault)  # by address: without allow-egress-external DNS may be closed too
    assert scenario.connects(eso, vault, 8200, expect=OPEN) == OPEN, "allow-egress-vault: ESO reaches Vault:8200"
    with_external = scenario.connects(eso, other.ip, 8200)
    with scenario.network_policy_removed(eso_ns, EGRESS_EVERYWHERE):
        alone = scenario.connects(eso, other.ip, 8200, expect=BLOCKED)
        assert scenario.connects(eso, vault_ip, 8200, expect=OPEN) == OPEN, "allow-egress-vault alone: Vault open"
        by_name = scenario.connects(eso, vault, 8200)
    assert alone == BLOCKED, "allow-egress-vault alone must close ESO's egress to a non-Vault pod on 8200"
    findings = []
    if with_external == OPEN:
        findings.append(f"with {EGRESS_EVERYWHERE} (0.0.0.0/0) present, ESO's egress to a non-Vault pod on 8200 "
                        f"was OPEN: the doc's allow-egress-vault decides nothing observable")
    if by_name != OPEN:
        findings.append(f"without {EGRESS_EVERYWHERE}, ESO -> {vault}:8200 by name was {by_name} (by address "
                        f"OPEN): the package's DNS egress comes from {EGRESS_EVERYWHERE} alone")
    record(request, scenario, "; ".join(findings))
