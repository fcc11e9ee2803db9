"""The node's configuration files, as pure functions of the run folder (unit-tested): containerd, the CNI
network, kubelet and kube-proxy, and the control plane's command lines for the node.

Every setting here was seen failing otherwise on a machine like ours (reference node-platform.md §3):
``restrict_oom_score_adj`` (no CAP_SYS_RESOURCE in the sandbox), ``cgroupfs`` + ``failCgroupV1: false``
(hybrid cgroup v1), ``conntrack`` sizes 0 (``nf_conntrack_max`` is not writable from a non-initial namespace),
``--kubelet-preferred-address-types=InternalIP`` (the node name does not resolve on the host).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..local.kubeapi import SA_ISSUER, apiserver_argv, controller_manager_argv
from ..local.pki import ClusterPki
from .host import API_SERVICE_IP, DNS_SERVICE_IP, NODE_IP, NODE_POD_CIDR, POD_CIDR, SERVICE_CIDR

NODE_NAME = "esoconf-node"
API_PORT = 6443
CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class NodePaths:
    """Where everything of one node run lives (a private folder; removed at the end)."""

    root: Path

    @property
    def containerd(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.containerd / "config.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def api_socket(self) -> Path:
        return self.root / "apiserver.sock"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def containerd_config(paths: NodePaths, sandbox_image: str) -> str:
    """containerd 1.6 (config version 2): own root/state/socket, CRI with our pause image and CNI folders."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    sections: list[tuple[str, dict[str, Any]]] = [
        ("", {"version": 2, "root": paths.containerd / "root", "state": paths.containerd / "state"}),
        ("grpc", {"address": paths.containerd_socket}),
        ("ttrpc", {"address": f"{paths.containerd_socket}.ttrpc"}),
        ('plugins."io.containerd.internal.v1.opt"', {"path": paths.containerd / "opt"}),
        (cri, {
            "sandbox_image": sandbox_image,
            # without it every pod fails: runc `nsexec: failed to update /proc/self/oom_score_adj: Permission denied`
            "restrict_oom_score_adj": True,
            "disable_apparmor": True,
            "stream_server_address": "127.0.0.1",
            "stream_server_port": "0",
        }),
        (f"{cri}.containerd", {"snapshotter": "overlayfs", "default_runtime_name": "runc"}),
        (f"{cri}.containerd.runtimes.runc", {"runtime_type": "io.containerd.runc.v2"}),
        (f"{cri}.containerd.runtimes.runc.options", {"SystemdCgroup": False}),
        (f"{cri}.cni", {"bin_dir": "/usr/lib/cni", "conf_dir": paths.cni_conf_dir, "max_conf_num": 1}),
    ]
    lines = []
    for header, values in sections:
        if header:
            lines.append(f"\n[{header}]")
        lines += [f"  {key} = {toml_value(value)}" if header else f"{key} = {toml_value(value)}"
                  for key, value in values.items()]
    return "\n".join(lines) + "\n"


def cni_config(paths: NodePaths, network: str) -> dict[str, Any]:
    """One bridge with host-local addresses from the node's pod range (its IPAM state in the run folder)."""
    return {
        "cniVersion": "0.4.0",
        "name": network,
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(paths.cni_ipam_dir),
                    "ranges": [[{"subnet": NODE_POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(paths: NodePaths, pki: ClusterPki) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,  # this machine's cgroups are v1 (hybrid); v1.34 accepts them when told so
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(pki.ca_cert)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "clusterDNS": [DNS_SERVICE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": "",  # no upstream DNS: nothing outside the node resolves
        "podLogsDir": str(paths.pod_logs),
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "registerNode": True,
        "rotateCertificates": False,
        "staticPodPath": "",
        "maxPods": 110,
    }


def kube_proxy_config(kubeconfig: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        "bindAddress": "0.0.0.0",
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        # nf_conntrack_max and the TCP timeouts are not writable from a non-initial network namespace
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def with_flags(argv: list[str], set_flags: dict[str, str | None]) -> list[str]:
    """``argv`` with each ``--name`` replaced by ``--name=value`` (dropped when the value is None), new ones added."""
    names = {flag.split("=", 1)[0] for flag in argv[1:]}
    out = [argv[0]]
    for flag in argv[1:]:
        name = flag.split("=", 1)[0]
        if name in set_flags:
            value = set_flags[name]
            if value is not None:
                out.append(f"{name}={value}")
        else:
            out.append(flag)
    out += [f"{name}={value}" for name, value in set_flags.items() if name not in names and value is not None]
    return out


def node_apiserver_argv(binary: Path, pki: ClusterPki, etcd_url: str, cert_dir: Path) -> list[str]:
    """The local platform's API server flags, for a cluster with a node: it serves the pods (on the node's
    address, a `kubernetes` Service endpoint), admits ServiceAccounts, reaches kubelets by InternalIP."""
    return with_flags(apiserver_argv(binary, pki, etcd_url, API_PORT, cert_dir), {
        "--bind-address": "0.0.0.0",
        "--advertise-address": NODE_IP,
        "--endpoint-reconciler-type": None,
        "--disable-admission-plugins": None,
        "--service-cluster-ip-range": SERVICE_CIDR,
        "--kubelet-preferred-address-types": "InternalIP",
        "--kubelet-client-certificate": str(pki.admin_cert),
        "--kubelet-client-key": str(pki.admin_key),
        "--service-account-issuer": SA_ISSUER,
    })


def node_controller_manager_argv(binary: Path, pki: ClusterPki, kubeconfig: Path) -> list[str]:
    """Every controller (node lifecycle lifts the not-ready taint; node IPAM gives the node its pod range)."""
    return with_flags(controller_manager_argv(binary, pki, kubeconfig, 10257), {
        "--controllers": "*",
        "--allocate-node-cidrs": "true",
        "--cluster-cidr": POD_CIDR,
        "--node-cidr-mask-size": "24",
        "--service-cluster-ip-range": SERVICE_CIDR,
        "--use-service-account-credentials": "true",
    })


SERVING_IPS = (NODE_IP, API_SERVICE_IP)
