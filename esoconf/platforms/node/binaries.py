"""Where the node platform's binaries are: the local platform's cache entries (``scripts/install-tools --set local``)
plus the node set (``--set node``: kubelet, kube-proxy, kube-scheduler, CoreDNS, the enforcer in two builds, our
pause), and the Debian packages (containerd, runc, ctr, the CNI plugins, iptables/nft, socat, busybox-static)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import load_versions
from ...tools import ToolError
from .host import run_quiet

NODE_INSTALL = "python scripts/install-tools --if-missing --set node"
LOCAL_INSTALL = "python scripts/install-tools --if-missing --set local"
DEBIAN_PACKAGES = ("containerd", "runc", "containernetworking-plugins", "iptables", "nftables", "ipset",
                   "conntrack", "socat", "busybox-static")
# command -> the Debian package that ships it
HOST_COMMANDS = {"containerd": "containerd", "ctr": "containerd", "runc": "runc", "nsenter": "util-linux",
                 "ip": "iproute2", "iptables": "iptables", "nft": "nftables", "ipset": "ipset",
                 "conntrack": "conntrack", "socat": "socat", "busybox": "busybox-static"}
CNI_BIN = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")


@dataclass(frozen=True)
class NodeBinaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubelet: Path
    kube_proxy: Path
    coredns: Path
    enforcer: Path  # as published
    enforcer_xtqueue: Path  # adapted for kernels without CONFIG_NFT_QUEUE
    pause: Path
    eso: Path
    vault: Path
    kubectl: Path
    versions: Mapping[str, str]  # component -> version

    def source(self, component: str) -> str:
        return self.versions.get(component, "")


def node_versions(versions: Mapping[str, Any], eso_version: str) -> dict[str, str]:
    local, node = versions["local"], versions.get("node") or {}
    kubernetes = str(local["kubernetes"]["version"])
    return {
        "etcd": "v" + str(local["etcd"]["registry_package"]).partition("==")[2],
        "openbao": "v" + str(local["openbao"]["registry_package"]).partition("==")[2],
        "kube-apiserver": kubernetes, "kube-controller-manager": kubernetes, "kube-scheduler": kubernetes,
        "kubelet": kubernetes, "kube-proxy": kubernetes,
        "coredns": str(node["coredns"]["version"]),
        "kube-network-policies": str(node["kube_network_policies"]["version"]),
        "kube-network-policies-xtqueue": str(node["kube_network_policies"]["version"]),
        "pause": "v1.0.0",
        "eso": eso_version,
    }


BINARY = {"openbao": "bao", "eso": "external-secrets", "kube-network-policies-xtqueue": "kube-network-policies"}


def binary_name(component: str) -> str:
    return BINARY.get(component, component)


def find_node_binaries(cache: Path, eso_version: str, kubectl: Path) -> NodeBinaries:
    """Every binary from the cache; a missing one is one ToolError line naming the install command."""
    versions = node_versions(load_versions(), eso_version)
    found: dict[str, Path] = {}
    missing: list[str] = []
    for component, version in versions.items():
        folder = cache / f"{component}-{version}"
        binary = folder / binary_name(component)
        if (folder / "manifest.json").is_file() and binary.is_file():
            found[component] = binary
        else:
            missing.append(f"{component} {version}")
    if missing:
        node_set = {"kubelet", "kube-proxy", "kube-scheduler", "coredns", "kube-network-policies", "pause"}
        names = {m.split()[0].removesuffix("-xtqueue") for m in missing}
        commands = [f"{LOCAL_INSTALL} --eso-version {eso_version}"] if names - node_set else []
        commands += [NODE_INSTALL] if names & node_set else []
        raise ToolError(f"node platform: not built yet: {', '.join(missing)} (cache {cache}). Fix: run "
                        f"{' && '.join(commands)}")
    return NodeBinaries(
        etcd=found["etcd"], kube_apiserver=found["kube-apiserver"],
        kube_controller_manager=found["kube-controller-manager"], kube_scheduler=found["kube-scheduler"],
        kubelet=found["kubelet"], kube_proxy=found["kube-proxy"], coredns=found["coredns"],
        enforcer=found["kube-network-policies"], enforcer_xtqueue=found["kube-network-policies-xtqueue"],
        pause=found["pause"], eso=found["eso"], vault=found["openbao"], kubectl=kubectl, versions=versions,
    )


def missing_host_commands() -> list[str]:
    """``command (Debian package)`` for each host command or CNI plugin that is not installed."""
    out = [f"{cmd} ({pkg})" for cmd, pkg in HOST_COMMANDS.items() if not shutil.which(cmd)]
    out += [f"CNI {name} (containernetworking-plugins)" for name in CNI_PLUGINS if not (CNI_BIN / name).is_file()]
    return out


def manifest_of(binary: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((binary.parent / "manifest.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def containerd_version() -> str:
    code, out = run_quiet(["containerd", "--version"])
    return out.split()[2] if code == 0 and len(out.split()) > 2 else "unknown"
