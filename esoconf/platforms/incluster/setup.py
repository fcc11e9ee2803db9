"""Setting the in-cluster platform up on the cluster of one provider (kind, node, or an existing cluster with
``--kubeconfig``: :mod:`.provider`), and tearing it down.

Order: inputs (charts, doc) -> cluster -> images -> Istio -> (Vault || ESO || NetworkPolicy canary) ->
seeding. Each component is skipped when ``--reuse-platform`` is on and its fingerprint matches the one
stored in the cluster. Phase durations go to ``<artifacts>/phases.json``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import doctor, platforms
from ...charts import chart_info
from ...config import Config, ConfigError
from ...live.eso import ESO_NAMESPACE, ESO_RELEASE, doc_eso_values
from ...live.images import ImageSet, image_set
from ...live.kube import Kube
from ...live.platform import Phases, attach_seed
from ...live.vault import DEV_ROOT_TOKEN, SeedResult, VaultSeeder, seed, token_secret_manifest
from ...redact import REDACT, write_redacted
from ...wait import Timeouts
from . import fingerprint as fp
from .canary import CanaryVerdict, run_canary
from .cluster import ChartRef, ClusterAccess, Env, HelmComponent
from .eso import EsoComponent
from .images import pull_secret_manifest, registry_credentials
from .inputs import Inputs, Tools, chart_sources, find_tools, resolve_inputs
from .istio import IstioComponent
from .leftovers import clean_start
from .platform import Platform, PlatformUnavailable
from .portforward import PortForward
from .provider import ClusterProvider, provider_name
from .vault import (
    VAULT_NAMESPACE,
    VAULT_PORT,
    VAULT_SERVICE,
    VAULT_URL_IN_CLUSTER,
    VaultComponent,
    doc_vault_authorization_policies,
)


class ChartUnderTestFailed(AssertionError):
    """The ESO chart under test did not install or become ready: a chart failure, not the environment's."""


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
    provider: ClusterProvider
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
        if not self.provider.keeps_releases and not self.keep and env is not None:
            for component in reversed(self.installed_now):  # existing cluster: undo only what this run added
                component.uninstall(env)
        left = self.provider.down()
        if left:
            raise PlatformUnavailable(f"{self.provider.name} platform teardown left: {'; '.join(left)}")

    def teardown_plan(self) -> dict[str, Any]:
        """What the last process of an xdist run must undo (JSON-able): the provider's plan, by its name; and what
        another worker attaches with."""
        return {"provider": self.provider.name, "plan": self.provider.teardown_plan(),
                "attach": self.provider.attach_plan()}


def teardown_from_plan(plan: Mapping[str, Any]) -> bool:
    """Undo what a worker's provider left for the end (xdist controller, after all workers finished): the kind
    cluster a worker created."""
    spec = plan.get("plan")
    if not spec:
        return False
    teardown = platforms.platform(plan["provider"]).teardown
    return teardown(spec) if teardown is not None else False


@dataclass
class _SetupState:
    """What setup has built so far, for the failure path (diagnostics, then cleanup)."""

    provider: ClusterProvider | None = None
    env: Env | None = None
    components: list[HelmComponent] = field(default_factory=list)


def setup(
    config: Config, run_id: str, timeouts: Timeouts, artifacts: Path, *, attach: bool = False,
    attach_plan: Mapping[str, Any] | None = None,
) -> Session:
    """Build the platform. ``attach``: another xdist worker of this run built it; verify and connect (through
    ``attach_plan``, its provider's :meth:`~.provider.ClusterProvider.attach_plan`, where it gave one).

    On failure: the components' logs go to ``artifacts/diagnostics/platform-setup/`` first, then a kind cluster
    this run created is deleted (unless --keep-cluster or --keep-on-failure). A failure of the chart under test
    is a chart failure (:class:`ChartUnderTestFailed`); anything else is the environment's
    (:class:`PlatformUnavailable`, exit code 2).
    """
    state = _SetupState()
    try:
        return _setup(config, run_id, timeouts, artifacts, attach=attach, state=state, attach_plan=attach_plan)
    except Exception as exc:
        _setup_diagnostics(state, artifacts / "diagnostics" / "platform-setup")
        provider = state.provider
        if provider is not None and not (config.keep_on_failure and provider.outlives_run):
            provider.down()  # a kind cluster only if this run created it; a node is never kept
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


# --- the steps of setup -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Components:
    istio: IstioComponent
    vault: VaultComponent
    eso: EsoComponent

    def all(self) -> list[HelmComponent]:
        return [self.istio, self.vault, self.eso]


def _setup(
    config: Config, run_id: str, timeouts: Timeouts, artifacts: Path, *, attach: bool, state: _SetupState,
    attach_plan: Mapping[str, Any] | None,
) -> Session:
    if platforms.platform(provider_name(config)).blockers is None:  # else its own checks ran in the gate (node)
        preflight(config)
    phases = Phases()
    tools = find_tools(config)
    inputs = resolve_inputs(config, tools, artifacts)  # fail before any cluster work
    access = _cluster(config, tools, artifacts, phases, state, run_id, attach_plan)
    provider = state.provider
    assert provider is not None
    kube = Kube.connect(str(access.kubeconfig), access.context, access.kubectl_cmd(), timeouts)
    env = state.env = Env(access, kube, timeouts, _image_set(config), artifacts, run_id,
                          mesh=provider.mesh, local_images=provider.local_images)
    components = _components(config, inputs)
    state.components = components.all() if env.mesh else [components.vault, components.eso]
    _prepare_images(config, env, provider, state.components, phases)
    wanted = {c.name: c.fingerprint(env) for c in state.components}
    stored_cm = kube.get("ConfigMap", fp.CONFIGMAP_NAME, fp.CONFIGMAP_NAMESPACE)
    decisions = _decide(config, state.components, wanted, stored_cm, attach=attach)
    installed_now = [c for c in state.components if decisions[c.name].action is fp.Action.INSTALL]
    if config.clean_start and not attach:
        removed = clean_start(kube, run_id, fp.recorded_run_id(stored_cm))
        phases.note("clean-start", f"deleted {len(removed)} leftover objects of earlier runs")
    previous = fp.run_state(stored_cm, run_id) if attach else None
    verdict = _bring_up(env, components, decisions, phases, previous)
    pf, seeder, result = _seed_vault(env, phases, previous, wanted, verdict)
    phases.write(artifacts / "phases.json")
    controller = provider.controller_version()
    platform = Platform(
        name=str(config.platform),
        probe_image=env.images["canary"],
        kube=kube,
        vault=seeder,
        vault_url=VAULT_URL_IN_CLUSTER,
        eso_namespace=ESO_NAMESPACE,
        eso_release=ESO_RELEASE,
        # the controller that runs: on node the build under the chart's image name (the expectations follow it)
        eso_version=controller if controller is not None else chart_info(inputs.eso_chart).app_version,
        run_id=run_id,
        timeouts=timeouts,
        netpol_enforced=verdict.enforced,
        netpol_detail=verdict.detail,
        seed=result,
        phases=phases,
        env=env,
        eso_component=components.eso,
        vault_component=components.vault,
        charts=chart_sources(config, tools, inputs.cache),
        _installed_values=components.eso.values(env),
    )
    evidence = provider.evidence()
    if evidence:
        platform.ran = {provider.name: "; ".join(evidence)}
    platform.alive_check = provider.check_alive
    return Session(platform, provider, pf, installed_now, keep=bool(config.keep_cluster))


def _cluster(config: Config, tools: Tools, artifacts: Path, phases: Phases, state: _SetupState,
             run_id: str, attach_plan: Mapping[str, Any] | None = None) -> ClusterAccess:
    """The provider's cluster (``state.provider``): a kind cluster created or reused, the node, or an existing
    cluster (``--kubeconfig``); the one another worker of the run made, through its ``attach_plan``."""
    with phases.phase("cluster"):
        entry = platforms.platform(provider_name(config))
        if attach_plan and entry.attach is not None:
            state.provider = entry.attach(attach_plan)
        else:
            assert entry.provider is not None
            state.provider = entry.provider(config, tools, run_id, phases, artifacts)
        return ClusterAccess(state.provider.up(), state.provider.context, tools.kubectl, tools.helm, tools.helm_env)


def _image_set(config: Config) -> ImageSet:
    return image_set(
        config.images,
        config.versions,
        config.eso_image if config.source("eso_image") != "versions.yaml" else None,
        vault_version=config.vault_version,
        istio_version=config.istio_version,
    )


def _prepare_images(config: Config, env: Env, provider: ClusterProvider, components: list[HelmComponent],
                    phases: Phases) -> None:
    """registry1: the pull secret every namespace gets; airgap: the tarballs loaded into kind; a provider that
    builds its images (node): every image the charts render, built here and loaded under its exact name."""
    with phases.phase("images"):
        if provider.local_images:
            objects = [obj for component in components for obj in component.rendered(env)]
            lines = provider.load_rendered(objects, also=[env.images["canary"]])
            phases.note("images", "; ".join(lines))
            if config.local_crds == "controller":
                phases.note("crds", provider.install_controller_crds(env.access.helm, env.access.kubectl))
                env.skip_crds = True
        elif env.images.needs_pull_secret:
            username, password = registry_credentials(os.environ)
            env.pull_secret = pull_secret_manifest("default", username, password)
        elif config.images == "airgap":
            provider.load_archives(config.image_archive_dir)


def _components(config: Config, inputs: Inputs) -> _Components:
    versions = config.versions
    istio = IstioComponent(  # --istio-version (default: versions.yaml) picks the charts and, above, the images
        version=str(config.istio_version or versions["charts"]["istio"]["version"]),
        repo=str(versions["charts"]["istio"]["repo"]),
    )
    vault = VaultComponent(
        chart_ref=ChartRef(str(inputs.vault_chart)),
        custom_authorization_policies=doc_vault_authorization_policies(inputs.doc),
    )
    eso = EsoComponent(chart_ref=ChartRef(str(inputs.eso_chart)), doc_values=doc_eso_values(inputs.doc))
    return _Components(istio, vault, eso)


def _decide(
    config: Config,
    components: list[HelmComponent],
    wanted: dict[str, str],
    stored_cm: dict[str, Any] | None,
    *,
    attach: bool,
) -> dict[str, fp.Decision]:
    """Install, reinstall or skip each component (``--reuse-platform``; an attaching worker always reuses)."""
    return {
        d.component: d
        for d in fp.decide(
            [c.name for c in components],
            wanted,
            fp.installed_fingerprints(stored_cm),
            reuse=bool(config.reuse_platform) or attach,
            depends_on={"vault": ["istio"], "eso": ["istio"]},
        )
    }


def _bring_up(
    env: Env,
    components: _Components,
    decisions: Mapping[str, fp.Decision],
    phases: Phases,
    previous: fp.RunState | None,
) -> CanaryVerdict:
    """Istio first, then Vault, ESO and the canary side by side; returns the canary's verdict."""

    def bring_up(component: HelmComponent) -> None:
        with phases.phase(component.name):
            decision = decisions[component.name]
            phases.note(component.name, f"{decision.action.value}: {decision.reason}")
            if decision.action is not fp.Action.SKIP:
                component.install(env)
            component.ready(env)

    if env.mesh:
        bring_up(components.istio)
    canary_image = env.images["canary"]

    def canary() -> CanaryVerdict:
        if previous is not None:
            return CanaryVerdict(previous.netpol_enforced, previous.netpol_detail)
        return run_canary(env.kube, canary_image, env.run_id, env.timeouts)

    with ThreadPoolExecutor(max_workers=3) as pool:
        vault_f, eso_f = pool.submit(bring_up, components.vault), pool.submit(bring_up, components.eso)
        canary_f = pool.submit(_timed, phases, "canary", canary)
        vault_f.result()
        try:
            eso_f.result()
        except Exception as exc:  # the chart under test, not the environment
            raise ChartUnderTestFailed(f"the ESO chart under test did not install or become ready: "
                                       f"{REDACT(str(exc)).strip()}") from exc
        return canary_f.result()


def _seed_vault(
    env: Env, phases: Phases, previous: fp.RunState | None, wanted: dict[str, str], verdict: CanaryVerdict
) -> tuple[PortForward, VaultSeeder, SeedResult]:
    """A port-forward to Vault and the seeding (an attaching worker reads back what the first one wrote);
    the first worker records the fingerprints and the canary verdict for the others."""
    pf = PortForward(
        env.access.kubectl_cmd(),
        VAULT_NAMESPACE,
        f"svc/{VAULT_SERVICE}",
        VAULT_PORT,
        start_timeout=env.timeouts.port_forward,
    ).start()
    import hvac

    seeder = VaultSeeder(hvac.Client(url=pf.url, token=DEV_ROOT_TOKEN), ensure=pf.ensure)
    with phases.phase("seeding"):
        if previous is not None:  # values of this run, read back (the first worker wrote them)
            result = attach_seed(seeder, env.kube)
        else:
            result = seed(seeder, env.run_id)
            env.kube.apply(token_secret_manifest(result.token, namespace=ESO_NAMESPACE, run_id=env.run_id))
            env.kube.apply(fp.configmap(wanted, fp.RunState(env.run_id, verdict.enforced, verdict.detail)))
    return pf, seeder, result


def _timed(phases: Phases, name: str, work: Callable[[], CanaryVerdict]) -> CanaryVerdict:
    with phases.phase(name):
        return work()
