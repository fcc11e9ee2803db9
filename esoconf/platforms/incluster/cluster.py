"""Any cluster a provider made or reached: how to reach it (``ClusterAccess``), helm and kubectl command lines, and
the helm-installed components (``Env``, ``HelmComponent``). Every helm/kubectl command line is built by a pure
function here (unit-tested) and run through ``esoconf.runner``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...live.diagnostics import container_names
from ...live.images import ImageSet
from ...live.kube import RUN_LABEL, Kube
from ...redact import REDACT
from ...runner import Result, run
from ...wait import Timeouts, wait_for
from .fingerprint import fingerprint
from .images import all_ready, image_failure

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
