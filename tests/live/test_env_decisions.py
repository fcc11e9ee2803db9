"""Pure decisions of the live tier: image failures, reuse by fingerprint, the NetworkPolicy canary, kind."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from fakes import bare_platform

from esoconf.config import ConfigError, load_versions, node_image_for
from esoconf.live.images import image_set
from esoconf.live.naming import namespace_name
from esoconf.live.platform import NetpolNotShown
from esoconf.platforms.incluster import fingerprint as fp
from esoconf.platforms.incluster.canary import NETPOL_NOT_ENFORCED, canary_manifests, canary_verdict, parse_probe
from esoconf.platforms.incluster.images import image_archives, image_failure, pull_secret_manifest, registry_credentials
from esoconf.platforms.kind.cluster import PortMapping, check_node_image, decide_cluster, kind_config
from esoconf.redact import REDACT
from esoconf.wait import Clock, TerminalState, wait_for


def pod(
    name: str,
    *,
    waiting: str | None = None,
    image: str = "img:1",
    ready: bool = False,
    init: bool = False,
    message: str = "",
) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting, "message": message}} if waiting else {"running": {}}
    key = "initContainerStatuses" if init else "containerStatuses"
    return {
        "metadata": {"name": name, "namespace": "vault"},
        "status": {
            "phase": "Pending",
            key: [{"name": "c", "image": image, "state": state}],
            "conditions": [{"type": "Ready", "status": str(ready)}],
        },
    }


IMAGE_FAILURES = [
    (
        "pull-backoff",
        [pod("vault-0", waiting="ImagePullBackOff", image="docker.io/hashicorp/vault:9")],
        "pod vault/vault-0 ImagePullBackOff for image docker.io/hashicorp/vault:9",
    ),
    (
        "pull-backoff-init",
        [pod("p", waiting="ImagePullBackOff", init=True, message="not found")],
        "pod vault/p ImagePullBackOff for image img:1: not found",
    ),
    ("first-err-image-pull-is-retried", [pod("p", waiting="ErrImagePull", message="i/o timeout")], None),
    (
        "crash-loop",
        [pod("ok", ready=True), pod("bad", waiting="CrashLoopBackOff")],
        "pod vault/bad CrashLoopBackOff for container c (image img:1)",
    ),
    ("still-creating", [pod("p", waiting="ContainerCreating")], None),
    ("running", [pod("p", ready=True)], None),
]


@pytest.mark.parametrize(
    ("pods", "expected"), [(p, e) for _, p, e in IMAGE_FAILURES], ids=[i for i, _, _ in IMAGE_FAILURES]
)
def test_image_failure_detection(pods: list[dict[str, Any]], expected: str | None) -> None:
    assert image_failure(pods) == expected


def test_image_failure_stops_a_pod_wait_at_the_first_poll() -> None:
    sleeps: list[float] = []
    with pytest.raises(TerminalState, match="ImagePullBackOff for image bad:1"):
        wait_for(
            lambda: [pod("p", waiting="ImagePullBackOff", image="bad:1")],
            lambda pods: False,
            timeout=300,
            what="vault pods Ready",
            fail_if=image_failure,
            clock=Clock(sleep=sleeps.append),
        )
    assert sleeps == []


def test_registry1_without_credentials_is_one_actionable_line() -> None:
    with pytest.raises(ConfigError) as info:
        registry_credentials({"REGISTRY1_USERNAME": "me"})
    assert str(info.value).startswith("--images registry1 needs REGISTRY1_PASSWORD")
    assert "\n" not in str(info.value)


def test_pull_secret_is_a_redacted_dockerconfigjson() -> None:
    secret = pull_secret_manifest("ns", "me", "s3cret-pass")
    assert (
        secret["type"] == "kubernetes.io/dockerconfigjson"
        and secret["metadata"]["name"] == "private-registry"
    )
    assert REDACT(str(secret)).count("s3cret-pass") == 0
    assert secret["data"][".dockerconfigjson"] not in REDACT(str(secret))


def test_image_profiles_come_from_versions_yaml() -> None:
    versions = load_versions()
    assert image_set("upstream", versions)["vault"] == versions["images"]["vault"]["upstream"]
    assert image_set("airgap", versions)["vault"] == versions["images"]["vault"]["upstream"]
    assert image_set("registry1", versions, "my/eso:dev")["external_secrets"] == "my/eso:dev"
    with pytest.raises(ConfigError, match="choose one of registry1, upstream, airgap"):
        image_set("dockerhub", versions)


def test_airgap_needs_a_folder_of_tarballs(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="no image tarballs"):
        image_archives(tmp_path)
    (tmp_path / "vault.tar").write_bytes(b"")
    assert image_archives(tmp_path) == [tmp_path / "vault.tar"]


ORDER = ["istio", "vault", "eso"]
WANTED = {"istio": "i1", "vault": "v1", "eso": "e1"}
DEPS = {"vault": ["istio"], "eso": ["istio"]}
REUSE_CASES = [
    ("fresh-cluster", {}, True, ["install", "install", "install"]),
    ("all-match", WANTED, True, ["skip", "skip", "skip"]),
    ("reuse-off", WANTED, False, ["upgrade", "upgrade", "upgrade"]),
    ("eso-values-changed", {**WANTED, "eso": "e0"}, True, ["skip", "skip", "upgrade"]),
    ("istio-changed-forces-dependents", {**WANTED, "istio": "i0"}, True, ["upgrade", "upgrade", "upgrade"]),
    ("vault-missing", {"istio": "i1", "eso": "e1"}, True, ["skip", "install", "skip"]),
]


@pytest.mark.parametrize(
    ("installed", "reuse", "actions"),
    [(i, r, a) for _, i, r, a in REUSE_CASES],
    ids=[c[0] for c in REUSE_CASES],
)
def test_reuse_decisions(installed: dict[str, str], reuse: bool, actions: list[str]) -> None:
    decisions = fp.decide(ORDER, WANTED, installed, reuse=reuse, depends_on=DEPS)
    assert [d.action.value for d in decisions] == actions


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fp.fingerprint({"a": 1, "b": 2}) == fp.fingerprint({"b": 2, "a": 1})
    assert fp.fingerprint({"a": 1}) != fp.fingerprint({"a": 2})


def test_run_state_round_trips_through_the_configmap() -> None:
    cm = fp.configmap(WANTED, fp.RunState("r1", True, "enforced"))
    assert fp.installed_fingerprints(cm) == WANTED
    assert fp.run_state(cm, "r1") == fp.RunState("r1", True, "enforced")
    assert fp.run_state(cm, "other-run") is None


CANARY_CASES = [
    ("enforced", True, [True, False], True, "enforced"),
    ("not-enforced", True, [True, True, True], False, NETPOL_NOT_ENFORCED),
    ("baseline-failed", False, [], False, "failed even before the deny policy"),
    ("probe-broken", None, [], False, "probe did not run"),
    ("no-probe-after-deny", True, [None, None], False, "no probe ran after the deny policy"),
]
ALLOW_CASES = [
    ("deny-blocks-allow-opens", [True, False], [False, True], True, "and the allow policy reopened it"),
    ("allow-does-not-reopen", [False], [False, False], False, "the allow policy did not reopen it"),
    ("allow-probe-broken", [False], [None], False, "the allow policy did not reopen it"),
]


@pytest.mark.parametrize(("after", "allow", "enforced", "detail"), [c[1:] for c in ALLOW_CASES],
                         ids=[c[0] for c in ALLOW_CASES])
def test_canary_needs_the_allow_policy_to_reopen_what_the_deny_blocked(
    after: list[bool | None], allow: list[bool | None], enforced: bool, detail: str
) -> None:
    verdict = canary_verdict(True, after, allow)
    assert verdict.enforced is enforced and detail in verdict.detail


@pytest.mark.parametrize(
    ("baseline", "after", "enforced", "detail"),
    [c[1:] for c in CANARY_CASES],
    ids=[c[0] for c in CANARY_CASES],
)
def test_canary_verdict(baseline: bool | None, after: list[bool | None], enforced: bool, detail: str) -> None:
    verdict = canary_verdict(baseline, after)
    assert verdict.enforced is enforced and detail in verdict.detail


def test_probe_output_parsing() -> None:
    assert (parse_probe("CONNECTED\n"), parse_probe("BLOCKED"), parse_probe("sh: nc: not found")) == (
        True,
        False,
        None,
    )


def test_canary_namespace_is_outside_the_mesh_and_labelled_with_the_run() -> None:
    namespace, client, server, deny = canary_manifests("eso-canary-r1", "busybox:1", "r1")
    assert namespace["metadata"]["labels"] == {"eso-conformance/run-id": "r1", "istio-injection": "disabled"}
    assert (
        server["spec"]["containers"][0]["image"] == "busybox:1"
        and server["metadata"]["namespace"] == "eso-canary-r1"
    )
    assert deny["kind"] == "NetworkPolicy" and deny["spec"]["podSelector"] == {
        "matchLabels": {"app": "canary-server"}
    }


def test_require_netpol_enforcement_fails_with_the_one_line() -> None:
    platform = bare_platform(netpol_enforced=False, netpol_detail=NETPOL_NOT_ENFORCED)
    with pytest.raises(NetpolNotShown) as info:  # the environment's verdict (exit 2), on every platform
        platform.require_netpol_enforcement()
    assert str(info.value) == NETPOL_NOT_ENFORCED


@pytest.mark.parametrize(
    ("test_name", "expected"),
    [
        ("test_token_auth_syncs", "e2e-token-auth-syncs-abc123"),
        ("test_x[kubernetes-dataFrom]", "e2e-x-kubernetes-datafrom-abc123"),
        ("test_" + "long_" * 30, None),
    ],
    ids=["plain", "parametrized", "too-long"],
)
def test_namespace_names_are_dns_labels(test_name: str, expected: str | None) -> None:
    name = namespace_name(test_name, "abc123")
    assert len(name) <= 63 and name.startswith("e2e-") and name.endswith("-abc123") and "--" not in name
    if expected:
        assert name == expected


def test_kind_config_pins_the_node_image_and_keeps_the_default_cni() -> None:
    image = "kindest/node:v1.33.4@sha256:" + "a" * 64
    config = kind_config(node_image=image, port_mappings=[PortMapping(30820, 38200)])
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and config["networking"] == {
        "disableDefaultCNI": False
    }
    (node,) = config["nodes"]
    assert node == {
        "role": "control-plane",
        "image": image,
        "extraPortMappings": [
            {"containerPort": 30820, "hostPort": 38200, "listenAddress": "127.0.0.1", "protocol": "TCP"}
        ],
    }
    assert "extraPortMappings" not in kind_config(node_image=image)["nodes"][0]


def test_node_image_must_be_pinned_by_digest() -> None:
    for image in load_versions()["kubernetes"]["node_images"].values():
        check_node_image(image)
    with pytest.raises(ConfigError, match="not pinned by digest"):
        check_node_image("kindest/node:v1.33.4")


@pytest.mark.parametrize(
    ("existing", "keep", "create", "delete"),
    [
        (["other"], False, True, True),
        (["other"], True, True, False),
        (["eso-conformance"], False, False, False),
        (["eso-conformance"], True, False, False),
    ],
    ids=["create", "create-keep", "reuse-never-deleted", "reuse-keep"],
)
def test_cluster_is_deleted_only_when_this_run_created_it(
    existing: list[str], keep: bool, create: bool, delete: bool
) -> None:
    decision = decide_cluster("eso-conformance", existing, keep_cluster=keep)
    assert (decision.create, decision.delete_at_end) == (create, delete)


@pytest.mark.parametrize("asked, expected", [(None, "v1.33.4"), ("v1.32.8", "v1.32.8"), ("1.34.0", "v1.34.0")])
def test_kubernetes_version_picks_its_pinned_node_image(asked: str | None, expected: str) -> None:
    image = node_image_for(load_versions(), asked)
    assert image.startswith(f"kindest/node:{expected}@sha256:")


def test_kubernetes_version_without_a_pinned_node_image_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^--kubernetes-version v1.20.0: no kind node image pinned for it; pinned"):
        node_image_for(load_versions(), "v1.20.0")


def test_vault_and_istio_versions_retag_their_images() -> None:
    versions = load_versions()
    images = image_set("upstream", versions, vault_version="1.20.4", istio_version="v1.28.3")
    assert images["vault"].endswith("/vault:1.20.4")
    assert images["istio_pilot"].endswith("/pilot:1.28.3") and images["istio_proxy"].endswith("/proxyv2:1.28.3")
    assert images["external_secrets"] == image_set("upstream", versions)["external_secrets"]


@pytest.mark.parametrize(("docker_host", "expected"), [
    ("tcp://docker:2375", "docker"), ("tcp://10.1.2.3:2376", "10.1.2.3"), ("tcp://localhost:2375", None),
    ("unix:///var/run/docker.sock", None), ("", None),
])
def test_a_remote_docker_engine_is_recognised_from_docker_host(docker_host: str, expected: str | None) -> None:
    from esoconf.platforms.kind.cluster import remote_docker_host

    assert remote_docker_host({"DOCKER_HOST": docker_host}) == expected


def test_kind_on_gitlab_dind_publishes_the_api_server_and_names_the_engine_host() -> None:
    """GitLab's docker:dind (ci/gitlab-ci.yml: DOCKER_HOST=tcp://docker:2375): the job container cannot reach
    127.0.0.1 of the engine; the API server listens on the engine's addresses, its certificate names `docker`,
    and the kubeconfig points there."""
    from esoconf.platforms.kind.cluster import REMOTE_API_PORT, kind_config, rewrite_kubeconfig_server

    image = "kindest/node:v1.33.4@sha256:" + "0" * 64
    config = kind_config(node_image=image, api_host="docker")
    assert config["networking"]["apiServerAddress"] == "0.0.0.0"
    assert config["networking"]["apiServerPort"] == REMOTE_API_PORT
    assert config["networking"].get("disableDefaultCNI") is not True  # kindnet still enforces NetworkPolicy
    patch = yaml.safe_load(config["kubeadmConfigPatches"][-1])
    assert patch["kind"] == "ClusterConfiguration" and "docker" in patch["apiServer"]["certSANs"]
    assert "kubeadmConfigPatches" not in kind_config(node_image=image) or all(
        "certSANs" not in p for p in kind_config(node_image=image)["kubeadmConfigPatches"])

    cluster = {"server": "https://0.0.0.0:6443", "certificate-authority-data": "Q0E="}
    kubeconfig = yaml.safe_dump({"clusters": [{"name": "kind-x", "cluster": cluster}]})
    rewritten = yaml.safe_load(rewrite_kubeconfig_server(kubeconfig, "docker"))
    assert rewritten["clusters"][0]["cluster"] == {**cluster, "server": "https://docker:6443"}
