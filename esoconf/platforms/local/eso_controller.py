"""The real ESO controller as a local process, run the way the chart under test deploys it.

Its arguments are the rendered controller Deployment's container ``args``; only what cannot work outside a
pod is overridden: listen addresses (free loopback ports), leader election (off: one process) and the API
server connection (a kubeconfig holding a token of the rendered controller ServiceAccount, so the chart's
RBAC governs what the controller may do, as in a cluster). Every override is recorded for the evidence.
Literal ``env`` values of the container are passed on; values from Secrets/ConfigMaps/fields are not
(recorded as skipped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ...live.controller import ESO_MODULE, told_version
from .processes import Managed, Supervisor, free_port

LISTEN_FLAGS = ("--metrics-addr", "--live-addr", "--healthz-addr")
# the reconcilers the doc's paths go through; each logs "Starting workers" once its caches synced (a chart
# RBAC gap keeps a cache from syncing: the workers never start and the wait names the forbidden lists)
REQUIRED_WORKERS = ("externalsecret", "clustersecretstore", "secretstore")
FORCED = {"--enable-leader-election": "false"}


def build_info(binary: Path, go: str | None = None) -> str:
    """The ESO module version the binary was built from (``go version -m``: its embedded build info), e.g.
    "github.com/external-secrets/external-secrets v0.16.2"; "" when it cannot be read (no go, no build info)."""
    told = told_version(binary, go)
    return f"{ESO_MODULE} {told}" if told else ""


class NoControllerDeployment(ValueError):
    """The chart rendered no ESO controller Deployment (nothing to run)."""


@dataclass(frozen=True)
class ControllerSpec:
    """What the rendered Deployment says about the controller."""

    deployment: str
    namespace: str
    service_account: str
    container: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    skipped_env: tuple[str, ...] = ()


def _containers(deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or [])


def controller_deployment(objects: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The controller Deployment of the release: the one whose container runs the ESO image without a
    ``webhook``/``certcontroller`` subcommand."""
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        for container in _containers(obj):
            args = [str(a) for a in container.get("args") or []]
            if "external-secrets" in str(container.get("image", "")) and not (
                args and args[0] in {"webhook", "certcontroller"}
            ):
                return obj
    raise NoControllerDeployment("the chart rendered no ESO controller Deployment (an external-secrets image "
                                 "without the webhook/certcontroller subcommand)")


def controller_spec(objects: Iterable[Mapping[str, Any]]) -> ControllerSpec:
    deployment = controller_deployment(list(objects))
    meta = deployment.get("metadata") or {}
    pod = deployment["spec"]["template"]["spec"]
    container = next(c for c in _containers(deployment) if "external-secrets" in str(c.get("image", "")))
    env: dict[str, str] = {}
    skipped: list[str] = []
    for item in container.get("env") or []:
        if "value" in item:
            env[str(item["name"])] = str(item["value"])
        else:
            skipped.append(str(item["name"]))
    return ControllerSpec(
        deployment=str(meta.get("name")),
        namespace=str(meta.get("namespace") or "default"),
        service_account=str(pod.get("serviceAccountName") or "default"),
        container=str(container.get("name")),
        args=tuple(str(a) for a in container.get("args") or []),
        env=env,
        skipped_env=tuple(skipped),
    )


def _flag(arg: str) -> str:
    return arg.split("=", 1)[0]


def local_args(args: Iterable[str], ports: Mapping[str, int]) -> tuple[list[str], list[str]]:
    """The rendered args with the local overrides; returns (argv tail, one line per override)."""
    out: list[str] = []
    notes: list[str] = []
    seen: set[str] = set()
    for arg in args:
        flag = _flag(arg)
        if flag in ports:
            new = f"{flag}=127.0.0.1:{ports[flag]}"
            out.append(new)
            notes.append(f"{arg} -> {new} (loopback, free port)")
            seen.add(flag)
        elif flag in FORCED:
            new = f"{flag}={FORCED[flag]}"
            out.append(new)
            if new != arg:
                notes.append(f"{arg} -> {new} (one local process)")
            seen.add(flag)
        else:
            out.append(arg)
    if "--metrics-addr" not in seen:  # the default :8080 would bind every interface and may be taken
        new = f"--metrics-addr=127.0.0.1:{ports['--metrics-addr']}"
        out.append(new)
        notes.append(f"added {new} (loopback, free port; readiness is its /metrics)")
    return out, notes


def required_workers(args: Iterable[str]) -> list[str]:
    """The reconcilers this controller must start (a namespace-scoped install runs no cluster-store one)."""
    off = "--enable-cluster-store-reconciler=false" in set(args)
    return [w for w in REQUIRED_WORKERS if not (off and w == "clustersecretstore")]


def workers_not_started(log_text: str, required: Iterable[str] = REQUIRED_WORKERS) -> list[str]:
    """The required reconcilers that have not logged "Starting workers" yet."""
    started = set(re.findall(r'"msg":"Starting workers","controller":"([a-z]+)"', log_text))
    return [w for w in required if w not in started]


@dataclass
class RunningController:
    managed: Managed
    spec: ControllerSpec
    metrics_url: str
    overrides: list[str]


def start_controller(
    supervisor: Supervisor,
    binary: Path,
    spec: ControllerSpec,
    kubeconfig: Path,
    *,
    name: str = "eso-controller",
    timeout: float = 60.0,
    extra_args: Iterable[str] = (),
) -> RunningController:
    """Start the controller and wait until its metrics endpoint answers (the manager is running)."""
    ports = {flag: free_port() for flag in LISTEN_FLAGS}
    argv, notes = local_args([*spec.args, *extra_args], ports)
    notes.append(f"API server: kubeconfig with a token of ServiceAccount {spec.namespace}/{spec.service_account}")
    if spec.skipped_env:
        notes.append(f"env not passed (not literal values): {', '.join(spec.skipped_env)}")
    metrics = f"http://127.0.0.1:{ports['--metrics-addr']}/metrics"
    log = supervisor.logs / f"{name}.log"
    required = required_workers(argv)

    def ready() -> object:
        if requests.get(metrics, timeout=2).status_code != 200:
            return False
        waiting = workers_not_started(log.read_text(encoding="utf-8", errors="replace"), required)
        return True if not waiting else f"not ready: reconcilers without workers yet: {', '.join(waiting)}"

    managed = supervisor.start(
        name,
        [binary, *argv],
        ready=ready,
        timeout=timeout,
        env={**spec.env, "KUBECONFIG": str(kubeconfig), "POD_NAMESPACE": spec.namespace},
        what=f"ESO controller serving {metrics} with workers for {', '.join(required)}",
    )
    return RunningController(managed, spec, metrics, notes)
