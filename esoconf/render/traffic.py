"""The network claims by meaning: which rendered policies together admit ESO -> Vault:8200, whatever their names.

A release may rename a policy (bb-common generates ``allow-egress-from-external-secrets-to-ns-vault-pod-vault-
tcp-port-8200`` where the doc names ``allow-egress-vault``). The traffic claims (NET-TRAFFIC-1, VLT-NP-TRAFFIC-1,
VLT-AP-TRAFFIC-1) ask the evaluator (:mod:`esoconf.netpol`) or the AuthorizationPolicy semantics below about
the connection; the name claims (NET-1, VLT-NP-1, VLT-AP-1) then say, when the documented name is gone but the
traffic holds, which policy the doc should name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .contracts import ESO_NAMESPACE, VAULT_INGRESS_LABEL, VAULT_NAMESPACE, eso_pods, pod_templates, vault_server_pods
from .helm import Rendered
from .netpol import Pod, Verdict, admits

VAULT_PORT = 8200
OTHER_PORT = 8201  # Vault's cluster port: the doc admits 8200 only


def network_policies(*renders: Rendered | None) -> list[dict[str, Any]]:
    """Every NetworkPolicy of the renders, with metadata.namespace filled in (helm puts them in the release
    namespace when the template leaves it out)."""
    found = []
    for rendered in renders:
        if rendered is None:
            continue
        for policy in rendered.find("NetworkPolicy"):
            meta = {**(policy.get("metadata") or {}), "namespace": rendered.namespace_of(policy)}
            found.append({**policy, "metadata": meta})
    return found


@dataclass(frozen=True)
class Traffic:
    """The verdicts the claim requires (``needed``) and the ones shown for information (``shown``)."""

    needed: tuple[Verdict, ...]
    shown: tuple[Verdict, ...] = ()

    def failures(self, side: str) -> list[Verdict]:
        return [v for v in self.needed if not getattr(v, side).allowed]

    def admitting(self, side: str) -> list[str]:
        return sorted({name for v in self.needed for name in getattr(v, side).admitted_by})

    def isolated(self, side: str) -> bool:
        return any(getattr(v, side).isolating for v in self.needed)


def eso_to_vault(policies: Sequence[Mapping[str, Any]], eso: Sequence[Pod], servers: Sequence[Pod],
                 others: Sequence[Pod]) -> Traffic:
    """ESO pods -> Vault server pods on TCP 8200 (needed); -> the servers on 8201 and -> other Vault-namespace pods
    on 8200 (shown: what the policies refuse)."""
    needed = tuple(admits(policies, src, dst, VAULT_PORT) for src in eso for dst in servers)
    shown = tuple(admits(policies, src, dst, port) for src in eso[:1]
                  for dst, port in [(s, OTHER_PORT) for s in servers[:1]] + [(o, VAULT_PORT) for o in others])
    return Traffic(needed, shown)


def describe(traffic: Traffic, side: str) -> str:
    """One line: who admits the needed connections on ``side``, and what the shown ones got."""
    if not traffic.isolated(side):
        head = f"no policy isolates the pods for {side} (no default deny): traffic unrestricted"
    else:
        head = f"{side} admitted by {', '.join(traffic.admitting(side))}"
    rest = [f"{v.src.what} -> {v.dst.what} {v.protocol}/{v.port} "
            f"{'admitted' if getattr(v, side).allowed else 'refused'}" for v in traffic.shown]
    return head + (f"; {'; '.join(rest)}" if rest else "")


# --- Istio AuthorizationPolicies (sidecar or ztunnel enforced) --------------------------------------

def _source_in_namespace(source: Mapping[str, Any], namespace: str) -> bool:
    """An AuthorizationPolicy ``source`` that matches a workload of ``namespace`` (namespaces or principals)."""
    if namespace in (source.get("notNamespaces") or []):
        return False
    names = source.get("namespaces")
    principals = source.get("principals")
    if names is None and principals is None:
        return True
    ok_names = names is not None and (namespace in names or "*" in names)
    ok_principals = principals is not None and any(
        p == "*" or f"/ns/{namespace}/" in str(p) for p in principals)
    return ok_names or ok_principals


def ap_admits(policy: Mapping[str, Any], namespace: str, port: int) -> bool:
    """An ALLOW AuthorizationPolicy with a rule admitting workloads of ``namespace`` to ``port`` (custom or
    generated: by namespaces or by principals ``.../ns/<namespace>/...``)."""
    spec = policy.get("spec") or {}
    if spec.get("action", "ALLOW") != "ALLOW":
        return False
    for rule in spec.get("rules") or []:
        sources = [f.get("source") or {} for f in rule.get("from") or []]
        operations = [t.get("operation") or {} for t in rule.get("to") or []]
        from_ok = not sources or any(_source_in_namespace(s, namespace) for s in sources)
        to_ok = not operations or any(not o.get("ports") or str(port) in [str(p) for p in o["ports"]]
                                      for o in operations)
        if from_ok and to_ok and rule.get("when") is None:
            return True
    return False


def ap_applies_to(policy: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    selector = ((policy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


# --- the two sides the doc talks about -------------------------------------------------------------

def eso_vault_traffic(eso: Rendered, vault: Rendered | None) -> Traffic:
    """ESO pods (rendered) -> Vault server pods (from the Vault render, else the documented labels) on 8200,
    under ALL the NetworkPolicies both renders hold; the egress side is the ESO package's."""
    servers = vault_server_pods(vault)
    others = [Pod(VAULT_NAMESPACE, labels, what) for what, labels in pod_templates(vault, VAULT_NAMESPACE, {})
              if not what.startswith("StatefulSet/")] if vault is not None else [
        Pod(VAULT_NAMESPACE, {"app.kubernetes.io/name": "vault-agent-injector"}, "injector pod (documented labels)")]
    return eso_to_vault(network_policies(eso, vault), eso_pods(eso), servers, others)


def vault_ingress_traffic(vault: Rendered, eso: Rendered | None) -> Traffic:
    """Who may reach the Vault server pods on 8200 under the Vault package's NetworkPolicies: pods labelled
    vault-ingress in any namespace (needed, as the doc says); an unlabelled pod and the rendered ESO pods (shown)."""
    policies = network_policies(vault, eso)
    servers = vault_server_pods(vault)
    labelled = [Pod(ns, VAULT_INGRESS_LABEL, f"a vault-ingress pod in {ns}") for ns in (ESO_NAMESPACE, "team-a")]
    unlabelled = [Pod(ESO_NAMESPACE, {"app": "other"}, f"an unlabelled pod in {ESO_NAMESPACE}")]
    shown_from = unlabelled + (eso_pods(eso) if eso is not None else [])
    return Traffic(tuple(admits(policies, src, dst, VAULT_PORT) for src in labelled for dst in servers),
                   tuple(admits(policies, src, servers[0], VAULT_PORT) for src in shown_from))


def renamed(traffic: Traffic, side: str, documented: str, kind: str = "NetworkPolicy") -> str:
    """The doc-defect line for a documented name this release does not render while the traffic holds."""
    return (f"doc defect: the doc names {kind} {documented}; this release renders none, and the same traffic is "
            f"admitted by {', '.join(traffic.admitting(side))}: the doc should name that policy")
