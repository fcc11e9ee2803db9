"""Bring the `local` platform up from a resolved configuration, or say in one line why it cannot.

A failure anywhere stops every process already started (no orphans) and is an environment failure
(exit 2) unless it is the chart under test's: a chart that renders no controller, a controller that exits
with the chart's own arguments, or RBAC that keeps it from starting is a chart failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import Any

from esoconf import doctor
from esoconf.charts import chart_info, resolve_chart
from esoconf.config import Config, ConfigError, default_doc_for
from esoconf.doc import load_doc
from esoconf.redact import REDACT
from esoconf.tools import find_tool
from esoconf.wait import Timeouts

from ..live.eso import ESO_NAMESPACE, ESO_RELEASE, doc_eso_values, eso_values
from ..live.images import image_set
from ..live.kube import Kube
from ..live.platform import Phases
from ..live.vault import DEFAULT_PLAN, VaultSeeder, seed, token_secret_manifest
from .binaries import LocalBinaries, find_local_binaries, vee
from .eso_controller import NoControllerDeployment
from .kubeapi import start_control_plane
from .platform import REVIEWER, LocalPlatform, private_run_dir
from .processes import ProcessDied, Supervisor
from .release import (
    CrdsUnavailable,
    Tools,
    apply_objects,
    bring_up_release,
    chart_crds,
    controller_crds,
    install_crds,
    render_release,
)
from .vault_server import start_vault_dev

AUTH_DELEGATOR = "system:auth-delegator"


class LocalUnavailable(ProcessDied):
    """The local platform cannot be brought up here (environment: exit 2)."""


class LocalChartFailed(AssertionError):
    """The chart under test kept the controller from running (a chart failure)."""


def reviewer_objects(namespace: str, name: str) -> list[dict[str, Any]]:
    """Vault's token-reviewer identity: a ServiceAccount bound to ``system:auth-delegator``."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{name}-auth-delegator"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": AUTH_DELEGATOR},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


def _chart_and_doc(config: Config, artifacts: Path, helm: Path, helm_env: dict[str, str]) -> tuple[Path, Any]:
    if not config.chart:
        raise ConfigError("--platform local needs the chart under test: --chart <chart dir | .tgz | ...>")
    chart = resolve_chart(str(config.chart), config.chart_version, cache_dir=artifacts / "cache", helm=helm,
                          helm_env=helm_env)
    doc_path = config.doc or default_doc_for(str(chart))
    if not doc_path:
        raise ConfigError("--platform local needs the doc under test: --doc VAULT_INTEGRATION.md")
    if not config.doc:
        config.values["doc"], config.sources["doc"] = str(doc_path), "chart repo"
    return chart, load_doc(doc_path)


def binaries_for(config: Config, chart: Path) -> LocalBinaries:
    version = str(config.eso_version or chart_info(chart).app_version)
    return find_local_binaries(version, eso_bin=config.eso_bin, vault_bin=config.vault_bin)


def eso_version_of(config: Config, binaries: LocalBinaries) -> str:
    """The ESO release the expectations (and ``--local-crds controller``) are for: a binary given with
    ``--eso-bin`` is whatever ``--eso-version`` says it is (find_local_binaries can only say "given")."""
    if config.eso_bin and config.eso_version:
        return vee(str(config.eso_version))
    return binaries.eso_version


def setup_local(config: Config, run_id: str, timeouts: Timeouts, artifacts: Path) -> LocalPlatform:
    """Build the platform; on failure stop what was started and raise one line."""
    helm_env = doctor.helm_env()
    helm = find_tool("helm", config.helm).path
    kubectl = find_tool("kubectl", config.kubectl).path
    chart, doc = _chart_and_doc(config, artifacts, helm, helm_env)
    binaries = binaries_for(config, chart)
    supervisor = Supervisor(private_run_dir())
    try:
        return _bring_up(config, run_id, timeouts, artifacts, supervisor, binaries, chart, doc, helm, kubectl,
                         helm_env)
    except BaseException as exc:
        logs = bringup_logs(artifacts)
        with contextlib.suppress(OSError):  # redacted copies: the run folder (keys, tokens) does not outlive it
            supervisor.keep_logs(logs)
        supervisor.close()
        if isinstance(exc, ProcessDied | ConfigError | LocalChartFailed | KeyboardInterrupt):
            raise
        first = REDACT(str(exc)).strip().splitlines()[0] if str(exc).strip() else ""
        raise LocalUnavailable(f"local platform setup failed: {type(exc).__name__}: {first} "
                               f"(process logs: {logs})") from exc


def bringup_logs(artifacts: Path) -> Path:
    """Where a failed bring-up's process logs (redacted) are kept."""
    return artifacts / "diagnostics" / "local-platform" / "logs"


def _bring_up(config: Config, run_id: str, timeouts: Timeouts, artifacts: Path, supervisor: Supervisor,
              binaries: LocalBinaries, chart: Path, doc: Any, helm: Path, kubectl: Path,
              helm_env: dict[str, str]) -> LocalPlatform:
    phases = Phases()
    with phases.phase("control-plane"):
        plane = start_control_plane(
            supervisor,
            etcd=binaries.etcd,
            kube_apiserver=binaries.kube_apiserver,
            kube_controller_manager=binaries.kube_controller_manager,
            timeout=timeouts.cluster_create,
        )
    with phases.phase("vault"):
        _, vault_info = start_vault_dev(supervisor, binaries.vault, timeout=timeouts.pod_ready)
    tools = Tools(helm, kubectl, plane.admin_kubeconfig, helm_env)
    kube = Kube.connect(str(plane.admin_kubeconfig), None, tools.kubectl_argv(), timeouts)
    images = image_set("upstream", config.versions)
    values = eso_values(doc_eso_values(doc), images)
    # the release the expectations follow: what the cache built, or --eso-version for --eso-bin, else the chart's
    eso_version = eso_version_of(config, binaries)
    if eso_version == "given":
        eso_version = chart_info(chart).app_version
    with phases.phase("crds"):
        rendered = render_release(tools, chart, ESO_RELEASE, ESO_NAMESPACE, values, supervisor.run_dir / "render")
        crds = controller_crds(eso_version) if config.local_crds == "controller" else chart_crds(tools, chart,
                                                                                                  rendered)
        if not crds:
            raise CrdsUnavailable(f"--local-crds {config.local_crds}: no CustomResourceDefinitions found (the chart "
                                  f"ships none with these values); try --local-crds controller")
        names = install_crds(tools, crds, timeout=timeouts.apply * 2)
        origin = f"ESO {eso_version}'s bundle" if config.local_crds == "controller" else str(chart)
        phases.note("crds", f"{len(names)} CRDs from {config.local_crds} ({origin})")
    with phases.phase("seeding"):
        apply_objects(tools, reviewer_objects(*REVIEWER))
        reviewer_jwt = tools.kubectl_run("create", "token", REVIEWER[1], "-n", REVIEWER[0], "--duration=8h").strip()
        REDACT.add(reviewer_jwt)
        import hvac

        seeder = VaultSeeder(hvac.Client(url=vault_info.url, token=vault_info.root_token))
        plan = dataclasses.replace(
            DEFAULT_PLAN,
            kubernetes_host=plane.url,
            kubernetes_ca_cert=plane.pki.ca_pem(),
            token_reviewer_jwt=reviewer_jwt,
            disable_local_ca_jwt=True,  # a local process has no pod service-account mount
        )
        result = seed(seeder, run_id, plan)
        apply_objects(tools, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ESO_NAMESPACE}}])
        kube.apply(token_secret_manifest(result.token, namespace=ESO_NAMESPACE, run_id=run_id))
    with phases.phase("eso"):
        try:
            primary = bring_up_release(supervisor, tools, binary=binaries.eso, chart=chart, release=ESO_RELEASE,
                                       namespace=ESO_NAMESPACE, values=values, server=plane.url,
                                       ca=plane.pki.ca_cert, timeout=timeouts.pod_ready)
        except (NoControllerDeployment, ProcessDied) as exc:
            raise LocalChartFailed(f"the ESO chart under test did not run on the local platform: {exc}") from exc
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # one platform per xdist worker: one phases file each
    phases.write(artifacts / (f"phases-{worker}.json" if worker else "phases.json"))
    evidence = [
        f"platform local: kube-apiserver {binaries.kubernetes_version} ({plane.url}), {vault_info.label}, "
        f"ESO controller {eso_version} ({binaries.sources.get('eso', 'cache')})",
        f"CRDs: {config.local_crds} ({len(crds)})",
        *primary.evidence(),
        f"Vault address rewritten for every store: {vault_info.url} (the doc's example URL is not reachable)",
    ]
    return LocalPlatform.assemble(
        kube=kube, seeder=seeder, vault_info=vault_info, primary=primary, eso_version=eso_version, run_id=run_id,
        timeouts=timeouts, supervisor=supervisor, plane=plane, tools=tools, eso_binary=binaries.eso, seed=result,
        phases=phases, evidence=evidence,
    )
