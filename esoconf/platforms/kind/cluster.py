"""The kind cluster: created or reused by name through pytest-kind's ``KindCluster`` with explicit, pinned binaries
(never pytest-kind's downloads, never its ``port_forward``), the node image pinned by digest from
manifests/versions.yaml, deleted only when this run created it and ``--keep-cluster`` is off; its config from
manifests/live/kind-config.yaml, with the API server address and certificate SANs of a remote Docker engine (GitLab's
``docker:dind``). Every kind command line is built by a pure function here (unit-tested) and run through
``esoconf.runner``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...config import ConfigError
from ...live.manifest_files import load_manifest
from ...runner import run

KIND_API_VERSION = "kind.x-k8s.io/v1alpha4"
VAULT_NODE_PORT = 30820
VAULT_HOST_PORT = 38200


# --- kind config ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    host_port: int
    listen_address: str = "127.0.0.1"


REMOTE_API_PORT = 6443  # the API server's fixed host port when the Docker engine is remote (dind)


def remote_docker_host(environ: Mapping[str, str]) -> str | None:
    """The Docker engine's host when it is another machine (``DOCKER_HOST=tcp://docker:2375``, GitLab's
    ``docker:dind`` service), else None: kind's API server port is published there, not on this machine."""
    url = environ.get("DOCKER_HOST", "")
    if not url.startswith(("tcp://", "https://")):
        return None
    host = url.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")
    return None if host in {"", "localhost", "127.0.0.1", "::1"} else host


def remote_api_config(host: str) -> dict[str, Any]:
    """kind config parts for a remote engine: the API server published on all of the engine's addresses at a
    fixed port, and ``host`` in the serving certificate's SANs (the job connects to it by that name)."""
    sans = [host, "localhost", "127.0.0.1"]
    patch = yaml.safe_dump({"kind": "ClusterConfiguration", "apiServer": {"certSANs": sans}})
    return {"networking": {"apiServerAddress": "0.0.0.0", "apiServerPort": REMOTE_API_PORT},
            "kubeadmConfigPatches": [patch]}


def rewrite_kubeconfig_server(text: str, host: str, port: int = REMOTE_API_PORT) -> str:
    """kind's kubeconfig names 0.0.0.0/127.0.0.1: point every cluster at ``host`` (the remote engine)."""
    doc = yaml.safe_load(text)
    for cluster in doc.get("clusters") or []:
        cluster["cluster"]["server"] = f"https://{host}:{port}"
    return yaml.safe_dump(doc)


def kind_config(
    *, node_image: str, port_mappings: Sequence[PortMapping] = (), workers: int = 0, api_host: str | None = None
) -> dict[str, Any]:
    """The kind cluster config from manifests/live/kind-config.yaml. Default CNI on purpose: kindnet
    enforces NetworkPolicy since kind v0.24. ``api_host``: the remote Docker engine's host (dind)."""
    config = load_manifest("kind-config.yaml")
    if config.get("apiVersion") != KIND_API_VERSION or config.get("networking", {}).get("disableDefaultCNI"):
        raise ConfigError(
            "manifests/live/kind-config.yaml must be kind.x-k8s.io/v1alpha4 with the default CNI"
        )
    control_plane: dict[str, Any] = {**config["nodes"][0], "image": node_image}
    if port_mappings:
        control_plane["extraPortMappings"] = [
            {
                "containerPort": m.container_port,
                "hostPort": m.host_port,
                "listenAddress": m.listen_address,
                "protocol": "TCP",
            }
            for m in port_mappings
        ]
    config["nodes"] = [control_plane] + [{"role": "worker", "image": node_image} for _ in range(workers)]
    if api_host:
        remote = remote_api_config(api_host)
        config["networking"] = {**(config.get("networking") or {}), **remote["networking"]}
        config["kubeadmConfigPatches"] = [*(config.get("kubeadmConfigPatches") or []), *remote["kubeadmConfigPatches"]]
    return config


def check_node_image(ref: str) -> None:
    if "@sha256:" not in ref:
        raise ConfigError(
            f"kind node image {ref!r} is not pinned by digest; pin kubernetes.node_images in "
            f"manifests/versions.yaml as kindest/node:<tag>@sha256:<digest>"
        )



# --- kind -------------------------------------------------------------------------------------------------


def kind_cmd(kind: Path, *args: str) -> list[str]:
    return [str(kind), *args]


def kind_get_clusters(kind: Path) -> list[str]:
    out = run(kind_cmd(kind, "get", "clusters"), timeout=60).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def kind_load_archive_cmd(kind: Path, name: str, archive: Path) -> list[str]:
    return kind_cmd(kind, "load", "image-archive", str(archive), "--name", name)


def kind_export_kubeconfig_cmd(kind: Path, name: str, kubeconfig: Path) -> list[str]:
    return kind_cmd(kind, "export", "kubeconfig", "--name", name, "--kubeconfig", str(kubeconfig))


def kind_delete_cmd(kind: Path, name: str, kubeconfig: Path | str) -> list[str]:
    return kind_cmd(kind, "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig))


@dataclass(frozen=True)
class ClusterDecision:
    create: bool
    delete_at_end: bool
    reason: str


def decide_cluster(name: str, existing: Sequence[str], *, keep_cluster: bool) -> ClusterDecision:
    """Create-or-reuse by name; delete at the end only what this run created, never with --keep-cluster."""
    if name in existing:
        return ClusterDecision(False, False, f"reusing kind cluster {name!r} (not created by this run: kept)")
    return ClusterDecision(
        True,
        not keep_cluster,
        f"creating kind cluster {name!r}" + (" (kept: --keep-cluster)" if keep_cluster else ""),
    )


@dataclass
class KindEnvironment:
    """A kind cluster driven through pytest-kind's ``KindCluster`` with our pinned binaries."""

    name: str
    kind: Path
    kubectl: Path
    node_image: str
    workdir: Path
    keep_cluster: bool = False
    decision: ClusterDecision | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def config_file(self) -> Path:
        return self.workdir / "kind-config.yaml"

    def up(self, *, port_mappings: Sequence[PortMapping] = ()) -> ClusterDecision:
        check_node_image(self.node_image)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.decision = decide_cluster(
            self.name, kind_get_clusters(self.kind), keep_cluster=self.keep_cluster
        )
        if not self.decision.create:
            run(kind_export_kubeconfig_cmd(self.kind, self.name, self.kubeconfig), timeout=60)
        api_host = remote_docker_host(os.environ)
        self.config_file.write_text(
            yaml.safe_dump(kind_config(node_image=self.node_image, port_mappings=port_mappings, api_host=api_host)),
            encoding="utf-8",
        )
        from pytest_kind.cluster import KindCluster  # imported late: pulls pykube/requests

        # explicit binaries: pytest-kind downloads nothing; reuse by name is KindCluster.create's own rule
        cluster = KindCluster(
            self.name,
            kubeconfig=self.kubeconfig,
            image=self.node_image,
            kind_path=self.kind,
            kubectl_path=self.kubectl,
        )
        cluster.create(config_file=self.config_file)
        if api_host:  # the job reaches the API server on the engine's host, as the certificate now names it
            self.kubeconfig.write_text(rewrite_kubeconfig_server(self.kubeconfig.read_text(), api_host))
        return self.decision

    def load_archive(self, archive: Path, timeout: float = 600) -> None:
        run(kind_load_archive_cmd(self.kind, self.name, archive), timeout=timeout)

    def down(self) -> bool:
        """Delete the cluster only if this run created it and it is not kept. True if deleted."""
        if self.decision is None or not self.decision.delete_at_end:
            return False
        run(kind_delete_cmd(self.kind, self.name, self.kubeconfig), timeout=300)
        return True

    def teardown_plan(self) -> dict[str, Any] | None:
        """What the last process of an xdist run must delete (JSON-able): a cluster this run created, not kept."""
        if self.decision is None or not self.decision.delete_at_end:
            return None
        return {"name": self.name, "kind": str(self.kind), "kubeconfig": str(self.kubeconfig)}


def delete_from_plan(spec: Mapping[str, Any]) -> bool:
    """Delete the kind cluster a worker created (xdist controller, after all workers finished)."""
    run(kind_delete_cmd(Path(spec["kind"]), spec["name"], spec["kubeconfig"]), timeout=300)
    return True
