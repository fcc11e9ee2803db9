"""An ESO release on the local platform: the chart under test rendered, its identity applied, its controller
run as a process.

There is no kubelet, so nothing of the release that needs one is applied. What is applied is what governs
the controller's behaviour: the CRDs (the chart's own, or the controller release's bundle), the release's
Namespace, ServiceAccounts, (Cluster)Roles and bindings. The controller Deployment becomes a process with
the Deployment's own arguments (:mod:`esoconf.platforms.local.eso_controller`). Everything else rendered (Istio
objects, NetworkPolicies, Services, the hook Job) is listed as not applied in the evidence.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esoconf import yamlio
from esoconf.config import ConfigError
from esoconf.render.helm import parse_manifests
from esoconf.runner import CommandError, run

from ...render.crds import ESO_MODULE
from .eso_controller import ControllerSpec, RunningController, controller_spec, start_controller
from .kubeapi import kubeconfig
from .processes import Supervisor

# what the local API server gets of a release: identity (RBAC governs the controller) and NetworkPolicies
# (stored and schema-checked by the real API server, not enforced: no CNI)
IDENTITY_KINDS = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                  "NetworkPolicy")
CONTROLLER_TOKEN_DURATION = "8h"


class CrdsUnavailable(ConfigError):
    """The CRDs asked for cannot be had here (one line)."""


@dataclass(frozen=True)
class Tools:
    helm: Path
    kubectl: Path
    kubeconfig: Path  # admin
    helm_env: Mapping[str, str] = field(default_factory=dict)

    def kubectl_argv(self, *args: str) -> list[str]:
        return [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args]

    def kubectl_run(self, *args: str, input: str | None = None, timeout: float = 120) -> str:
        return run(self.kubectl_argv(*args), input=input, timeout=timeout).stdout


def render_release(
    tools: Tools, chart: Path, release: str, namespace: str, values: Mapping[str, Any], workdir: Path
) -> tuple[dict[str, Any], ...]:
    """``helm template`` of the chart as ``release`` in ``namespace`` with ``values``."""
    workdir.mkdir(parents=True, exist_ok=True)
    values_file = workdir / f"{release}-values.yaml"
    values_file.write_text(yamlio.dump(dict(values)), encoding="utf-8")
    values_file.chmod(0o600)
    out = run(
        [str(tools.helm), "template", release, str(chart), "-n", namespace, "-f", str(values_file)],
        env=dict(tools.helm_env),
        timeout=120,
    )
    return parse_manifests(out.stdout)


def chart_crds(tools: Tools, chart: Path, rendered: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The chart's ``crds/`` (``helm show crds``) plus CRDs its templates render with these values."""
    shown = parse_manifests(run([str(tools.helm), "show", "crds", str(chart)], env=dict(tools.helm_env)).stdout)
    templated = [dict(o) for o in rendered if o.get("kind") == "CustomResourceDefinition"]
    return [o for o in (*shown, *templated) if o.get("kind") == "CustomResourceDefinition"]


def controller_crds(version: str) -> list[dict[str, Any]]:
    """``deploy/crds/bundle.yaml`` of the ESO release ``version``, from its Go module (module cache)."""
    try:
        out = run(["go", "mod", "download", "-json", f"{ESO_MODULE}@{version}"], timeout=300, check=False)
    except CommandError as exc:
        raise CrdsUnavailable(f"--local-crds controller: {exc.note or exc}; install Go or use --local-crds chart") \
            from None
    info = json.loads(out.stdout or "{}")
    bundle = Path(info.get("Dir") or "/nonexistent") / "deploy" / "crds" / "bundle.yaml"
    if out.returncode != 0 or not bundle.is_file():
        why = str(info.get("Error") or out.stderr.strip() or "no deploy/crds/bundle.yaml in the module")
        raise CrdsUnavailable(f"--local-crds controller: the CRDs of ESO {version} are not available from its Go "
                              f"module ({why.splitlines()[0]}); use --local-crds chart")
    return [o for o in parse_manifests(bundle.read_text(encoding="utf-8"))
            if o.get("kind") == "CustomResourceDefinition"]


def apply_objects(tools: Tools, objects: Sequence[Mapping[str, Any]], *, timeout: float = 120) -> None:
    """Server-side apply, as one kubectl call (namespaces first, as kubectl orders them)."""
    if not objects:
        return
    text = "\n---\n".join(yamlio.dump(dict(o)) for o in objects)
    tools.kubectl_run("apply", "--server-side", "--force-conflicts", "--field-manager=eso-conformance",
                      "-f", "-", input=text, timeout=timeout)


def install_crds(tools: Tools, crds: Sequence[Mapping[str, Any]], timeout: float = 60) -> list[str]:
    """Apply the CRDs and wait until each is Established; returns their names."""
    apply_objects(tools, crds, timeout=timeout)
    names = [str(c["metadata"]["name"]) for c in crds]
    if names:
        tools.kubectl_run("wait", "--for=condition=Established", f"--timeout={int(timeout)}s",
                          *[f"crd/{n}" for n in names], timeout=timeout + 10)
    return names


def identity_objects(rendered: Iterable[Mapping[str, Any]], namespace: str) -> list[dict[str, Any]]:
    objects = [dict(o) for o in rendered if o.get("kind") in IDENTITY_KINDS]
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    if namespace not in names:
        objects.insert(0, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return objects


def not_applied(rendered: Iterable[Mapping[str, Any]]) -> list[str]:
    skipped = sorted({str(o.get("kind")) for o in rendered
                      if o.get("kind") not in (*IDENTITY_KINDS, "CustomResourceDefinition")})
    return skipped


def service_account_kubeconfig(tools: Tools, spec: ControllerSpec, server: str, ca: Path, dest: Path) -> Path:
    """A kubeconfig that authenticates as the rendered controller ServiceAccount (a TokenRequest token)."""
    token = tools.kubectl_run("create", "token", spec.service_account, "-n", spec.namespace,
                              f"--duration={CONTROLLER_TOKEN_DURATION}").strip()
    from esoconf.redact import REDACT

    REDACT.add(token)
    return kubeconfig(dest, server, ca, user={"token": token}, name=spec.service_account)


@dataclass
class LocalRelease:
    """One ESO release on the local platform (the primary one, or a second install)."""

    release: str
    namespace: str
    chart: Path
    values: dict[str, Any]
    rendered: tuple[dict[str, Any], ...]
    controller: RunningController | None = None
    identity: list[dict[str, Any]] = field(default_factory=list)

    @property
    def spec(self) -> ControllerSpec:
        return controller_spec(self.rendered)

    def evidence(self) -> list[str]:
        lines = [f"release {self.namespace}/{self.release} from {self.chart}"]
        if self.controller:
            lines += [f"controller override: {note}" for note in self.controller.overrides]
        lines.append(f"applied: {', '.join(sorted({o['kind'] for o in self.identity}))}; not applied (no kubelet/"
                     f"CNI/mesh here): {', '.join(not_applied(self.rendered)) or 'nothing'}")
        return lines


def bring_up_release(
    supervisor: Supervisor,
    tools: Tools,
    *,
    binary: Path,
    chart: Path,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    server: str,
    ca: Path,
    timeout: float = 60.0,
) -> LocalRelease:
    """Render, apply identity objects, start the controller as the rendered ServiceAccount."""
    work = supervisor.run_dir / "releases" / f"{namespace}-{release}"
    rendered = render_release(tools, chart, release, namespace, values, work)
    local = LocalRelease(release, namespace, chart, dict(values), rendered)
    spec = local.spec  # fails early when the chart renders no controller
    local.identity = identity_objects(rendered, namespace)
    apply_objects(tools, local.identity)
    config = service_account_kubeconfig(tools, spec, server, ca, work / "controller.kubeconfig")
    local.controller = start_controller(
        supervisor, binary, spec, config, name=controller_process_name(namespace, release), timeout=timeout
    )
    return local


def controller_process_name(namespace: str, release: str) -> str:
    return f"eso-{namespace}-{release}"


def tear_down_release(supervisor: Supervisor, tools: Tools, local: LocalRelease) -> None:
    """Stop the controller, delete the identity objects it used (not its namespace)."""
    supervisor.stop(controller_process_name(local.namespace, local.release))
    doomed = [o for o in local.identity if o["kind"] != "Namespace"]
    if doomed:
        text = "\n---\n".join(yamlio.dump(o) for o in doomed)
        # best effort: the run's API server goes away at the end anyway
        with contextlib.suppress(CommandError, subprocess.SubprocessError):
            tools.kubectl_run("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=text)
