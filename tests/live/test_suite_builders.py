"""The objects a case makes itself (token Secret, the doc's AuthorizationPolicy, a second install's values) and
the scenario's pure helpers, validated offline against the chart's CRDs. The chart's own stores and
ExternalSecrets: test_suite_rendered_objects.py."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from fakes import istio_proxy_stats
from mutants import helm_binary

from esoconf.config import PROJECT_ROOT, load_versions
from esoconf.live.cases import DocShapes
from esoconf.live.scenario.fix import doc_token_clean, previous_chart
from esoconf.live.scenario.judge import decode_secret_data, secret_data_diff
from esoconf.live.scenario.manifests import allow_policy_manifest, second_eso_values, secret_manifest
from esoconf.live.scenario.observe import has_sidecar, mesh_requests
from esoconf.render.schema import SchemaSet
from esoconf.runner import run

CHART = PROJECT_ROOT / "tests" / "fixtures" / "charts" / "external-secrets"
SHAPES = DocShapes.load(PROJECT_ROOT / "tests" / "fixtures" / "docs" / "VAULT_INTEGRATION.md")


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.for_chart(CHART, load_versions()["kubernetes"]["version"])


def _valid(schemas: SchemaSet, obj: dict) -> None:
    finding = schemas.check(obj)
    assert finding.status == "ok", str(finding)


def test_secret_keeps_bytes_like_kubectl_from_literal(schemas: SchemaSet) -> None:
    obj = secret_manifest("vault-token", "ns1", {"token": "hvs.abc\r\n"})
    _valid(schemas, obj)
    assert base64.b64decode(obj["data"]["token"]) == b"hvs.abc\r\n"
    assert decode_secret_data(obj) == {"token": "hvs.abc\r\n"}


def test_allow_policy_admits_only_the_test_namespace(schemas: SchemaSet) -> None:
    obj = allow_policy_manifest(
        SHAPES.authz_policy, name="allow-e2e", namespace="vault", source_namespace="e2e-x"
    )
    _valid(schemas, obj)
    assert obj["spec"]["rules"][0]["from"][0]["source"]["namespaces"] == ["e2e-x"]
    assert SHAPES.authz_policy["spec"]["rules"][0]["from"][0]["source"]["namespaces"] == ["external-secrets"]


def test_second_install_drops_the_label_and_everything_cluster_wide() -> None:
    base = {
        "upstream": {"podLabels": {"vault-ingress": "true", "team": "x"}, "image": {"tag": "v1"}},
        "networkPolicies": {"enabled": True},
    }
    values = second_eso_values(base, fullname="eso-b", controller_class="eso-b", namespace="e2e-x")
    up = values["upstream"]
    # the whole map is nulled: helm does not delete a nulled key of a subchart value set by the parent
    assert up["podLabels"] is None
    assert (up["installCRDs"], up["webhook"], up["certController"]) == (
        False,
        {"create": False},
        {"create": False},
    )
    assert (up["controllerClass"], up["scopedNamespace"], up["scopedRBAC"]) == ("eso-b", "e2e-x", True)
    assert (up["fullnameOverride"], up["leaderElect"]) == ("eso-b", False)
    assert up["image"] == {"tag": "v1"} and values["networkPolicies"] == {"enabled": False}
    assert values["clusterSecretStoreConfiguration"] == values["externalSecretsConfiguration"] == {"enabled": False}
    assert base["upstream"]["podLabels"]["vault-ingress"] == "true"


def test_second_install_renders_pods_without_the_label(tmp_path: Path) -> None:
    """helm itself drops the package's pod label (the fixture chart sets ``vault-ingress: "true"``)."""
    values = second_eso_values({}, fullname="eso-b", controller_class="eso-b", namespace="e2e-x")
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    home = {f"HELM_{d}_HOME": str(tmp_path / d.lower()) for d in ("CACHE", "CONFIG", "DATA")}
    out = run([str(helm_binary()), "template", "eso-b", str(CHART), "-n", "e2e-x", "-f", str(path)], env=home)
    deployment = next(d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert "vault-ingress" not in labels and labels["app.kubernetes.io/name"] == "external-secrets"


def test_secret_data_diff_never_shows_values() -> None:
    assert secret_data_diff({"a": "1"}, {"a": "1"}) is None
    assert secret_data_diff(None, {"a": "1"}) == "the Secret does not exist"
    diff = secret_data_diff({"a": "SECRET1", "c": "x"}, {"a": "SECRET2", "b": "y"})
    assert diff == "missing keys ['b']; unexpected keys ['c']; different values for keys ['a']"


def test_mesh_requests_counts_istio_metrics_of_the_vault_service() -> None:
    """Istio 1.29's proxy keeps only its default Envoy stats: per-upstream counters are not there, so the
    count comes from ``istio_requests_total`` (and TCP connections) reported by the client side."""
    host = "vault-vault.vault.svc.cluster.local"
    assert mesh_requests(istio_proxy_stats("stats/prometheus", 12), host) == 12
    assert mesh_requests(istio_proxy_stats("stats/prometheus", 0), host) == 0
    assert mesh_requests(istio_proxy_stats("stats/prometheus", 12), "other.svc.cluster.local") == 0
    tcp = (
        f'istio_tcp_connections_opened_total{{reporter="source",destination_service="{host}"}} 2\n'
        f'istio_requests_total{{reporter="destination",destination_service="{host}"}} 50\n'
    )
    assert mesh_requests(tcp, host) == 2  # destination-reported samples are the server side's


def test_sidecar_detection() -> None:
    assert has_sidecar({"spec": {"initContainers": [{"name": "istio-proxy"}]}})
    assert has_sidecar({"spec": {"containers": [{"name": "istio-proxy"}]}})
    assert not has_sidecar({"spec": {"containers": [{"name": "external-secrets"}]}})


@pytest.mark.parametrize("raw", ["hvs.token\n", "hvs.token\r\n", "hvs.tok\ren\n"])
def test_the_docs_tr_command_strips_cr_and_lf(raw: str) -> None:
    assert doc_token_clean(raw, SHAPES.token_clean) == raw.replace("\r", "").replace("\n", "")


def test_previous_chart_source() -> None:
    versions = {"charts": {"external_secrets": {"git": "https://repo1.dso.mil/x/external-secrets.git"}}}
    assert previous_chart("oci://registry/eso", versions) == "oci://registry/eso"
    assert previous_chart("tests/fixtures/charts/external-secrets", versions).endswith("external-secrets.git")
    assert previous_chart(None, versions).startswith("https://")
