"""What a node run makes on the host, as kinds of the one cleanup registry (:mod:`esoconf.cleanup`): its network
namespaces, the mounts below its run folder, the pod cgroups and the kernel settings kubelet changes. A run records
each one when it makes it; :meth:`esoconf.platforms.node.cluster.NodeCluster.down` undoes them in order, and when a
run is killed (SIGKILL included) its run folder's watchdog, or the next run with ``--clean-start``, removes what is left
with the same functions (this module is imported by the watchdog: keep it free of heavy imports)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from esoconf.cleanup import Resource, resource_kind

from . import host


def kill_cgroup_processes(names: Sequence[str]) -> None:
    """SIGKILL every process left in the pod cgroups (containers whose shim is gone)."""
    for top in (d for name in names for d in host.cgroup_dirs(name)):
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), 9)


def _remove_cgroups(resources: Sequence[Resource]) -> None:
    names = [r.ident for r in resources]
    kill_cgroup_processes(names)
    host.remove_cgroups(names)


def _saved(resource: Resource) -> dict[str, str]:
    return dict(json.loads(resource.detail.get("saved", "{}")))


def _unmount(resources: Sequence[Resource]) -> None:
    host.unmount_under([Path(r.ident) for r in resources])


def _remove_netns(resources: Sequence[Resource]) -> None:
    host.remove_netns([r.ident for r in resources])


def _restore_sysctls(resources: Sequence[Resource]) -> None:
    for resource in resources:
        host.restore_sysctls(_saved(resource))


# order: processes (10) first, then mounts, pod cgroups, namespaces; the kernel settings last
MOUNTS = resource_kind("node-mounts", present=lambda r: bool(host.mounts_under(Path(r.ident))), remove=_unmount,
                       order=30)
CGROUPS = resource_kind("node-cgroup", present=lambda r: bool(host.cgroup_dirs(r.ident)), remove=_remove_cgroups,
                        order=35)
NETNS = resource_kind("netns", present=lambda r: (host.NETNS_DIR / r.ident).exists(), remove=_remove_netns,
                      order=40)
SYSCTLS = resource_kind("sysctls", present=lambda r: host.read_sysctls(_saved(r)) != _saved(r),
                        remove=_restore_sysctls, order=45)


def netns(name: str) -> Resource:
    return Resource("netns", name, {"name": name}, module=__name__)


def cgroup(name: str) -> Resource:
    return Resource("node-cgroup", name, {"name": f"cgroup {name}"}, module=__name__)


def mounts(root: Path) -> Resource:
    return Resource("node-mounts", str(root), {"name": "mounts below the run folder"}, module=__name__)


def sysctls(saved: dict[str, str]) -> Resource:
    return Resource("sysctls", "kubelet", {"saved": json.dumps(saved), "name": ", ".join(sorted(saved))},
                    module=__name__)
