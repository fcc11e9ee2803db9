"""The node platform in the core's registry (:mod:`esoconf.platforms`): its checks, its doctor row, its cluster
provider."""

from __future__ import annotations

from typing import Any

from ... import doctor as core_doctor
from .. import PlatformEntry, register
from . import doctor as node_doctor


def check_node(ctx: core_doctor.Context) -> core_doctor.CheckResult:
    """The node platform: root, network namespaces, containerd and the host packages, the cgroup mode, the
    enforcer's kernel path, its binaries (esoconf.platforms.node.doctor)."""
    problem = node_doctor.node_blockers(ctx.config) or None
    return core_doctor.result_row(
        "node", problem, f"root, netns, containerd, enforcer kernel path, binaries ok; cgroups "
        f"{node_doctor.cgroup_mode()} (scripts/tox -e node)", "run as root; apt-get install containerd runc "
        "containernetworking-plugins iptables nftables ipset conntrack socat busybox-static; python "
        "scripts/install-tools --if-missing --set local && python scripts/install-tools --if-missing "
        "--set node", ("node",))


def _provider(*args: Any) -> Any:
    from .provider import node_provider  # imported when a run makes a node

    return node_provider(*args)


def _attach(plan: Any) -> Any:
    from .provider import AttachedNode  # imported when another worker of the run made the node

    return AttachedNode.from_plan(plan)


ENTRY = register(PlatformEntry(
    "node", tox_env="node", blockers=lambda config: node_doctor.node_blockers(config), doctor_check=check_node,
    provider=_provider, attach=_attach))
