"""``NodeCluster``: a real single-node Kubernetes without Docker, in network namespaces the run makes.

Bring-up order: network namespaces -> etcd -> kube-apiserver (+ a loopback bridge so the suite reaches it) ->
kube-controller-manager, kube-scheduler, containerd -> images -> kubelet -> kube-proxy -> CoreDNS and the
enforcer as pods. Every daemon is started with ``nsenter --net=`` by the local platform's Supervisor (own
process group, stopped by PID). :meth:`NodeCluster.down` undoes everything, one function per resource kind,
also after a failed or interrupted bring-up, and returns what it could not undo (the benchmark checks it is
empty).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...cleanup import RunFolder
from ...live.platform import Phases
from ...redact import REDACT
from ...runner import run
from ...stops import EnvironmentNotReady
from ..local.kubeapi import _get as _https_get
from ..local.kubeapi import etcd_argv, kubeconfig
from ..local.pki import ClusterPki, make_cluster_pki
from ..local.processes import Supervisor, free_port
from . import host, resources
from .addons import (
    COREDNS_IMAGE,
    COREDNS_LABELS,
    ENFORCER_IMAGE,
    ENFORCER_LABELS,
    SYSTEM,
    coredns_objects,
    enforcer_objects,
)
from .binaries import NodeBinaries, containerd_version
from .configs import (
    API_PORT,
    NODE_NAME,
    SERVING_IPS,
    NodePaths,
    cni_config,
    containerd_config,
    kube_proxy_config,
    kubelet_config,
    node_apiserver_argv,
    node_controller_manager_argv,
)
from .imagebuild import FileEntry, ImageLoader, ImageRecipe, shell_files

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
PROBE_IMAGE = "docker.io/library/busybox:1.37.0"
NFT_QUEUE_PROBE = """table inet esoconf_probe {
  chain forward { type filter hook forward priority 0; queue num 100 bypass; }
}
"""


class NodeUnavailable(EnvironmentNotReady):
    """The node platform cannot be brought up here (one line; exit 2)."""


def kernel_has_nft_queue() -> tuple[bool, str]:
    """Whether nftables' native ``queue`` expression works (CONFIG_NFT_QUEUE), tried in a throw-away network
    namespace: (answer, the nft text that decided it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as handle:
        handle.write(NFT_QUEUE_PROBE)
    try:
        code, out = host.run_quiet(["unshare", "--net", "--", "nft", "-f", handle.name])
    finally:
        os.unlink(handle.name)
    first = (out.splitlines() or ["ok"])[0]
    return code == 0, "nft: " + first[first.find("Error:"):] if "Error:" in first else first


@dataclass
class Teardown:
    """What down() must undo, as plain data (the cleanup registry can hold it)."""

    run_dir: Path
    namespaces: tuple[str, ...] = ()
    sysctls: dict[str, str] = field(default_factory=dict)
    cni_netns_before: frozenset[str] = frozenset()
    cgroups: tuple[str, ...] = ("kubepods",)
    cni_cache_before: frozenset[str] | None = None


def new_cni_netns(before: frozenset[str]) -> list[str]:
    return sorted({p.name for p in host.NETNS_DIR.glob("cni-*")} - before) if host.NETNS_DIR.is_dir() else []


def shim_pids(socket: Path) -> list[int]:
    """containerd-shim processes serving this run's containerd (they outlive it by design)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
                if cmdline and cmdline[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in cmdline:
                    pids.append(int(proc.name))
    return pids


@dataclass
class NodeCluster:
    binaries: NodeBinaries
    run_id: str
    timeout: float = 90.0
    phases: Phases = field(default_factory=Phases)
    keep_dir: bool = False
    paths: NodePaths | None = None
    supervisor: Supervisor | None = None
    namespaces: host.Namespaces | None = None
    pki: ClusterPki | None = None
    kubeconfig: Path | None = None  # the suite's (host loopback bridge)
    url: str = ""
    images: ImageLoader | None = None
    enforcer_build: str = ""
    teardown: Teardown | None = None
    evidence: list[str] = field(default_factory=list)

    # --- bring-up ----------------------------------------------------------------------------------------

    def up(self) -> NodeCluster:
        # a marked, watched run folder (esoconf.cleanup): a killed run's leftovers are removed by its watchdog or
        # found by the next run; 0711, not 0700: pods running as non-root users reach their volumes below it, but
        # no local user can list it (the pod logs, where the Vault dev server prints its root token, are 0700)
        folder = RunFolder.create(f"node-{self.run_id[-8:]}")
        root = folder.path
        root.chmod(0o711)
        self.paths = NodePaths(root)
        self.supervisor = Supervisor(root)
        self.namespaces = host.Namespaces.for_run(self.run_id)
        atexit.register(self.down)  # the last resort; signals unwind through the fixtures to down()
        interrupt_on_sigterm()
        self.teardown = Teardown(root, self.namespaces.names, host.read_sysctls(host.KUBELET_SYSCTLS),
                                 frozenset(new_cni_netns(frozenset())),
                                 cni_cache_before=host.files_under(host.CNI_CACHE))
        # recorded before they exist: the watchdog removes only what is present
        for resource in (*map(resources.netns, self.namespaces.names), *map(resources.cgroup, self.teardown.cgroups),
                         resources.mounts(root), resources.sysctls(self.teardown.sysctls)):
            folder.track(resource)
        try:
            with self.phases.phase("node-network"):
                host.make_netns(self.namespaces)
            with self.phases.phase("node-control-plane"):
                self._control_plane()
            with self.phases.phase("node-runtime"):
                self._runtime()
            with self.phases.phase("node-kubelet"):
                self._kubelet()
            with self.phases.phase("node-addons"):
                self._addons()
        except BaseException as exc:
            self.down()
            if isinstance(exc, KeyboardInterrupt | NodeUnavailable):
                raise
            first = REDACT(str(exc)).strip().splitlines()[0] if str(exc).strip() else ""
            raise NodeUnavailable(f"node platform bring-up failed: {type(exc).__name__}: {first}") from exc
        return self

    def _start(self, name: str, argv: Sequence[str | Path], ready: Callable[[], object], what: str,
               netns: bool = True) -> None:
        assert self.supervisor is not None and self.namespaces is not None
        prefix = self.namespaces.enter() if netns else []
        self.supervisor.start(name, [*prefix, *argv], ready=ready, timeout=self.timeout, what=what)

    def in_node(self, *argv: str, timeout: float = 30) -> tuple[int, str]:
        assert self.namespaces is not None
        return host.run_quiet([*self.namespaces.enter(), *argv], timeout=timeout)

    def _control_plane(self) -> None:
        paths, binaries = self.paths, self.binaries
        assert paths is not None
        pki = self.pki = make_cluster_pki(paths.root / "pki", extra_ips=SERVING_IPS)
        self._start("etcd", etcd_argv(binaries.etcd, paths.root / "etcd", 2379, 2380),
                    lambda: self.in_node("socat", "-u", "/dev/null", "TCP:127.0.0.1:2379,connect-timeout=1")[0] == 0,
                    "etcd listening")
        admin = {"client-certificate": str(pki.admin_cert), "client-key": str(pki.admin_key)}
        inner = kubeconfig(paths.root / "node.kubeconfig", f"https://127.0.0.1:{API_PORT}", pki.ca_cert, user=admin)
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        self.kubeconfig = kubeconfig(paths.root / "admin.kubeconfig", self.url, pki.ca_cert, user=admin)
        self._start("kube-apiserver", node_apiserver_argv(binaries.kube_apiserver, pki, "http://127.0.0.1:2379",
                                                          paths.root / "apiserver-certs"),
                    lambda: True, "kube-apiserver started")
        # the suite's way in: host loopback -> a unix socket in the run folder -> the API server in the node
        self._start("api-bridge-node", ["socat", f"UNIX-LISTEN:{paths.api_socket},fork,mode=600",
                                        f"TCP:127.0.0.1:{API_PORT}"], lambda: paths.api_socket.exists(),
                    "API bridge socket")
        self._start("api-bridge-host", ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                                        f"UNIX-CONNECT:{paths.api_socket}"],
                    lambda: _https_get(self.url + "/readyz", pki) == (200, "ok"), "kube-apiserver /readyz",
                    netns=False)
        self._start("kube-controller-manager",
                    node_controller_manager_argv(binaries.kube_controller_manager, pki, inner),
                    lambda: _https_get(self.url + "/api/v1/namespaces/default/serviceaccounts/default", pki)[0]
                    == 200, "kube-controller-manager: ServiceAccount default/default")
        self._start("kube-scheduler", [binaries.kube_scheduler, f"--kubeconfig={inner}",
                                       f"--authentication-kubeconfig={inner}", f"--authorization-kubeconfig={inner}",
                                       "--leader-elect=false", "--bind-address=127.0.0.1", "--v=1"],
                    lambda: True, "kube-scheduler started")

    def _ctr(self) -> list[str]:
        assert self.paths is not None
        return ["ctr", "--address", str(self.paths.containerd_socket)]

    def _runtime(self) -> None:
        paths = self.paths
        assert paths is not None
        for folder in (paths.containerd, paths.cni_conf_dir, paths.cni_ipam_dir, paths.kubelet, paths.pod_logs):
            folder.mkdir(parents=True, exist_ok=True)
        paths.pod_logs.chmod(0o700)
        paths.containerd_config.write_text(containerd_config(paths, PAUSE_IMAGE), encoding="utf-8")
        (paths.cni_conf_dir / "10-esoconf.conflist").write_text(
            json.dumps(cni_config(paths, f"esoconf-{self.run_id[-12:]}"), indent=2), encoding="utf-8")
        self._start("containerd", ["containerd", "--config", paths.containerd_config],
                    lambda: host.run_quiet([*self._ctr(), "version"])[0] == 0, "containerd answering")
        has_queue, why = kernel_has_nft_queue()
        self.enforcer_build = "published" if has_queue else "xtqueue"
        self.evidence.append(
            "enforcer: kube-network-policies " + self.binaries.versions["kube-network-policies"]
            + (" as published (the kernel accepts nft queue)" if has_queue else
               f" with our NFQUEUE adaptation (this kernel refuses nft queue: {why})"))
        self.images = ImageLoader(self._ctr(), paths.root / "images")
        self.images.load(self.platform_images())

    def platform_images(self) -> dict[str, ImageRecipe]:
        b, v = self.binaries, self.binaries.versions
        enforcer = b.enforcer if self.enforcer_build == "published" else b.enforcer_xtqueue
        adapted = "" if self.enforcer_build == "published" else " with our NFQUEUE adaptation"
        return {
            PAUSE_IMAGE: ImageRecipe(f"our pause {v['pause']} (stand-in)", (FileEntry("pause", b.pause),),
                                     entrypoint=("/pause",)),
            PROBE_IMAGE: ImageRecipe("Debian busybox-static with applet links (stand-in; its wget segfaults: "
                                     "probes use nc)", shell_files(), cmd=("sh",)),
            COREDNS_IMAGE.format(version=v["coredns"]): ImageRecipe(
                f"CoreDNS {v['coredns']} built from Go modules", (FileEntry("coredns", b.coredns),),
                entrypoint=("/coredns",)),
            ENFORCER_IMAGE.format(version=v["kube-network-policies"]): ImageRecipe(
                f"kube-network-policies {v['kube-network-policies']}{adapted}",
                (FileEntry("bin/netpol", enforcer),), entrypoint=("/bin/netpol",)),
        }

    def _kubelet(self) -> None:
        paths, pki, binaries = self.paths, self.pki, self.binaries
        assert paths is not None and pki is not None
        config = paths.root / "kubelet.yaml"
        config.write_text(yaml.safe_dump(kubelet_config(paths, pki)), encoding="utf-8")
        self._start("kubelet", [binaries.kubelet, f"--config={config}",
                                f"--kubeconfig={paths.root / 'node.kubeconfig'}",
                                f"--root-dir={paths.kubelet}", f"--hostname-override={NODE_NAME}",
                                f"--node-ip={host.NODE_IP}", "--v=1"],
                    lambda: _https_get(f"{self.url}/api/v1/nodes/{NODE_NAME}", pki)[0] == 200, "node registered")
        proxy = paths.root / "kube-proxy.yaml"
        proxy.write_text(yaml.safe_dump(kube_proxy_config(paths.root / "node.kubeconfig")), encoding="utf-8")
        self._start("kube-proxy", [binaries.kube_proxy, f"--config={proxy}", "--v=1"],
                    lambda: self.in_node("iptables", "-t", "nat", "-S", "KUBE-SERVICES")[0] == 0,
                    "kube-proxy: KUBE-SERVICES programmed")

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        assert self.kubeconfig is not None
        return run([str(self.binaries.kubectl), "--kubeconfig", str(self.kubeconfig), *args], input=input,
                   timeout=timeout).stdout

    def _addons(self) -> None:
        v = self.binaries.versions
        objects = [*coredns_objects(COREDNS_IMAGE.format(version=v["coredns"])),
                   *enforcer_objects(ENFORCER_IMAGE.format(version=v["kube-network-policies"]), NODE_NAME)]
        self.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objects))
        self.kubectl("wait", "--for=condition=Ready", f"node/{NODE_NAME}", f"--timeout={int(self.timeout)}s",
                     timeout=self.timeout + 10)
        for labels in (ENFORCER_LABELS, COREDNS_LABELS):
            selector = ",".join(f"{k}={val}" for k, val in labels.items())
            self._wait_pods(SYSTEM, selector)

    def _wait_pods(self, namespace: str, selector: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            out = self.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
            pods = json.loads(out).get("items") or []
            ready = pods and all(any(c.get("type") == "Ready" and c.get("status") == "True"
                                     for c in (p.get("status") or {}).get("conditions") or []) for p in pods)
            if ready:
                return
            if time.monotonic() > deadline:
                states = [(p["metadata"]["name"], (p.get("status") or {}).get("containerStatuses")) for p in pods]
                raise NodeUnavailable(f"pods {namespace}/{selector} not Ready within {self.timeout:g}s: "
                                      f"{json.dumps(states)[:600]}")
            time.sleep(0.5)

    # --- teardown ----------------------------------------------------------------------------------------

    def delete_pods(self, timeout: float = 30) -> None:
        """Pods first, while kubelet runs: it stops the containers, runs CNI DEL and unmounts their volumes."""
        if self.kubeconfig is None or self.supervisor is None or "kubelet" not in self.supervisor.pids():
            return
        with contextlib.suppress(Exception):
            self.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--wait=false",
                         timeout=timeout)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                out = self.kubectl("get", "pods", "-A", "-o", "name", timeout=timeout)
                if not out.strip():
                    break
                time.sleep(1)

    def down(self) -> list[str]:
        """Undo everything this cluster made; returns what is left (empty when clean)."""
        left: list[str] = []
        atexit.unregister(self.down)
        with self.phases.phase("node-teardown"):
            self.delete_pods()
            if self.supervisor is not None:
                self.supervisor.stop_all()
            td = self.teardown
            if td is None:
                return left
            if self.paths is not None:
                for pid in shim_pids(self.paths.containerd_socket):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, 9)
            resources.kill_cgroup_processes(td.cgroups)
            left += host.remove_netns([*new_cni_netns(td.cni_netns_before), *td.namespaces])
            left += host.unmount_under([td.run_dir])
            left += host.remove_cgroups(td.cgroups)
            left += [f"sysctl {key}" for key in host.restore_sysctls(td.sysctls)]
            left += remove_container_log_links(td.run_dir)
            left += [f"file {path}" for path in host.remove_new_files(host.CNI_CACHE, td.cni_cache_before)]
            if not left and not self.keep_dir:
                RunFolder(td.run_dir).remove()  # what is still recorded (nothing, normally), the folder, its watchdog
            elif td.run_dir.exists():
                left.append(f"run folder {td.run_dir}" if left else "")
        return [item for item in left if item]


def interrupt_on_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the node is torn down instead of left running in
    its namespaces; only where nobody handles SIGTERM yet (a cleanup registry's own handler wins)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


CONTAINER_LOGS = Path("/var/log/containers")


def remove_container_log_links(run_dir: Path) -> list[str]:
    """kubelet's links in /var/log/containers that point into this run's pod logs."""
    left = []
    if CONTAINER_LOGS.is_dir():
        for link in CONTAINER_LOGS.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and str(os.readlink(link)).startswith(str(run_dir)):
                    link.unlink()
            if link.is_symlink() and str(os.readlink(link)).startswith(str(run_dir)):
                left.append(str(link))
    return left


def describe(cluster: NodeCluster) -> dict[str, Any]:
    return {"containerd": containerd_version(), "enforcer_build": cluster.enforcer_build,
            "images": dict(cluster.images.loaded) if cluster.images else {}}
