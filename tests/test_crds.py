"""esoconf.render.crds: installed CRDs against the controller's, without helm (render-tier runs use it with helm)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mutants import CHARTS, ESO

from esoconf.charts import chart_info
from esoconf.render.crds import (
    CrdSet,
    against_controller,
    compare,
    controller_source,
    crds_from_text,
    eso_subchart,
    outermost,
    schema_fields,
)
from esoconf.render.schema import chart_crds

FIXTURE_CRDS = CHARTS[ESO] / "crds"


def fixture_set(label: str = "fixture", drop: str = "") -> CrdSet:
    text = "\n---\n".join(p.read_text() for p in sorted(FIXTURE_CRDS.glob("*.yaml")) if p.name != drop)
    return CrdSet(label, crds_from_text(text), "ESO v1.3.1")


def test_versions_are_read_without_parsing_schemas() -> None:
    quick = fixture_set()
    parsed = CrdSet("parsed", {key: lazy() for key, lazy in chart_crds(CHARTS[ESO]).items()})  # type: ignore[operator]
    for key in parsed.crds:
        assert quick.versions(key) == parsed.versions(key)
    assert quick.versions(("external-secrets.io", "ExternalSecret")) == {"v1": (True, True), "v1beta1": (False, False)}


def test_same_crds_compare_equal_and_a_missing_kind_is_named() -> None:
    assert not compare(fixture_set(), fixture_set())
    comparison = compare(fixture_set(drop="sshkey.yaml"), fixture_set())
    assert comparison.missing_kinds == ["SSHKey"]
    assert "1 kind(s) the controller knows are not installed: SSHKey" in comparison.summary()


def test_pruned_fields_are_named_once_at_their_outermost_path() -> None:
    schema = {"properties": {"spec": {"properties": {"target": {"properties": {
        "manifest": {"properties": {"kind": {}}}, "name": {}}}, "data": {"items": {"properties": {"key": {}}}}}}}}
    assert schema_fields(schema, "spec") == {"spec.target", "spec.target.manifest", "spec.target.manifest.kind",
                                             "spec.target.name", "spec.data", "spec.data[].key"}
    assert outermost({"spec.target.manifest", "spec.target.manifest.kind", "spec.data[].key"}) == [
        "spec.data[].key", "spec.target.manifest"]


def test_an_eso_kind_the_controller_lacks_is_invalid() -> None:
    schemas = fixture_set(drop="sshkey.yaml").schemas("v1.33.4")
    objects = [{"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "SSHKey", "metadata": {"name": "k"}},
               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "not-eso"}}]
    [finding] = against_controller(schemas, objects)
    assert finding.status == "invalid" and "not among the controller's CRDs" in finding.messages[0]


def test_package_with_a_vendored_subchart_compares_with_its_crd_templates(tmp_path: Path) -> None:
    source = controller_source(chart_info(CHARTS[ESO]), tmp_path)
    assert source.subchart is not None and source.release == "ESO v1.3.1"
    assert eso_subchart(CHARTS[ESO], tmp_path) == source.subchart


@pytest.fixture
def flat_chart(tmp_path: Path) -> Path:
    """The fixture package without its vendored subchart (as a package that vendors none)."""
    chart = tmp_path / "flat"
    shutil.copytree(CHARTS[ESO], chart, ignore=shutil.ignore_patterns("charts"))
    text = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(text[:text.index("dependencies:")] + text[text.index("annotations:"):])
    return chart


def test_package_without_subchart_uses_the_image_tags_bundle_from_the_go_module_cache(
        flat_chart: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "mod" / "github.com/external-secrets/external-secrets@v1.3.1" / "deploy" / "crds"
    bundle.mkdir(parents=True)
    (bundle / "bundle.yaml").write_text("\n---\n".join(p.read_text() for p in sorted(FIXTURE_CRDS.glob("*.yaml"))))
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "mod"))
    source = controller_source(chart_info(flat_chart), tmp_path)
    assert source.bundle is not None and source.release == "ESO v1.3.1"
    assert not compare(fixture_set(), source.crds(renderer=None))  # type: ignore[arg-type]


def test_package_without_subchart_or_bundle_says_how_to_get_one(flat_chart: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("GOPATH", str(tmp_path / "empty"))
    source = controller_source(chart_info(flat_chart), tmp_path)
    assert "\n" not in source.missing
    assert "go mod download github.com/external-secrets/external-secrets@v1.3.1" in source.missing


def test_packaged_chart_is_unpacked_once_to_find_its_subchart(tmp_path: Path) -> None:
    import tarfile

    archive = tmp_path / "external-secrets-1.3.1-bb.1.tgz"
    with tarfile.open(archive, "w:gz", dereference=True) as tar:
        tar.add(CHARTS[ESO], arcname="external-secrets")
    source = controller_source(chart_info(archive), tmp_path / "scratch")
    assert source.subchart is not None and source.subchart.path.is_relative_to(tmp_path / "scratch")
    assert source.subchart.name == "external-secrets" and source.release == "ESO v1.3.1"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURE_CRDS.glob("*.yaml")))
def test_a_crd_read_one_version_at_a_time_equals_the_whole_document(name: str) -> None:
    import yaml

    from esoconf.render.schema import _DOCUMENT_SEPARATOR, _parse_crd

    for document in _DOCUMENT_SEPARATOR.split((FIXTURE_CRDS / name).read_text()):
        if "CustomResourceDefinition" not in document:
            continue
        lazy, full = _parse_crd(document), crds_from_objects_of(yaml.safe_load(document))
        assert {v: (i.served, i.storage, i.schema) for v, i in lazy.versions.items()} == \
            {v: (i.served, i.storage, i.schema) for v, i in full.versions.items()}


def test_a_crd_whose_entries_start_with_schema_is_read_whole() -> None:
    from esoconf.render.schema import _parse_crd, version_entries

    document = "\n".join([
        "apiVersion: apiextensions.k8s.io/v1", "kind: CustomResourceDefinition", "metadata:", "  name: xs.example.io",
        "spec:", "  group: example.io", "  names:", "    kind: X", "  versions:", "  - schema:",
        "      openAPIV3Schema:", "        type: object", "    name: v1", "    served: true", "    storage: true", ""])
    assert version_entries(document) is None
    assert _parse_crd(document).versions["v1"].schema == {"type": "object"}


def crds_from_objects_of(obj: dict) -> object:
    from esoconf.render.schema import crds_from_objects

    return next(iter(crds_from_objects([obj]).values()))
