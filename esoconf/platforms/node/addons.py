"""The node's cluster add-ons, as pods (as kind runs them): CoreDNS behind the ``kube-dns`` Service, and kind's
NetworkPolicy enforcer (kube-network-policies) as a privileged hostNetwork DaemonSet with its RBAC."""

from __future__ import annotations

from typing import Any

from .configs import CLUSTER_DOMAIN
from .host import DNS_SERVICE_IP

SYSTEM = "kube-system"
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:{version}"
ENFORCER_IMAGE = "registry.k8s.io/networking/kube-network-policies:{version}"
ENFORCER_LABELS = {"app": "kube-network-policies"}
COREDNS_LABELS = {"k8s-app": "kube-dns"}
COREFILE = f""".:53 {{
    errors
    health :8080
    ready :8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
}}
"""


def _meta(name: str, namespace: str | None = SYSTEM, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    return meta


def _rbac(name: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(name, None),
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(name, None),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": SYSTEM}]},
    ]


def coredns_objects(image: str) -> list[dict[str, Any]]:
    rules = [
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]
    container = {
        "name": "coredns",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [{"containerPort": 53, "protocol": "UDP", "name": "dns"},
                  {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
        "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}},
    }
    return [
        *_rbac("coredns", rules),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("coredns"), "data": {"Corefile": COREFILE}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("coredns", labels=COREDNS_LABELS),
         "spec": {"replicas": 1, "selector": {"matchLabels": COREDNS_LABELS},
                  "template": {"metadata": {"labels": COREDNS_LABELS},
                               "spec": {"serviceAccountName": "coredns", "dnsPolicy": "Default",
                                        "priorityClassName": "system-cluster-critical",
                                        "tolerations": [{"operator": "Exists"}],
                                        "containers": [container],
                                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta("kube-dns", labels=COREDNS_LABELS),
         "spec": {"clusterIP": DNS_SERVICE_IP, "selector": COREDNS_LABELS,
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}},
    ]


def enforcer_objects(image: str, node_name: str) -> list[dict[str, Any]]:
    rules = [
        {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "watch"]},
    ]
    container = {
        "name": "kube-network-policies",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/netpol", f"--hostname-override={node_name}", "--disable-nri",
                    "--netfilter-bug-1766-fix=false", "--metrics-bind-address=127.0.0.1:9080", "--v=2"],
        "securityContext": {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}},
    }
    return [
        *_rbac("kube-network-policies", rules),
        {"apiVersion": "apps/v1", "kind": "DaemonSet",
         "metadata": _meta("kube-network-policies", labels=ENFORCER_LABELS),
         "spec": {"selector": {"matchLabels": ENFORCER_LABELS},
                  "template": {"metadata": {"labels": ENFORCER_LABELS},
                               "spec": {"hostNetwork": True, "serviceAccountName": "kube-network-policies",
                                        "priorityClassName": "system-node-critical",
                                        "tolerations": [{"operator": "Exists"}],
                                        "containers": [container]}}}},
    ]
