"""Can the `node` platform run here? root, network namespaces, containerd and the host commands, the cgroup mode,
the enforcer's kernel path (nft ``queue``, or the xtables NFQUEUE target our adapted build uses), the binaries."""

from __future__ import annotations

import os
from pathlib import Path

from ...config import Config, ConfigError
from ...tools import find_tool
from .binaries import missing_host_commands
from .host import run_quiet

XT_QUEUE_PROBE = ["unshare", "--net", "--", "iptables-nft", "-A", "FORWARD", "-j", "NFQUEUE", "--queue-num", "100",
                  "--queue-bypass"]


def cgroup_mode(root: Path = Path("/sys/fs/cgroup")) -> str:
    if (root / "cgroup.controllers").is_file():
        return "v2"
    return "v1 (hybrid)" if (root / "unified").is_dir() else "v1"


def enforcer_kernel_path() -> tuple[str, str]:
    """("nft-queue" | "xt-nfqueue" | "", detail): how the enforcer can queue packets on this kernel."""
    from .cluster import kernel_has_nft_queue

    native, why = kernel_has_nft_queue()
    if native:
        return "nft-queue", "nft queue works: the enforcer as published"
    code, out = run_quiet(XT_QUEUE_PROBE)
    if code == 0:
        return "xt-nfqueue", f"no nft queue ({why}); xtables NFQUEUE works: our adapted enforcer build"
    return "", f"no nft queue ({why}) and no xtables NFQUEUE ({(out.splitlines() or ['?'])[0]})"


def node_checks(eso_version: str, cache: Path) -> list[tuple[str, bool, str]]:
    """(check, ok, detail) for each thing the node platform needs."""
    from .binaries import find_node_binaries

    root = os.geteuid() == 0
    checks = [("root", root, "root" if root else "needs root (network namespaces, containerd, kubelet)")]
    code, out = run_quiet(["unshare", "--net", "--", "true"])
    checks.append(("netns", code == 0, "network namespaces can be made" if code == 0 else f"unshare --net: {out}"))
    missing = missing_host_commands()
    checks.append(("host packages", not missing,
                   "containerd, runc, CNI plugins, iptables, nft, socat, busybox installed" if not missing else
                   "missing: " + ", ".join(missing) + ". Fix: apt-get install containerd runc "
                   "containernetworking-plugins iptables nftables ipset conntrack socat busybox-static"))
    checks.append(("cgroups", True, cgroup_mode()))
    if root and code == 0:
        path, detail = enforcer_kernel_path()
        checks.append(("enforcer kernel path", bool(path), detail))
    try:
        find_node_binaries(cache, eso_version, find_tool("kubectl", None).path)
        checks.append(("binaries", True, f"built ({cache})"))
    except ConfigError as exc:
        checks.append(("binaries", False, str(exc)))
    return checks


def node_blockers(config: Config) -> str:
    """Why the node platform cannot run here ("" when it can), one line."""
    from ..local.binaries import cache_dir
    from ..local.doctor import eso_version_for

    pinned = str(config.versions.get("local", {}).get("eso", {}).get("version", ""))
    problems = [f"{name}: {detail}" for name, ok, detail in node_checks(eso_version_for(config) or pinned, cache_dir())
                if not ok]
    for tool in ("helm", "kubectl"):
        try:
            find_tool(tool, config.values.get(tool))
        except ConfigError as exc:
            problems.append(str(exc))
    return "; ".join(problems)
