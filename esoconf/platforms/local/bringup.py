"""Bring the `local` platform up from a resolved configuration, or say in one line why it cannot.

A failure anywhere stops every process already started (no orphans) and is an environment failure
(exit 2) unless it is the chart under test's: a chart that renders no controller, a controller that exits
with the chart's own arguments, or RBAC that keeps it from starting is a chart failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from esoconf import doctor
from esoconf.charts import chart_info, resolve_chart
from esoconf.config import Config, ConfigError, default_doc_for
from esoconf.doc import load_doc
from esoconf.redact import REDACT
from esoconf.tools import find_tool
from esoconf.wait import Timeouts

from ...live.controller import ControllerRun, choose_version, deployed_version, sha256_of, told_version
from ...live.eso import ESO_NAMESPACE, ESO_RELEASE, doc_eso_values, eso_values
from ...live.kube import Kube
from ...live.platform import Phases
from ...live.vault import DEFAULT_PLAN, VaultSeeder, seed, token_secret_manifest
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
    controller_process_name,
    install_crds,
    render_release,
)
from .vault_server import start_vault_dev

AUTH_DELEGATOR = "system:auth-delegator"


class LocalUnavailable(ProcessDied):
    """The local platform cannot be brought up here (environment: exit 2)."""


class LocalChartFailed(AssertionError):
    """The chart under test kept the controller from running (a chart failure)."""


# what, in the controller's log, makes its failure the chart's: RBAC the chart's ServiceAccount lacks, arguments
# the chart renders that the controller refuses (cobra / Go flag / pflag wording)
_FORBIDDEN = re.compile(r'cannot (\w+) resource \W*"?([a-z0-9.-]+)')
_BAD_ARGS = re.compile(r'(unknown (?:shorthand )?flag: \S+|flag provided but not defined: \S+|invalid argument "[^"]*" '
                       r'for "[^"]*" flag)')


def controller_failure(died: ProcessDied, binary: Path, log: Path | None = None) -> LocalChartFailed | LocalUnavailable:
    """Whose fault a controller that exited or never became ready is: the chart's (its RBAC or its arguments,
    named as the chart's defect: exit 1) when the controller's own log (all of it: the forbidden lists come
    long before the cache-sync timeout that ends it) says so, else the environment's (a missing or broken
    binary, an unreachable API server: exit 2). One line: the cause, the process's status and its log path."""
    text = str(died)
    try:
        whole = log.read_text(encoding="utf-8", errors="replace") if log else ""
    except OSError:
        whole = ""
    status = text.split("): ", 1)[0] + ")" if "): " in text else text  # "<name> exited with code N (log PATH)"
    last = next((line.strip() for line in reversed((whole or text).splitlines()) if "error" in line.lower()), "")
    detail = f"{status}{'; last error: ' + REDACT(last)[:300] if last else ''}"
    forbidden = sorted({f"{verb} {resource}" for verb, resource in _FORBIDDEN.findall(whole + text)})
    if forbidden:
        return LocalChartFailed(f"chart defect: the chart's RBAC keeps the ESO controller from running: its "
                                f"ServiceAccount cannot {', '.join(forbidden)} ({status})")
    bad = _BAD_ARGS.search(whole + text)
    if bad:
        return LocalChartFailed(f"chart defect: the ESO controller refuses the arguments the chart renders: "
                                f"{bad.group(1)} ({status})")
    return LocalUnavailable(f"the ESO controller {binary} did not run, and its log blames nothing of the chart "
                            f"(check the binary, --eso-bin/--eso-version): {detail}")


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
    values = eso_values(doc_eso_values(doc), None)  # the chart's own controller image: what it deploys
    rendered = render_release(tools, chart, ESO_RELEASE, ESO_NAMESPACE, values, supervisor.run_dir / "render")
    controller = controller_run(config, binaries, chart, rendered)
    eso_version = controller.version  # the release the expectations (and --local-crds controller) follow
    with phases.phase("crds"):
        crds = controller_crds(eso_version) if config.local_crds == "controller" else chart_crds(tools, chart,
                                                                                                  rendered)
        if not crds:
            raise CrdsUnavailable(f"--local-crds {config.local_crds}: no CustomResourceDefinitions found (the chart "
                                  f"ships none with these values); try --local-crds controller")
        names = install_crds(tools, crds, timeout=timeouts.apply * 2)
        origin = f"ESO {eso_version}'s bundle" if config.local_crds == "controller" else f"the chart {chart}"
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
        except NoControllerDeployment as exc:
            raise LocalChartFailed(f"the ESO chart under test did not run on the local platform: {exc}") from exc
        except ProcessDied as exc:
            log = supervisor.logs / f"{controller_process_name(ESO_NAMESPACE, ESO_RELEASE)}.log"
            raise controller_failure(exc, binaries.eso, log) from exc
    phases.platform = "local"
    phases.differences = [
        f"API server: kube-apiserver {server_version(kube) or binaries.kubernetes_version} and "
        f"kube-controller-manager as local processes ({plane.url}); no kubelet, CNI, kube-proxy or CoreDNS: "
        f"no pod runs, NetworkPolicies are stored but not enforced, no Istio",
        f"Vault: {vault_info.label} dev server as a local process (not the Big Bang Vault package); every store's "
        f"server rewritten to {vault_info.url}",
        f"CRDs: {len(crds)} from {origin} (--local-crds {config.local_crds})",
        *controller.differences(),
        *primary.evidence(),
    ]
    phases.skew = controller.skew
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # one platform per xdist worker: one phases file each
    phases.write(artifacts / (f"phases-{worker}.json" if worker else "phases.json"))
    evidence = list(phases.differences)
    return LocalPlatform.assemble(
        kube=kube, seeder=seeder, vault_info=vault_info, primary=primary, eso_version=eso_version, run_id=run_id,
        timeouts=timeouts, supervisor=supervisor, plane=plane, tools=tools, eso_binary=binaries.eso, seed=result,
        phases=phases, evidence=evidence, controller_skew=controller.skew,
    )


def controller_run(config: Config, binaries: LocalBinaries, chart: Path, rendered: Any) -> ControllerRun:
    """The controller this run starts: its route, what it tells of its version, its digest, and what the chart
    deploys (its rendered controller image's tag, else appVersion)."""
    app_version = chart_info(chart).app_version
    told = told_version(binaries.eso)
    given = vee(str(config.eso_version)) if config.eso_version else None
    version, version_from = choose_version(told, given, binaries.eso_version, app_version)
    deployed, deployed_from = deployed_version(rendered, app_version)
    source = binaries.sources.get("eso", "")
    route = "--eso-bin" if source == "--eso-bin" else binaries.eso_route
    return ControllerRun(route=route, version=vee(version), version_from=version_from, told=told,
                         digest=binaries.eso_digest or sha256_of(binaries.eso), origin=binaries.eso_origin or source,
                         deployed=deployed, deployed_from=deployed_from)


def server_version(kube: Kube) -> str:
    """The API server's own word on its version (``/version``), or "" when it cannot be had."""
    try:
        return kube.server_version()
    except Exception:  # noqa: BLE001 - not observed: the caller says the pin instead, labelled as such
        return ""
