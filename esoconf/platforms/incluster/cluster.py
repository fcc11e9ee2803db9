"""The cluster: kind (via pytest-kind's ``KindCluster``) or an existing one; helm and kubectl command lines.

kind: explicit, pinned binaries (never pytest-kind's downloads, never its ``port_forward``), node image
pinned by digest from manifests/versions.yaml, create-or-reuse by name, and a cluster is deleted only
when this run created it and ``--keep-cluster`` is off. Every helm/kubectl command line is built by a
pure function here (unit-tested) and run through ``esoconf.runner``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...config import ConfigError
from ...live.diagnostics import container_names
from ...live.images import ImageSet
from ...live.kube import RUN_LABEL, Kube
from ...live.manifest_files import load_manifest
from ...redact import REDACT
from ...runner import Result, run
from ...wait import Timeouts, wait_for
from .fingerprint import fingerprint
from .images import all_ready, image_failure

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


# --- access: kubeconfig + binaries -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach the cluster: a kubeconfig (+ context) and the tool binaries."""

    kubeconfig: Path
    context: str | None
    kubectl: Path
    helm: Path
    helm_env: Mapping[str, str] = field(default_factory=dict)

    def kubectl_cmd(self, *args: str) -> list[str]:
        cmd = [str(self.kubectl), "--kubeconfig", str(self.kubeconfig)]
        if self.context:
            cmd += ["--context", self.context]
        return [*cmd, *args]

    def helm_cmd(self, *args: str) -> list[str]:
        cmd = [str(self.helm), *args, "--kubeconfig", str(self.kubeconfig)]
        if self.context:
            cmd += ["--kube-context", self.context]
        return cmd

    def run_kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        return run(self.kubectl_cmd(*args), input=input, timeout=timeout).stdout

    def run_helm(self, args: Sequence[str], *, timeout: float = 600) -> Result:
        return run(self.helm_cmd(*args), env=dict(self.helm_env), timeout=timeout)


# --- helm command lines (pure) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartRef:
    """A chart as helm takes it: a local path, ``oci://`` (+ version) or repo URL + chart name (+ version)."""

    chart: str
    version: str | None = None
    repo: str | None = None

    def args(self) -> list[str]:
        out = [self.chart]
        if self.repo:
            out += ["--repo", self.repo]
        if self.version:
            out += ["--version", self.version]
        return out


def helm_upgrade_install(
    release: str,
    chart: ChartRef,
    namespace: str,
    *,
    values_file: Path | None = None,
    timeout_s: int = 600,
    wait: bool = False,
    create_namespace: bool = False,
    skip_crds: bool = False,
) -> list[str]:
    """``helm upgrade --install`` args. No ``--wait`` by default: readiness is watched by the caller so that
    image-pull and crash loops fail in seconds instead of at helm's timeout."""
    args = [
        "upgrade",
        "--install",
        release,
        *chart.args(),
        "--namespace",
        namespace,
        "--timeout",
        f"{timeout_s}s",
        "--history-max",
        "5",
    ]
    if values_file is not None:
        args += ["--values", str(values_file)]
    if wait:
        args += ["--wait"]
    if create_namespace:
        args += ["--create-namespace"]
    if skip_crds:
        args += ["--skip-crds"]
    return args


def helm_uninstall(release: str, namespace: str, *, timeout_s: int = 300) -> list[str]:
    return [
        "uninstall",
        release,
        "--namespace",
        namespace,
        "--wait",
        "--timeout",
        f"{timeout_s}s",
        "--ignore-not-found",
    ]


def helm_status(release: str, namespace: str) -> list[str]:
    return ["status", release, "--namespace", namespace, "--show-resources"]


def helm_get_values(release: str, namespace: str) -> list[str]:
    return ["get", "values", release, "--namespace", namespace, "--all", "--output", "json"]


def helm_list(namespace: str) -> list[str]:
    return ["list", "--namespace", namespace, "--output", "json"]


def write_values(values: Mapping[str, Any], directory: Path, release: str) -> Path:
    """The values helm reads, in a private folder (they may hold a token: Vault's dev root token), and a
    redacted copy under ``directory`` (the artifacts) for the record."""
    text = yaml.safe_dump(dict(values), sort_keys=True)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{release}.values.yaml").write_text(REDACT(text), encoding="utf-8")
    private = Path(tempfile.mkdtemp(prefix=f"esoconf-values-{release}-"))
    path = private / "values.yaml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


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
        run(
            kind_cmd(
                self.kind, "delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig)
            ),
            timeout=300,
        )
        return True


# --- helm-installed components ------------------------------------------------------------------------------


@dataclass
class Env:
    """What a component needs to install itself."""

    access: ClusterAccess
    kube: Kube
    timeouts: Timeouts
    images: ImageSet
    artifacts: Path
    run_id: str
    pull_secret: dict[str, Any] | None = (
        None  # the private-registry Secret (registry1), applied per namespace
    )
    mesh: bool = True  # Istio is installed (kind, existing); the node platform has none: charts get istio off
    local_images: bool = False  # images built here (node): the chart's wait-job hook runs with our kubectl image
    skip_crds: bool = False  # the CRDs are installed already (node, --local-crds controller): helm leaves crds/ alone

    def ensure_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": dict(labels or {})},
            }
        )
        self.ensure_pull_secret(name)

    def ensure_pull_secret(self, namespace: str) -> None:
        """The ``private-registry`` Secret in ``namespace`` (registry1 only; a no-op otherwise)."""
        if self.pull_secret is not None:
            meta = {**self.pull_secret["metadata"], "namespace": namespace}
            self.kube.apply({**self.pull_secret, "metadata": meta})

    def wait_pods(self, namespace: str, labels: Mapping[str, str], what: str) -> list[dict[str, Any]]:
        """Pods Ready; ImagePullBackOff/CrashLoopBackOff fail at once, naming pod and image (a first ErrImagePull
        is retried by kubelet: not final)."""
        return wait_for(
            lambda: self.kube.list("Pod", namespace, dict(labels)),
            lambda pods: all_ready(pods),
            timeout=self.timeouts.pod_ready,
            what=what,
            fail_if=image_failure,
            interval=self.timeouts.poll_interval,
        )


@dataclass
class HelmComponent:
    """install / ready / logs / uninstall for one helm release; subclasses give chart and values."""

    name: str = ""
    release: str = ""
    namespace: str = ""
    pod_selectors: tuple[dict[str, str], ...] = ()

    @property
    def chart(self) -> ChartRef:
        raise NotImplementedError

    def values(self, env: Env) -> dict[str, Any]:
        raise NotImplementedError

    def fingerprint_parts(self, env: Env) -> tuple[Any, ...]:
        return (self.chart, self.values(env))

    def fingerprint(self, env: Env) -> str:
        return fingerprint(self.name, *self.fingerprint_parts(env))

    def helm_install(self, env: Env, release: str, chart: ChartRef, values: Mapping[str, Any]) -> None:
        path = write_values(values, env.artifacts / "values", release)
        timeout = int(env.timeouts.helm_install)
        try:
            env.access.run_helm(
                helm_upgrade_install(release, chart, self.namespace, values_file=path, timeout_s=timeout,
                                     skip_crds=env.skip_crds),
                timeout=timeout + 60,
            )
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)  # the private copy (it may hold a token)

    def install(self, env: Env) -> None:
        self.helm_install(env, self.release, self.chart, self.values(env))

    def rendered(self, env: Env) -> list[dict[str, Any]]:
        """The objects ``helm template`` renders for this release with the values it is installed with."""
        path = write_values(self.values(env), env.artifacts / "values", self.release)
        try:
            out = env.access.run_helm(["template", self.release, *self.chart.args(), "--namespace", self.namespace,
                                       "--values", str(path)], timeout=120).stdout
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
        return [doc for doc in yaml.safe_load_all(out) if isinstance(doc, dict)]

    def ready(self, env: Env) -> None:
        for labels in self.pod_selectors:
            env.wait_pods(self.namespace, labels, f"{self.name} pods {labels} Ready")

    def logs(self, env: Env, tail: int = 300) -> dict[str, str]:
        """Current logs of every container of the component's pods, redacted (``<pod>.<container>``)."""
        out: dict[str, str] = {}
        for labels in self.pod_selectors:
            for pod in env.kube.list("Pod", self.namespace, dict(labels)):
                name = pod["metadata"]["name"]
                for container in container_names(pod):
                    try:
                        text = env.kube.logs(self.namespace, name, container, False, tail)
                    except Exception as exc:  # best effort: say why they are missing
                        text = f"<no logs: {type(exc).__name__}: {exc}>"
                    out[f"{name}.{container}"] = REDACT(text)
        return out

    def uninstall(self, env: Env) -> None:
        env.access.run_helm(helm_uninstall(self.release, self.namespace), timeout=400)


def without_mesh(values: dict[str, Any], env: Env) -> dict[str, Any]:
    """The chart's values with Istio off where the platform has no mesh (its CRDs do not exist there)."""
    if env.mesh:
        return values
    return {**values, "istio": {**(values.get("istio") or {}), "enabled": False}}


def run_labels(run_id: str) -> dict[str, str]:
    return {RUN_LABEL: run_id}
