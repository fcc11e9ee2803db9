"""Values documents of the live tier, rendered offline with the fixture charts (and helm command lines)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from esoconf.config import PROJECT_ROOT, load_versions
from esoconf.doc import load_doc
from esoconf.live.eso import doc_eso_values, eso_values
from esoconf.live.images import image_set
from esoconf.platforms.incluster.cluster import (
    ChartRef,
    ClusterAccess,
    helm_status,
    helm_uninstall,
    helm_upgrade_install,
)
from esoconf.platforms.incluster.istio import IstioComponent, istiod_values, mesh_policies
from esoconf.platforms.incluster.vault import doc_vault_authorization_policies, vault_values
from esoconf.render.helm import Rendered, Renderer
from esoconf.tools import find_tool

CHARTS = PROJECT_ROOT / "tests" / "fixtures" / "charts"
DOC = load_doc(PROJECT_ROOT / "tests" / "fixtures" / "docs" / "VAULT_INTEGRATION.md")
VERSIONS = load_versions()


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Renderer:
    try:
        helm = find_tool("helm").path
    except Exception as exc:  # the unit suite runs where helm is installed (tox installs it)
        pytest.fail(f"helm is needed to validate the live values offline: {exc}")
    return Renderer(helm, tmp_path_factory.mktemp("live-render"))


def container_images(rendered: Rendered) -> set[str]:
    images = set()
    for obj in rendered.objects:
        pod = (obj.get("spec") or {}).get("template", {}).get("spec") or {}
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            images.add(c["image"])
    return images


def test_vault_values_render_dev_mode_with_the_docs_authorization_policy(renderer: Renderer) -> None:
    images = image_set("upstream", VERSIONS)
    rendered = renderer.render(
        CHARTS / "vault", "vault", vault_values(images, doc_vault_authorization_policies(DOC))
    )
    ap = rendered.one("AuthorizationPolicy", "allow-external-secrets", "vault")
    assert ap["spec"]["rules"][0]["from"][0]["source"]["namespaces"] == ["external-secrets"]
    assert rendered.find("AuthorizationPolicy", "default-authz-allow-nothing")
    assert rendered.find("NetworkPolicy", "allow-ingress-to-vault-port-8200-from-custom-app-ingress")
    assert container_images(rendered) == {images["vault"]}
    assert not [o for o in rendered.objects if o.get("kind") == "Job"], "autoInit must be off"
    server = rendered.one("StatefulSet", "vault-vault", "vault")
    assert "-dev" in " ".join(
        str(a)
        for c in server["spec"]["template"]["spec"]["containers"]
        for a in [*(c.get("command") or []), *(c.get("args") or [])]
    )


def test_doc_authorization_policy_reaches_vault_only_through_the_adapter() -> None:
    literal = DOC.yaml("network").data["addons"]["vault"]["values"]
    assert "customAuthorizationPolicies" in literal["istio"]["hardened"]
    assert [ap["name"] for ap in doc_vault_authorization_policies(DOC)] == ["allow-external-secrets"]


@pytest.mark.parametrize("profile", ["upstream", "registry1"])
def test_eso_values_render_with_the_profile_images(renderer: Renderer, profile: str) -> None:
    images = image_set(profile, VERSIONS)
    values = eso_values(doc_eso_values(DOC), images)
    rendered = renderer.render(CHARTS / "external-secrets", "external-secrets", values)
    expected = {images["external_secrets"]} | ({images["kubectl"]} if profile == "registry1" else set())
    assert container_images(rendered) == expected
    assert rendered.find("NetworkPolicy", "allow-egress-vault"), "doc: networkPolicies.enabled is kept"
    assert not rendered.find("ClusterSecretStore"), "the base install carries no stores"
    deployment = next(o for o in rendered.objects if o.get("kind") == "Deployment")
    pull_secrets = deployment["spec"]["template"]["spec"].get("imagePullSecrets") or []
    assert bool(pull_secrets) is (profile == "registry1")


class NamespaceRecordingEnv:
    """Just what IstioComponent.ready touches: pods are Ready, applies succeed, namespaces are recorded."""

    def __init__(self) -> None:
        self.namespaces: dict[str, dict[str, str]] = {}
        self.kube = self

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return {"metadata": {"name": name, "labels": self.namespaces[name]}} if name in self.namespaces else None

    def wait_pods(self, *args: Any) -> None:
        pass

    def ensure_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.namespaces[name] = {**self.namespaces.get(name, {}), **(labels or {})}


def test_istio_system_carries_the_label_the_eso_istiod_egress_policy_selects(renderer: Renderer) -> None:
    """Without it ESO reaches istiod only through ipBlock 0.0.0.0/0 (not applied to pod IPs by Cilium).
    Set by ready(), so also on a reused platform or an existing cluster's Istio."""
    values = eso_values(doc_eso_values(DOC), image_set("upstream", VERSIONS))
    rendered = renderer.render(CHARTS / "external-secrets", "external-secrets", values)
    policy = rendered.one("NetworkPolicy", "allow-istiod-egress", "external-secrets")
    selector = policy["spec"]["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"]
    env = NamespaceRecordingEnv()
    IstioComponent(version="1.29.0").ready(env)  # type: ignore[arg-type]
    labels = env.namespaces.get("istio-system", {})
    assert selector.items() <= labels.items(), f"{selector} not in istio-system's labels {labels}"
    existing = NamespaceRecordingEnv()  # an existing cluster's Istio that names its namespace otherwise
    existing.namespaces["istio-system"] = {"app.kubernetes.io/name": "istio-system"}
    IstioComponent(version="1.29.0").ready(existing)  # type: ignore[arg-type]
    assert existing.namespaces["istio-system"]["app.kubernetes.io/name"] == "istio-system"


def test_istiod_values_use_the_profile_hub_and_native_sidecars() -> None:
    values = istiod_values(image_set("registry1", VERSIONS))
    assert values["global"]["hub"] == "registry1.dso.mil/ironbank/opensource/istio"
    assert values["global"]["tag"] == "1.29.0" and values["global"]["imagePullSecrets"] == [
        "private-registry"
    ]
    assert values["env"]["ENABLE_NATIVE_SIDECARS"] == "true"
    assert "imagePullSecrets" not in istiod_values(image_set("upstream", VERSIONS))["global"]


# keys of the istiod chart (>= 1.24) that we set; the pilot settings are top-level there (`pilot:` reaches
# the Deployment only through the chart's legacy descope shim), so an unknown or `pilot:` key is a defect
ISTIOD_KEYS_WE_SET = {"env", "resources", "meshConfig", "global"}


def test_istiod_values_use_only_the_charts_top_level_keys() -> None:
    values = istiod_values(image_set("upstream", VERSIONS))
    assert set(values) <= ISTIOD_KEYS_WE_SET, sorted(set(values) - ISTIOD_KEYS_WE_SET)
    assert values["meshConfig"]["accessLogFile"] == "/dev/stdout"


@pytest.mark.parametrize(
    ("hardened", "names"),
    [
        (True, ["default", "allow-nothing-policy"]),
        (False, ["default"]),
    ],
    ids=["hardened", "not-hardened"],
)
def test_mesh_policies(hardened: bool, names: list[str]) -> None:
    policies = mesh_policies(hardened=hardened)
    assert [p["metadata"]["name"] for p in policies] == names
    assert policies[0]["spec"] == {"mtls": {"mode": "STRICT"}}


ACCESS = ClusterAccess(Path("/k/config"), "ctx", Path("/bin/kubectl"), Path("/bin/helm"))

HELM_LINES: list[tuple[str, list[str], list[str]]] = [
    (
        "upgrade-install-local",
        helm_upgrade_install(
            "vault-vault", ChartRef("/charts/vault"), "vault", values_file=Path("/v.yaml"), timeout_s=600
        ),
        [
            "upgrade",
            "--install",
            "vault-vault",
            "/charts/vault",
            "--namespace",
            "vault",
            "--timeout",
            "600s",
            "--history-max",
            "5",
            "--values",
            "/v.yaml",
        ],
    ),
    (
        "upgrade-install-repo",
        helm_upgrade_install(
            "istiod",
            ChartRef("istiod", "1.29.0", "https://istio.example/charts"),
            "istio-system",
            timeout_s=300,
            wait=True,
        ),
        [
            "upgrade",
            "--install",
            "istiod",
            "istiod",
            "--repo",
            "https://istio.example/charts",
            "--version",
            "1.29.0",
            "--namespace",
            "istio-system",
            "--timeout",
            "300s",
            "--history-max",
            "5",
            "--wait",
        ],
    ),
    (
        "uninstall",
        helm_uninstall("x", "ns"),
        ["uninstall", "x", "--namespace", "ns", "--wait", "--timeout", "300s", "--ignore-not-found"],
    ),
    ("status", helm_status("x", "ns"), ["status", "x", "--namespace", "ns", "--show-resources"]),
]


@pytest.mark.parametrize(
    ("args", "expected"), [(a, e) for _, a, e in HELM_LINES], ids=[name for name, _, _ in HELM_LINES]
)
def test_helm_command_lines(args: list[str], expected: list[str]) -> None:
    assert args == expected


def test_helm_and_kubectl_carry_the_runs_kubeconfig_and_context() -> None:
    assert ACCESS.helm_cmd("list")[-4:] == ["--kubeconfig", "/k/config", "--kube-context", "ctx"]
    assert ACCESS.kubectl_cmd("get", "pods") == [
        "/bin/kubectl",
        "--kubeconfig",
        "/k/config",
        "--context",
        "ctx",
        "get",
        "pods",
    ]


def values_of(values: dict[str, Any], *path: str) -> Any:
    for key in path:
        values = values[key]
    return values


def test_vault_values_keep_hardened_parity() -> None:
    values = vault_values(image_set("upstream", VERSIONS), [])
    assert values_of(values, "istio", "authorizationPolicies", "enabled") is True
    assert values_of(values, "networkPolicies", "enabled") is True
    assert values_of(values, "autoInit", "enabled") is False
    assert values_of(values, "upstream", "injector", "enabled") is False
    assert values_of(values, "upstream", "global", "imagePullSecrets") == []


def test_vault_values_reach_helm_whole_but_the_artifacts_copy_hides_the_dev_root_token(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from esoconf.live.vault import DEV_ROOT_TOKEN
    from esoconf.platforms.incluster.cluster import write_values
    from esoconf.platforms.incluster.vault import vault_values

    values = vault_values(image_set("upstream", VERSIONS), [])
    for_helm = write_values(values, tmp_path / "artifacts" / "values", "vault-vault")
    request.addfinalizer(lambda: shutil.rmtree(for_helm.parent))  # outside tmp_path: clean it
    assert DEV_ROOT_TOKEN in for_helm.read_text()
    assert tmp_path not in for_helm.parents and for_helm.stat().st_mode & 0o077 == 0
    recorded = (tmp_path / "artifacts" / "values" / "vault-vault.values.yaml").read_text()
    assert DEV_ROOT_TOKEN not in recorded and "devRootToken: <redacted>" in recorded
