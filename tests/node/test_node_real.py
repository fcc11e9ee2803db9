"""The node platform for real (root and built binaries; `scripts/tox -e node` and `scripts/bench-node` run it):
bring-up, a pod answering through a Service, and a teardown that leaves nothing behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from esoconf.platforms.local.binaries import cache_dir
from esoconf.platforms.node import host
from esoconf.platforms.node.bench import leftovers
from esoconf.platforms.node.doctor import node_checks

pytestmark = [pytest.mark.e2e]


def _blockers() -> str:
    if os.geteuid() != 0:
        return "needs root"
    return "; ".join(f"{n}: {d}" for n, ok, d in node_checks("v0.16.2", cache_dir()) if not ok)


@pytest.mark.skipif(bool(_blockers()), reason=f"node platform cannot run here: {_blockers()}")
def test_the_node_comes_up_runs_pods_and_leaves_nothing_behind() -> None:
    from esoconf.platforms.node.binaries import find_node_binaries
    from esoconf.platforms.node.cluster import NodeCluster

    kubectl = Path(shutil.which("kubectl") or "kubectl")
    sysctls, cni_cache = host.read_sysctls(host.KUBELET_SYSCTLS), host.files_under(host.CNI_CACHE)
    cluster = NodeCluster(find_node_binaries(cache_dir(), "v0.16.2", kubectl), "pytest-node-real")
    try:
        cluster.up()
        assert cluster.kubectl("get", "node", "esoconf-node", "-o", "jsonpath={.status.nodeInfo.kubeletVersion}") \
            == "v1.34.4"
        pods = cluster.kubectl("get", "pods", "-n", "kube-system", "-o", "jsonpath={.items[*].status.phase}")
        assert pods.split() == ["Running", "Running"]  # CoreDNS and the enforcer
    finally:
        left = cluster.down()
    assert left == [] and leftovers(sysctls, cni_cache) == []
