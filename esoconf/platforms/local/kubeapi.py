"""A real Kubernetes control plane without kubelet: etcd, kube-apiserver, kube-controller-manager.

Start order: etcd, then kube-apiserver (TLS, RBAC, the service-account issuer and signing key, API
audiences), then kube-controller-manager with the controllers the suite relies on: garbage collection
(``creationPolicy: Owner`` Secrets go with their ExternalSecret), namespace deletion and the
service-account controller (every new namespace gets its ``default`` ServiceAccount). No kubelet, no pods:
the ESO controller runs as a local process (:mod:`esoconf.platforms.local.eso_controller`).
"""

from __future__ import annotations

import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from .pki import ClusterPki, make_cluster_pki
from .processes import Supervisor, free_port

SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (SA_ISSUER,)
SERVICE_CIDR = "10.96.0.0/16"
KCM_CONTROLLERS = ("garbage-collector-controller", "namespace-controller", "serviceaccount-controller")


@dataclass(frozen=True)
class ControlPlane:
    """What the rest of the platform needs to talk to the local API server."""

    url: str
    pki: ClusterPki
    admin_kubeconfig: Path
    etcd_url: str


def kubeconfig(path: Path, server: str, ca: Path, *, user: dict[str, str], name: str = "local") -> Path:
    """A one-context kubeconfig for ``server`` (user: client cert/key paths or a token)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    path.chmod(0o600)
    return path


def _get(url: str, pki: ClusterPki, timeout: float = 2.0) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def etcd_argv(binary: Path, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [
        str(binary),
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync",  # a throw-away test store: no fsync, much less disk wait on CI
        "--log-level=warn",
    ]


def apiserver_argv(binary: Path, pki: ClusterPki, etcd_url: str, port: int, cert_dir: Path) -> list[str]:
    return [
        str(binary),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-account-key-file={pki.sa_public}",
        f"--service-account-signing-key-file={pki.sa_private}",
        f"--api-audiences={','.join(API_AUDIENCES)}",
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--endpoint-reconciler-type=none",  # no Endpoints for the loopback address
        "--disable-admission-plugins=ServiceAccount",  # no pods here (as envtest does)
        "--allow-privileged=true",
        "--v=1",
    ]


def controller_manager_argv(binary: Path, pki: ClusterPki, kubeconfig_path: Path, port: int) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig_path}",
        f"--authentication-kubeconfig={kubeconfig_path}",
        f"--authorization-kubeconfig={kubeconfig_path}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--controllers={','.join(KCM_CONTROLLERS)}",
        "--leader-elect=false",
        f"--root-ca-file={pki.ca_cert}",
        f"--service-account-private-key-file={pki.sa_private}",
        "--use-service-account-credentials=false",
        "--concurrent-gc-syncs=5",
        "--v=1",
    ]


def start_control_plane(
    supervisor: Supervisor,
    *,
    etcd: Path,
    kube_apiserver: Path,
    kube_controller_manager: Path,
    timeout: float = 60.0,
) -> ControlPlane:
    """etcd, then the API server (ready on /readyz), then the controller-manager (ready once the
    ``default`` ServiceAccount of namespace ``default`` exists: its service-account controller works)."""
    run = supervisor.run_dir
    pki = make_cluster_pki(run / "pki")
    client_port, peer_port = free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{client_port}"
    supervisor.start(
        "etcd",
        etcd_argv(etcd, run / "etcd", client_port, peer_port),
        ready=lambda: urllib.request.urlopen(etcd_url + "/health", timeout=2).status == 200,  # noqa: S310
        timeout=timeout,
        what=f"etcd answering /health on {etcd_url}",
    )
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    supervisor.start(
        "kube-apiserver",
        apiserver_argv(kube_apiserver, pki, etcd_url, port, run / "apiserver-certs"),
        ready=lambda: _get(url + "/readyz", pki) == (200, "ok"),
        timeout=timeout,
        what=f"kube-apiserver answering /readyz on {url}",
    )
    admin = kubeconfig(
        run / "admin.kubeconfig",
        url,
        pki.ca_cert,
        user={"client-certificate": str(pki.admin_cert), "client-key": str(pki.admin_key)},
    )
    supervisor.start(
        "kube-controller-manager",
        controller_manager_argv(kube_controller_manager, pki, admin, free_port()),
        ready=lambda: _get(url + "/api/v1/namespaces/default/serviceaccounts/default", pki)[0] == 200,
        timeout=timeout,
        what="kube-controller-manager: ServiceAccount default/default created",
    )
    return ControlPlane(url, pki, admin, etcd_url)
