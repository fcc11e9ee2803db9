"""The NetworkPolicy canary: does this cluster's CNI enforce NetworkPolicy? A client pod connects to a
server pod before and after a deny policy; only a connection that worked before and is blocked after
proves enforcement. Any error of the canary itself is its verdict, never a platform failure."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...live.kube import RUN_LABEL, Kube
from ...live.manifest_files import load_yaml_documents
from ...report import one_line
from ...wait import Timeouts, wait_for
from .images import image_failure, pod_ready

NETPOL_NOT_ENFORCED = (
    "NetworkPolicy is not enforced by this cluster's CNI (a deny policy did not block the "
    "canary pod); tests that rely on it cannot pass or fail meaningfully: use kind >= v0.30 "
    "(kindnet) or a CNI that enforces NetworkPolicy (Calico, Cilium)"
)

NETPOL_UNVERIFIED = (
    "NetworkPolicy enforcement unverified (tests that rely on it cannot pass or fail meaningfully)"
)


PROBE_CONNECTED = "CONNECTED"
PROBE_BLOCKED = "BLOCKED"


def probe_command(ip: str, port: int = 8080, timeout_s: int = 3) -> list[str]:
    return [
        "sh",
        "-c",
        f"if nc -w {timeout_s} {ip} {port} </dev/null | grep -q ok; then echo {PROBE_CONNECTED}; "
        f"else echo {PROBE_BLOCKED}; fi",
    ]


def parse_probe(output: str) -> bool | None:
    """True connected, False blocked, None when the probe itself did not run."""
    if PROBE_CONNECTED in output:
        return True
    if PROBE_BLOCKED in output:
        return False
    return None


@dataclass(frozen=True)
class CanaryVerdict:
    enforced: bool
    detail: str


def canary_verdict(
    baseline: bool | None, after_deny: list[bool | None], after_allow: list[bool | None] | None = None
) -> CanaryVerdict:
    """Enforcement is proven when the same connection worked before the deny policy, was blocked by it, and
    (when an allow step ran) opened again with a policy allowing it: an enforcer that blocks everything, or a
    network that fails by itself, proves nothing."""
    if baseline is None:
        return CanaryVerdict(False, "canary inconclusive: the probe did not run (see canary pod logs)")
    if not baseline:
        return CanaryVerdict(False, "canary inconclusive: the connection failed even before the deny policy")
    if any(result is False for result in after_deny):
        if after_allow is not None and not any(after_allow):
            return CanaryVerdict(False, "canary inconclusive: the deny policy blocked the canary connection but "
                                        "the allow policy did not reopen it")
        opened = " and the allow policy reopened it" if after_allow is not None else ""
        return CanaryVerdict(True, f"NetworkPolicy enforced: the deny policy blocked the canary connection{opened}")
    if not after_deny or all(result is None for result in after_deny):
        return CanaryVerdict(False, "canary inconclusive: no probe ran after the deny policy")
    return CanaryVerdict(False, NETPOL_NOT_ENFORCED)


def allow_policy(namespace: str) -> dict[str, Any]:
    """Allows the canary client to the server's 8080 (next to the deny policy, which selects the same pod)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "canary-allow-client", "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {"app": "canary-server"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "canary-client"}}}],
                         "ports": [{"port": 8080, "protocol": "TCP"}]}],
        },
    }


def canary_manifests(namespace: str, image: str, run_id: str) -> list[dict[str, Any]]:
    text = (
        json.dumps(load_yaml_documents("canary.yaml")).replace("NAMESPACE", namespace).replace("IMAGE", image)
    )
    objs: list[dict[str, Any]] = json.loads(text)
    client = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "canary-client", "namespace": namespace, "labels": {"app": "canary-client"}},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [{"name": "client", "image": image, "command": ["sleep", "3600"]}],
        },
    }
    namespace_obj = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {RUN_LABEL: run_id, "istio-injection": "disabled"}},
    }
    return [namespace_obj, client, *objs]


def run_canary(kube: Kube, image: str, run_id: str, timeouts: Timeouts, attempts: int = 5) -> CanaryVerdict:
    """Any error of the canary itself (busybox not pulled in time, an API error) is its verdict, never a
    platform failure: only the tests that rely on NetworkPolicy are then unverified, with the reason."""
    namespace = f"eso-canary-{run_id}"
    try:
        return _canary(kube, namespace, image, run_id, timeouts, attempts)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]  # the why; the last state is in the pod's events
        return CanaryVerdict(False, f"canary inconclusive: {one_line(f'{type(exc).__name__}: {first}')}")
    finally:
        with contextlib.suppress(Exception):  # best effort; a leftover is removed by --clean-start
            kube.delete("Namespace", namespace)


def _canary(
    kube: Kube, namespace: str, image: str, run_id: str, timeouts: Timeouts, attempts: int
) -> CanaryVerdict:
    namespace_obj, client, server, deny = canary_manifests(namespace, image, run_id)
    for obj in (namespace_obj, client, server):
        kube.apply(obj)
    pods = wait_for(
        lambda: kube.list("Pod", namespace),
        lambda ps: len(ps) == 2 and all(pod_ready(p) for p in ps),
        timeout=max(timeouts.canary, timeouts.pod_ready),  # its pulls run next to the installs' cold pulls
        what="canary pods Ready",
        fail_if=image_failure,
        interval=timeouts.poll_interval,
    )
    ip = next(p["status"]["podIP"] for p in pods if p["metadata"]["name"] == "canary-server")

    def probe() -> bool | None:
        return parse_probe(kube.exec(namespace, "canary-client", probe_command(ip)))

    baseline = probe()
    for _ in range(attempts - 1):  # the server answers one connection at a time (kubelet probes too)
        if baseline:
            break
        time.sleep(2)
        baseline = probe()
    after: list[bool | None] = []
    if baseline:
        kube.apply(deny)
        after = _until(probe, False, attempts)  # policies take a moment to program
    if not any(result is False for result in after):
        return canary_verdict(baseline, after)
    kube.apply(allow_policy(namespace))
    return canary_verdict(baseline, after, _until(probe, True, attempts))


def _until(probe: Callable[[], bool | None], wanted: bool, attempts: int) -> list[bool | None]:
    results: list[bool | None] = []
    for _ in range(attempts):
        results.append(probe())
        if results[-1] is wanted:
            break
        time.sleep(2)
    return results
