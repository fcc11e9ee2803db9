"""The rendered ESO release on the local platform: which Deployment is the controller, how its args are made
local (esoconf.platforms.local.eso_controller), what is applied and where the controller's CRDs come from
(esoconf.platforms.local.release)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from esoconf.platforms.local.eso_controller import (
    LISTEN_FLAGS,
    NoControllerDeployment,
    controller_deployment,
    controller_spec,
    local_args,
    workers_not_started,
)
from esoconf.platforms.local.release import CrdsUnavailable, controller_crds, identity_objects, not_applied

IMAGE = "ghcr.io/external-secrets/external-secrets:v0.16.2"
FakeGo = Callable[..., Path]
PORTS = {"--metrics-addr": 18080, "--live-addr": 18081, "--healthz-addr": 18082}


def deployment(name: str, args: list[str], image: str = IMAGE, **pod: Any) -> dict[str, Any]:
    container = {"name": pod.pop("container", "external-secrets"), "image": image, "args": args,
                 "env": pod.pop("env", [])}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "external-secrets"},
        "spec": {"template": {"spec": {"containers": [container], **pod}}},
    }


def obj(kind: str, name: str, namespace: str | None = "external-secrets") -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


WEBHOOK = deployment("eso-webhook", ["webhook", "--port=10250"])
CERT = deployment("eso-cert-controller", ["certcontroller", "--crd-requeue-interval=5m"])
CONTROLLER = deployment(
    "external-secrets-external-secrets",
    ["--concurrent=1", "--metrics-addr=:8080", "--loglevel=info", "--enable-leader-election=true"],
    serviceAccountName="external-secrets-external-secrets",
    env=[{"name": "AWS_REGION", "value": "us-east-1"},
         {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
         {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
)


def test_controller_deployment_is_the_one_without_a_webhook_or_certcontroller_subcommand() -> None:
    sidecar = deployment("unrelated", [], image="docker.io/library/nginx:1.27")

    assert controller_deployment([obj("Service", "x"), WEBHOOK, sidecar, CERT, CONTROLLER]) is CONTROLLER


@pytest.mark.parametrize("rendered", [
    pytest.param([WEBHOOK, CERT], id="webhook-and-certcontroller-only"),
    pytest.param([obj("ServiceAccount", "eso")], id="no-deployment"),
    pytest.param([deployment("other", ["--x"], image="nginx")], id="no-eso-image"),
])
def test_no_controller_deployment_is_named(rendered: list[dict[str, Any]]) -> None:
    with pytest.raises(NoControllerDeployment, match="the chart rendered no ESO controller Deployment"):
        controller_spec(rendered)


def test_controller_spec_reads_service_account_args_and_literal_env() -> None:
    spec = controller_spec([WEBHOOK, CONTROLLER])

    assert (spec.deployment, spec.namespace, spec.container) == (
        "external-secrets-external-secrets", "external-secrets", "external-secrets")
    assert spec.service_account == "external-secrets-external-secrets"
    assert spec.args == tuple(CONTROLLER["spec"]["template"]["spec"]["containers"][0]["args"])
    assert spec.env == {"AWS_REGION": "us-east-1"}
    assert spec.skipped_env == ("POD_IP", "TOKEN")


def test_controller_spec_defaults_service_account_and_namespace() -> None:
    bare = deployment("eso", [])
    del bare["metadata"]["namespace"]

    spec = controller_spec([bare])

    assert (spec.service_account, spec.namespace, spec.args, spec.env) == ("default", "default", (), {})


def test_local_args_override_listen_flags_and_leader_election_one_note_each() -> None:
    rendered = ["--concurrent=1", "--metrics-addr=:8080", "--live-addr=:8082", "--enable-leader-election=true",
                "--loglevel=debug"]

    argv, notes = local_args(rendered, PORTS)

    assert argv == ["--concurrent=1", "--metrics-addr=127.0.0.1:18080", "--live-addr=127.0.0.1:18081",
                    "--enable-leader-election=false", "--loglevel=debug"]
    assert notes == [
        "--metrics-addr=:8080 -> --metrics-addr=127.0.0.1:18080 (loopback, free port)",
        "--live-addr=:8082 -> --live-addr=127.0.0.1:18081 (loopback, free port)",
        "--enable-leader-election=true -> --enable-leader-election=false (one local process)",
    ]


def test_local_args_add_a_loopback_metrics_addr_when_the_chart_gives_none() -> None:
    argv, notes = local_args(["--concurrent=1", "--enable-leader-election=false"], PORTS)

    assert argv == ["--concurrent=1", "--enable-leader-election=false", "--metrics-addr=127.0.0.1:18080"]
    assert notes == ["added --metrics-addr=127.0.0.1:18080 (loopback, free port; readiness is its /metrics)"]


def test_local_args_turn_a_bare_leader_election_flag_off() -> None:
    argv, notes = local_args(["--enable-leader-election"], {flag: 1 for flag in LISTEN_FLAGS})

    assert argv[0] == "--enable-leader-election=false"
    assert notes[0] == "--enable-leader-election -> --enable-leader-election=false (one local process)"


def started(controller: str) -> str:
    return json.dumps({"level": "info", "ts": 1.7e9, "logger": "controller-runtime", "msg": "Starting workers",
                       "controller": controller, "controllerGroup": "external-secrets.io",
                       "worker count": 1}, separators=(",", ":"))


def test_workers_not_started_reads_the_starting_workers_lines() -> None:
    log = "\n".join([
        '{"level":"info","msg":"Starting EventSource","controller":"clustersecretstore"}',
        started("externalsecret"),
        started("secretstore"),
        started("pushsecret"),
    ])

    assert workers_not_started(log) == ["clustersecretstore"]
    assert workers_not_started(log + "\n" + started("clustersecretstore")) == []
    assert workers_not_started("") == ["externalsecret", "clustersecretstore", "secretstore"]


RENDERED = [
    obj("ServiceAccount", "external-secrets-external-secrets"),
    obj("ClusterRole", "eso-controller", None),
    obj("ClusterRoleBinding", "eso-controller", None),
    obj("Role", "eso-leader-election"),
    obj("RoleBinding", "eso-leader-election"),
    obj("NetworkPolicy", "allow-egress-vault"),
    obj("Service", "eso-webhook"),
    CONTROLLER,
    obj("AuthorizationPolicy", "allow-vault"),
    obj("Job", "eso-hook"),
    obj("CustomResourceDefinition", "externalsecrets.external-secrets.io", None),
]


def test_identity_objects_keep_identity_and_network_policies_and_add_the_namespace() -> None:
    kept = identity_objects(RENDERED, "external-secrets")

    assert kept[0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "external-secrets"}}
    assert [o["kind"] for o in kept[1:]] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                                             "RoleBinding", "NetworkPolicy"]


def test_identity_objects_keep_a_rendered_namespace_once() -> None:
    rendered = [obj("Namespace", "external-secrets", None), *RENDERED]

    kept = identity_objects(rendered, "external-secrets")

    assert [o["kind"] for o in kept].count("Namespace") == 1
    assert kept[0] is not rendered[0] and kept[0] == rendered[0]  # copies: the render is not changed


def test_not_applied_lists_every_other_kind_once() -> None:
    assert not_applied([*RENDERED, obj("Service", "metrics")]) == ["AuthorizationPolicy", "Deployment", "Job",
                                                                 "Service"]


CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: externalsecrets.external-secrets.io
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clustersecretstores.external-secrets.io
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-a-crd
"""


@pytest.fixture
def fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGo:
    """``fake_go(stdout, exit_code)``: a ``go`` on PATH printing ``stdout``; its argv goes to go-args.txt."""

    def make(stdout: str, exit_code: int = 0, stderr: str = "") -> Path:
        go = tmp_path / "gobin" / "go"
        go.parent.mkdir(exist_ok=True)
        (tmp_path / "go-out.txt").write_text(stdout)
        (tmp_path / "go-err.txt").write_text(stderr)
        go.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/go-args.txt\ncat {tmp_path}/go-out.txt\n'
                      f"cat {tmp_path}/go-err.txt >&2\nexit {exit_code}\n")
        go.chmod(0o755)
        monkeypatch.setenv("PATH", f"{go.parent}{os.pathsep}{os.environ['PATH']}")
        return go

    return make


def test_controller_crds_read_the_modules_bundle(fake_go: FakeGo, tmp_path: Path) -> None:
    module = tmp_path / "modcache" / "external-secrets@v0.16.2"
    (module / "deploy" / "crds").mkdir(parents=True)
    (module / "deploy" / "crds" / "bundle.yaml").write_text(CRD)
    fake_go(json.dumps({"Path": "github.com/external-secrets/external-secrets", "Version": "v0.16.2",
                        "Dir": str(module)}))

    crds = controller_crds("v0.16.2")

    assert [c["metadata"]["name"] for c in crds] == ["externalsecrets.external-secrets.io",
                                                    "clustersecretstores.external-secrets.io"]
    assert (tmp_path / "go-args.txt").read_text().split() == [
        "mod", "download", "-json", "github.com/external-secrets/external-secrets@v0.16.2"]


def test_controller_crds_a_proxy_403_is_one_line(fake_go: FakeGo) -> None:
    error = ("github.com/external-secrets/external-secrets@v1.3.1: reading https://proxy.golang.org/github.com/"
             "external-secrets/external-secrets/@v/v1.3.1.info: 403 Forbidden\n\tserver response: not served")
    fake_go(json.dumps({"Path": "github.com/external-secrets/external-secrets", "Version": "v1.3.1",
                        "Error": error}), exit_code=1)

    with pytest.raises(CrdsUnavailable) as caught:
        controller_crds("v1.3.1")

    assert str(caught.value) == (
        "--local-crds controller: the CRDs of ESO v1.3.1 are not available from its Go module ("
        f"{error.splitlines()[0]}); use --local-crds chart")


def test_controller_crds_a_module_without_a_bundle_is_one_line(fake_go: FakeGo, tmp_path: Path) -> None:
    fake_go(json.dumps({"Dir": str(tmp_path)}))

    with pytest.raises(CrdsUnavailable, match=r"\(no deploy/crds/bundle.yaml in the module\); use --local-crds chart$"):
        controller_crds("v0.16.2")


def test_controller_crds_without_go_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(CrdsUnavailable, match=r"^--local-crds controller: go not found; install Go or use "
                                              r"--local-crds chart$"):
        controller_crds("v0.16.2")
