"""``Platform``: cluster, images, Istio, Vault, ESO and seeding, installed in order, timed, reusable.

Order: cluster -> images -> Istio -> (Vault || ESO || NetworkPolicy canary) -> seeding. Each component is
skipped when ``--reuse-platform`` is on and its fingerprint matches the one stored in the cluster.
Phase durations go to ``<artifacts>/phases.json``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import doctor
from ..adapter import deep_merge
from ..charts import chart_info, resolve_chart
from ..config import Config, ConfigError, default_doc_for, is_remote_chart
from ..doc import load_doc
from ..redact import REDACT, write_redacted
from ..report import EnvironmentNotReady, one_line
from ..runner import run
from ..tools import find_tool
from ..wait import Timeouts, wait_for
from . import fingerprint as fp
from .cluster import (
    ChartRef,
    ClusterAccess,
    Env,
    HelmComponent,
    KindEnvironment,
    helm_status,
    kind_cmd,
    load_yaml_documents,
    node_image_for,
)
from .diagnostics import Diagnostics, PodLogs
from .diagnostics import summary as diagnostics_summary
from .eso import (
    CONTROLLER_SELECTOR,
    ESO_NAMESPACE,
    ESO_RELEASE,
    EsoComponent,
    doc_eso_values,
    doc_vault_authorization_policies,
    image_overrides,
)
from .images import (
    image_archives,
    image_failure,
    image_set,
    pod_ready,
    pull_secret_manifest,
    registry_credentials,
)
from .istio import ISTIO_NAMESPACE, IstioComponent
from .kube import RUN_LABEL, Kube
from .portforward import PortForward
from .vault import (
    DEFAULT_PLAN,
    DEV_ROOT_TOKEN,
    SERVER_POD_SELECTOR,
    VAULT_NAMESPACE,
    VAULT_PORT,
    VAULT_RELEASE,
    VAULT_SERVICE,
    VAULT_URL_IN_CLUSTER,
    SeedPlan,
    SeedResult,
    VaultComponent,
    VaultSeeder,
    doc_authorization_policy_objects,
    seed,
    token_secret_manifest,
)

# ESO controller (manager + istio-proxy), Vault server (vault + istio-proxy): current + previous
DIAGNOSTIC_LOGS = (
    PodLogs("eso", ESO_NAMESPACE, CONTROLLER_SELECTOR),
    PodLogs("vault", VAULT_NAMESPACE, SERVER_POD_SELECTOR),
)
NETPOL_NOT_ENFORCED = (
    "NetworkPolicy is not enforced by this cluster's CNI (a deny policy did not block the "
    "canary pod); tests that rely on it cannot pass or fail meaningfully: use kind >= v0.30 "
    "(kindnet) or a CNI that enforces NetworkPolicy (Calico, Cilium)"
)

NETPOL_UNVERIFIED = (
    "NetworkPolicy enforcement unverified (tests that rely on it cannot pass or fail meaningfully)"
)


class PlatformUnavailable(EnvironmentNotReady):
    """The live platform cannot be set up here; the message is one line with the reason and the fix."""


# --- phases -----------------------------------------------------------------------------------------------


@dataclass
class Phases:
    durations: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = self.clock()
        try:
            yield
        finally:
            with self._lock:
                self.durations[name] = round(self.durations.get(name, 0.0) + self.clock() - start, 3)

    def note(self, name: str, text: str) -> None:
        with self._lock:
            self.notes[name] = text

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps({"phases": self.durations, "notes": self.notes}, indent=2), encoding="utf-8"
        )


# --- NetworkPolicy canary ---------------------------------------------------------------------------------

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


def canary_verdict(baseline: bool | None, after_deny: list[bool | None]) -> CanaryVerdict:
    """The canary only proves enforcement when the same connection worked before the deny policy."""
    if baseline is None:
        return CanaryVerdict(False, "canary inconclusive: the probe did not run (see canary pod logs)")
    if not baseline:
        return CanaryVerdict(False, "canary inconclusive: the connection failed even before the deny policy")
    if any(result is False for result in after_deny):
        return CanaryVerdict(True, "NetworkPolicy enforced: the deny policy blocked the canary connection")
    if not after_deny or all(result is None for result in after_deny):
        return CanaryVerdict(False, "canary inconclusive: no probe ran after the deny policy")
    return CanaryVerdict(False, NETPOL_NOT_ENFORCED)


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
        timeout=timeouts.canary,
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
        for _ in range(attempts):  # policies take a moment to program
            after.append(probe())
            if after[-1] is False:
                break
            time.sleep(2)
    return canary_verdict(baseline, after)


# --- chart sources (upgrade_eso) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartSources:
    """Where other releases of the ESO package come from (the upgrade test installs an older one)."""

    configured: str | None  # --chart as given (may be local or remote)
    pinned_git: str  # manifests/versions.yaml charts.external_secrets.git
    fetch: Callable[[str, str | None], Path] = field(repr=False)  # remote ref + version -> local chart

    def source(self, chart: str | None, version: str | None) -> tuple[str, str | None]:
        """(chart ref, version) for ``upgrade_eso(chart=, version=)``; one-line ConfigError when ambiguous."""
        if chart is None:
            if not version:
                raise ConfigError("upgrade_eso: give version= (a package release) or chart=")
            remote = self.configured if self.configured and is_remote_chart(self.configured) else None
            return remote or self.pinned_git, version
        if is_remote_chart(chart):
            if not version:
                raise ConfigError(f"upgrade_eso: chart {chart} is remote: also give version=")
            return chart, version
        if version:
            raise ConfigError(
                f"upgrade_eso: chart {chart} is a local chart (one version); drop version= or give a remote chart"
            )
        return chart, None

    def resolve(self, chart: str, version: str | None) -> Path:
        return Path(chart).resolve() if version is None else self.fetch(chart, version)


# --- leftovers of earlier runs (--clean-start) -----------------------------------------------------------

# cluster-scoped objects the suites create (names carry the test namespace and the run id) and the
# extra ALLOW policies they add next to Vault: a leftover ALLOW would let a negative case pass by accident
LEFTOVER_KINDS: tuple[tuple[str, str | None], ...] = (
    ("ClusterSecretStore", None),
    ("ClusterRole", None),
    ("ClusterRoleBinding", None),
    ("AuthorizationPolicy", VAULT_NAMESPACE),
)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _run_label(obj: Mapping[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(RUN_LABEL)


def leftovers(
    namespaces: list[dict[str, Any]],
    objects: Mapping[tuple[str, str | None], list[dict[str, Any]]],
    current_run: str,
    previous_runs: tuple[str, ...] = (),
) -> list[tuple[str, str, str | None]]:
    """(kind, name, namespace) of what earlier runs left: namespaces labelled with another run id, and
    objects that carry another run's label, contain a leftover namespace's name, or end in ``-<run id>``
    of a leftover run (``previous_runs``: e.g. the run recorded in the fingerprint ConfigMap)."""
    old_namespaces = [ns for ns in namespaces if _run_label(ns) not in (None, current_run)]
    names = {_name(ns) for ns in old_namespaces}
    runs = {str(_run_label(ns)) for ns in old_namespaces} | {r for r in previous_runs if r and r != current_run}
    found: list[tuple[str, str, str | None]] = [("Namespace", name, None) for name in sorted(names)]
    for (kind, namespace), items in objects.items():
        for obj in items:
            name, label = _name(obj), _run_label(obj)
            if label == current_run or (label is None and current_run in name):
                continue
            if (
                label is not None
                or any(ns in name for ns in names)
                or any(name.endswith(f"-{run}") for run in runs)
            ):
                found.append((kind, name, namespace))
    return found


def _list_if_served(kube: Kube, kind: str, namespace: str | None) -> list[dict[str, Any]]:
    """A fresh cluster has no ESO/Istio CRDs yet: nothing of that kind can be left over."""
    try:
        return kube.list(kind, namespace)
    except Exception as exc:
        if type(exc).__name__ == "ResourceNotFoundError" or getattr(exc, "status", None) == 404:
            return []
        raise


def clean_start(kube: Kube, run_id: str, previous_run: str | None) -> list[tuple[str, str, str | None]]:
    """Delete leftovers of earlier runs (see :func:`leftovers`); returns what was deleted."""
    objects = {key: _list_if_served(kube, *key) for key in LEFTOVER_KINDS}
    found = leftovers(kube.list("Namespace"), objects, run_id, (previous_run,) if previous_run else ())
    for kind, name, namespace in found:
        kube.delete(kind, name, namespace)
    return found


# --- the platform ------------------------------------------------------------------------------------------


@dataclass
class Platform:
    kube: Kube
    vault: VaultSeeder
    vault_url: str
    eso_namespace: str
    eso_release: str
    eso_version: str
    run_id: str
    timeouts: Timeouts
    netpol_enforced: bool = False
    netpol_detail: str = "canary not run"
    seed: SeedResult | None = None
    phases: Phases = field(default_factory=Phases)
    env: Env | None = field(default=None, repr=False)
    eso_component: EsoComponent | None = field(default=None, repr=False)
    vault_component: VaultComponent | None = field(default=None, repr=False)
    charts: ChartSources | None = field(default=None, repr=False)
    _installed_values: dict[str, Any] = field(default_factory=dict, repr=False)

    def _need_env(self) -> Env:
        if self.env is None or self.eso_component is None:
            raise RuntimeError("Platform was built without an install environment")
        return self.env

    def collect_diagnostics(self, test_namespace: str | None, dest: Path) -> str:
        """Failure diagnostics (redacted files under ``dest``); returns a short report section."""
        env = self._need_env()

        def status(release: str, namespace: str) -> str:
            return env.access.run_helm(helm_status(release, namespace), timeout=60).stdout

        releases = [
            ("istiod", ISTIO_NAMESPACE),
            (VAULT_RELEASE, VAULT_NAMESPACE),
            (self.eso_release, self.eso_namespace),
        ]
        Diagnostics(self.kube, status, releases, DIAGNOSTIC_LOGS).collect(test_namespace, dest)
        return diagnostics_summary(dest)

    def require_netpol_enforcement(self) -> None:
        """Fail (never skip) a test that relies on NetworkPolicy when the CNI does not enforce it."""
        __tracebackhide__ = True
        if not self.netpol_enforced:
            import pytest

            pytest.fail(
                NETPOL_NOT_ENFORCED
                if self.netpol_detail == NETPOL_NOT_ENFORCED
                else f"{NETPOL_UNVERIFIED}: {self.netpol_detail}",
                pytrace=False,
            )

    def eso_values(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._installed_values))

    def eso_pods(self) -> list[dict[str, Any]]:
        return self.kube.list("Pod", self.eso_namespace, {"app.kubernetes.io/name": "external-secrets"})

    def install_eso(self, release: str, values: dict[str, Any], *, namespace: str | None = None) -> None:
        env = self._need_env()
        assert self.eso_component is not None
        extra = EsoComponent(
            chart_ref=self.eso_component.chart_ref,
            release=release,
            namespace=namespace or self.eso_namespace,
            pod_selectors=({"app.kubernetes.io/instance": release},),
        )
        if self.kube.get("Namespace", extra.namespace) is None:
            env.ensure_namespace(extra.namespace, {"istio-injection": "enabled", RUN_LABEL: self.run_id})
        else:  # e.g. the test's namespace: keep its labels, add only the pull secret
            env.ensure_pull_secret(extra.namespace)
        extra.helm_install(env, release, extra.chart, deep_merge(image_overrides(env.images), values))
        extra.ready(env)

    def upgrade_eso(
        self,
        values_override: dict[str, Any] | None = None,
        *,
        chart: str | None = None,
        version: str | None = None,
    ) -> None:
        """Upgrade (or downgrade) the primary ESO release. No ``chart``/``version``: the candidate chart.
        ``version`` alone: that release of the package (the remote ``--chart`` at that version, else the
        pinned git repo at that tag); ``chart`` + ``version``: a remote chart at that version; ``chart``
        alone: a local chart. Remote charts are fetched (cached) to a local path helm can install."""
        env = self._need_env()
        component = self.eso_component
        assert component is not None
        ref = component.chart_ref
        if chart is not None or version is not None:
            if self.charts is None:
                raise RuntimeError("Platform was built without chart sources; cannot switch the ESO chart")
            ref = ChartRef(str(self.charts.resolve(*self.charts.source(chart, version))))
        values = deep_merge(component.values(env), values_override or {})
        component.helm_install(env, component.release, ref, values)
        component.ready(env)
        self._installed_values = values

    def uninstall_eso(self, release: str, *, namespace: str | None = None) -> None:
        env = self._need_env()
        HelmComponent(release=release, namespace=namespace or self.eso_namespace).uninstall(env)

    def set_vault_authorization_policy(self, present: bool) -> None:
        """Remove/restore the doc's ALLOW AP on Vault (serial tests only; helm re-creates it on upgrade)."""
        assert self.vault_component is not None
        for obj in doc_authorization_policy_objects(self.vault_component.custom_authorization_policies):
            if present:
                self.kube.apply(obj)
            else:
                self.kube.delete("AuthorizationPolicy", obj["metadata"]["name"], VAULT_NAMESPACE, wait=True)


# --- setup ------------------------------------------------------------------------------------------------


def new_run_id() -> str:
    """Shared by every xdist worker of one run (PYTEST_XDIST_TESTRUNUID), else random."""
    shared = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return shared[:8].lower() if shared else secrets.token_hex(4)


def preflight(config: Config) -> None:
    """One line and stop when the platform cannot be built here (mirrors the doctor's e2e checks)."""
    ctx = doctor.Context(config)
    for check in (doctor.check_docker, doctor.check_cluster):
        result = check(ctx)
        if not result.ok:
            raise PlatformUnavailable(
                f"live platform cannot start: {result.name}: {result.detail}. Fix: {result.fix}"
            )


@dataclass
class Session:
    """Everything setup created, so teardown can undo exactly that."""

    platform: Platform
    kind: KindEnvironment | None
    port_forward: PortForward
    installed_now: list[HelmComponent]
    keep: bool

    def close(self, *, deferred: bool = False) -> None:
        """Stop the port-forward and undo what this run created. ``deferred`` (an xdist worker): other
        workers may still be running, so cluster teardown is left to :func:`teardown_from_plan`."""
        self.port_forward.close()
        if deferred:
            return
        env = self.platform.env
        if self.kind is None and not self.keep and env is not None:
            for component in reversed(self.installed_now):  # existing cluster: undo only what this run added
                component.uninstall(env)
        if self.kind is not None:
            self.kind.down()

    def teardown_plan(self) -> dict[str, Any]:
        """What the last process of an xdist run must delete (JSON-able)."""
        kind = self.kind
        if kind is None or kind.decision is None or not kind.decision.delete_at_end:
            return {"kind": None}
        return {"kind": {"name": kind.name, "kind": str(kind.kind), "kubeconfig": str(kind.kubeconfig)}}


def teardown_from_plan(plan: Mapping[str, Any]) -> bool:
    """Delete the kind cluster a worker created (xdist controller, after all workers finished)."""
    spec = plan.get("kind")
    if not spec:
        return False
    run(
        kind_cmd(
            Path(spec["kind"]),
            "delete",
            "cluster",
            "--name",
            spec["name"],
            "--kubeconfig",
            spec["kubeconfig"],
        ),
        timeout=300,
    )
    return True


NAMESPACE_MAX = 63


def namespace_name(test_name: str, rand: str | None = None) -> str:
    """``e2e-<case>-<random>``: DNS-1123, at most 63 characters, the case part shortened first."""
    rand = rand or secrets.token_hex(3)
    case = re.sub(r"[^a-z0-9]+", "-", test_name.lower().removeprefix("test_")).strip("-") or "case"
    room = NAMESPACE_MAX - len("e2e--") - len(rand)
    return f"e2e-{case[:room].rstrip('-')}-{rand}"


def namespace_manifest(name: str, run_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {RUN_LABEL: run_id, "istio-injection": "enabled"}},
    }


def _chart(
    config: Config, versions: Mapping[str, Any], which: str, cache: Path, helm: Path, helm_env: dict[str, str]
) -> Path:
    pin = versions["charts"][which]
    option = "--chart" if which == "external_secrets" else "--vault-chart"
    ref = config.chart if which == "external_secrets" else config.vault_chart
    version = config.chart_version if which == "external_secrets" else config.vault_chart_version
    if not ref:
        ref, version = pin["git"], pin["version"]
    return resolve_chart(ref, version, cache_dir=cache, helm=helm, helm_env=helm_env, option=option)


class ChartUnderTestFailed(AssertionError):
    """The ESO chart under test did not install or become ready: a chart failure, not the environment's."""


@dataclass
class _SetupState:
    """What setup has built so far, for the failure path (diagnostics, then cleanup)."""

    kind: KindEnvironment | None = None
    env: Env | None = None
    components: list[HelmComponent] = field(default_factory=list)


def setup(
    config: Config, run_id: str, timeouts: Timeouts, artifacts: Path, *, attach: bool = False
) -> Session:
    """Build the platform. ``attach``: another xdist worker of this run built it; verify and connect.

    On failure: the components' logs go to ``artifacts/diagnostics/platform-setup/`` first, then a kind cluster
    this run created is deleted (unless --keep-cluster or --keep-on-failure). A failure of the chart under test
    is a chart failure (:class:`ChartUnderTestFailed`); anything else is the environment's
    (:class:`PlatformUnavailable`, exit code 2).
    """
    state = _SetupState()
    try:
        return _setup(config, run_id, timeouts, artifacts, attach=attach, state=state)
    except Exception as exc:
        _setup_diagnostics(state, artifacts / "diagnostics" / "platform-setup")
        if state.kind is not None and not config.keep_on_failure:
            state.kind.down()  # only a cluster this run created and nobody asked to keep
        if isinstance(exc, PlatformUnavailable | ChartUnderTestFailed | ConfigError):
            raise
        first = REDACT(str(exc)).strip().splitlines()[0] if str(exc).strip() else ""
        raise PlatformUnavailable(f"platform setup failed: {type(exc).__name__}: {first} (diagnostics: "
                                  f"{artifacts / 'diagnostics' / 'platform-setup'})") from exc


def _setup_diagnostics(state: _SetupState, dest: Path) -> None:
    if state.env is None:
        return
    for component in state.components:
        try:
            for name, text in component.logs(state.env).items():
                write_redacted(dest / component.name / f"{name}.log", text)
        except Exception as exc:  # best effort: never hide the setup failure itself
            write_redacted(dest / component.name / "logs-missing.txt", f"{type(exc).__name__}: {exc}")


def _setup(
    config: Config, run_id: str, timeouts: Timeouts, artifacts: Path, *, attach: bool, state: _SetupState
) -> Session:
    preflight(config)
    phases = Phases()
    versions = config.versions
    helm_env = doctor.helm_env()
    helm = find_tool("helm", config.helm).path
    kubectl = find_tool("kubectl", config.kubectl).path
    # inputs first (charts, then the doc, which may live in the chart's git clone): fail before any cluster work
    cache = artifacts / "cache"
    eso_chart = _chart(config, versions, "external_secrets", cache, helm, helm_env)
    vault_chart = _chart(config, versions, "vault", cache, helm, helm_env)
    if not config.doc:
        found = default_doc_for(str(eso_chart))
        if found is not None:  # shared with the suites' doc_shapes fixture through the config
            config.values["doc"], config.sources["doc"] = str(found), "chart repo"
    if not config.doc:
        raise PlatformUnavailable(
            "live platform needs the doc under test: pass --doc VAULT_INTEGRATION.md "
            "(or a --chart inside the package repo)"
        )
    doc = load_doc(config.doc)
    kind_env: KindEnvironment | None = None
    with phases.phase("cluster"):
        if config.kubeconfig:
            access = ClusterAccess(Path(config.kubeconfig), config.kube_context, kubectl, helm, helm_env)
        else:
            kind_env = KindEnvironment(
                config.cluster_name,
                find_tool("kind", config.kind).path,
                kubectl,
                node_image_for(versions, config.kubernetes_version),
                artifacts / "kind",
                keep_cluster=bool(config.keep_cluster),
            )
            state.kind = kind_env
            phases.note("cluster", kind_env.up().reason)
            access = ClusterAccess(kind_env.kubeconfig, None, kubectl, helm, helm_env)
    kube = Kube.connect(str(access.kubeconfig), access.context, access.kubectl_cmd(), timeouts)
    images = image_set(
        config.images,
        versions,
        config.eso_image if config.source("eso_image") != "versions.yaml" else None,
        vault_version=config.vault_version,
        istio_version=config.istio_version,
    )
    env = state.env = Env(access, kube, timeouts, images, artifacts, run_id)
    with phases.phase("images"):
        if images.needs_pull_secret:
            username, password = registry_credentials(os.environ)
            env.pull_secret = pull_secret_manifest("default", username, password)
        elif config.images == "airgap":
            if kind_env is None:
                raise ConfigError(
                    "--images airgap loads tarballs into kind; with --kubeconfig preload the images"
                )
            for archive in image_archives(config.image_archive_dir):
                kind_env.load_archive(archive)
    istio = IstioComponent(  # --istio-version (default: versions.yaml) picks the charts and, above, the images
        version=str(config.istio_version or versions["charts"]["istio"]["version"]),
        repo=str(versions["charts"]["istio"]["repo"]),
    )
    vault_c = VaultComponent(
        chart_ref=ChartRef(str(vault_chart)),
        custom_authorization_policies=doc_vault_authorization_policies(doc),
    )
    eso_c = EsoComponent(chart_ref=ChartRef(str(eso_chart)), doc_values=doc_eso_values(doc))
    components: list[HelmComponent] = [istio, vault_c, eso_c]
    state.components = components
    wanted = {c.name: c.fingerprint(env) for c in components}
    stored_cm = kube.get("ConfigMap", fp.CONFIGMAP_NAME, fp.CONFIGMAP_NAMESPACE)
    stored = fp.installed_fingerprints(stored_cm)
    decisions = {
        d.component: d
        for d in fp.decide(
            [c.name for c in components],
            wanted,
            stored,
            reuse=bool(config.reuse_platform) or attach,
            depends_on={"vault": ["istio"], "eso": ["istio"]},
        )
    }
    installed_now = [c for c in components if decisions[c.name].action is fp.Action.INSTALL]

    def bring_up(component: HelmComponent) -> None:
        with phases.phase(component.name):
            decision = decisions[component.name]
            phases.note(component.name, f"{decision.action.value}: {decision.reason}")
            if decision.action is not fp.Action.SKIP:
                component.install(env)
            component.ready(env)

    if config.clean_start and not attach:
        removed = clean_start(kube, run_id, fp.recorded_run_id(stored_cm))
        phases.note("clean-start", f"deleted {len(removed)} leftover objects of earlier runs")
    bring_up(istio)
    canary_image = images["canary"]
    previous = fp.run_state(stored_cm, run_id) if attach else None

    def canary() -> CanaryVerdict:
        if previous is not None:
            return CanaryVerdict(previous.netpol_enforced, previous.netpol_detail)
        return run_canary(kube, canary_image, run_id, timeouts)

    with ThreadPoolExecutor(max_workers=3) as pool:
        vault_f, eso_f = pool.submit(bring_up, vault_c), pool.submit(bring_up, eso_c)
        canary_f = pool.submit(_timed, phases, "canary", canary)
        vault_f.result()
        try:
            eso_f.result()
        except Exception as exc:  # the chart under test, not the environment
            raise ChartUnderTestFailed(f"the ESO chart under test did not install or become ready: "
                                       f"{REDACT(str(exc)).strip()}") from exc
        verdict = canary_f.result()
    pf = PortForward(
        access.kubectl_cmd(),
        VAULT_NAMESPACE,
        f"svc/{VAULT_SERVICE}",
        VAULT_PORT,
        start_timeout=timeouts.port_forward,
    ).start()
    import hvac

    seeder = VaultSeeder(hvac.Client(url=pf.url, token=DEV_ROOT_TOKEN), ensure=pf.ensure)
    with phases.phase("seeding"):
        if previous is not None:  # values of this run, read back (the first worker wrote them)
            result = attach_seed(seeder, kube)
        else:
            result = seed(seeder, run_id)
            kube.apply(token_secret_manifest(result.token, namespace=ESO_NAMESPACE, run_id=run_id))
            kube.apply(fp.configmap(wanted, fp.RunState(run_id, verdict.enforced, verdict.detail)))
    phases.write(artifacts / "phases.json")
    platform = Platform(
        kube=kube,
        vault=seeder,
        vault_url=VAULT_URL_IN_CLUSTER,
        eso_namespace=ESO_NAMESPACE,
        eso_release=ESO_RELEASE,
        eso_version=chart_info(eso_chart).app_version,
        run_id=run_id,
        timeouts=timeouts,
        netpol_enforced=verdict.enforced,
        netpol_detail=verdict.detail,
        seed=result,
        phases=phases,
        env=env,
        eso_component=eso_c,
        vault_component=vault_c,
        charts=ChartSources(
            config.chart,
            str(versions["charts"]["external_secrets"]["git"]),
            lambda ref, version: resolve_chart(
                ref, version, cache_dir=cache, helm=helm, helm_env=helm_env, option="--from-chart-version"
            ),
        ),
        _installed_values=eso_c.values(env),
    )
    return Session(platform, kind_env, pf, installed_now, keep=bool(config.keep_cluster))


def attach_seed(seeder: VaultSeeder, kube: Kube, plan: SeedPlan = DEFAULT_PLAN) -> SeedResult:
    values = seeder.read_secret(plan.secret_path, mount=plan.mount)
    secret = kube.get("Secret", plan.token_secret_name, plan.token_secret_namespace) or {}
    encoded = (secret.get("data") or {}).get(plan.token_secret_key, "")
    token = base64.b64decode(encoded).decode() if encoded else ""
    REDACT.add(token)
    return SeedResult(values, token, plan)


def _timed(phases: Phases, name: str, work: Callable[[], CanaryVerdict]) -> CanaryVerdict:
    with phases.phase(name):
        return work()
