"""The CRDs a package installs against the CRDs of the ESO controller it runs (claims CRD-1 and CRD-2).

The Big Bang ESO package turns the vendored upstream chart's CRD templates off
(``upstream.installCRDs: false``) and installs its own ``crds/``; nothing keeps the two in step. Here:

- **installed**: the package's ``crds/`` plus every CRD its templates render with the values under test;
- **controller**: the CRD templates of the package's ESO subchart (the chart whose ``name`` is
  ``external-secrets`` under ``charts/``, directory or ``.tgz``) rendered alone with ``installCRDs: true``,
  i.e. the CRDs released with the controller's appVersion. A package without an ESO subchart: the
  ``deploy/crds/bundle.yaml`` of the ESO release named by its image tag, from the Go module cache
  (``go mod download github.com/external-secrets/external-secrets@<tag>``); without one the claim
  cannot be checked and says so in one line.

Compared: kinds the controller knows that are not installed; served/storage flags per version; and,
for the kinds the doc uses (:data:`DOC_FIELDS`), the schema fields of the controller's storage version
that the installed CRD does not have (the API server prunes them silently). CRD documents are indexed
by regular expression and parsed only for the doc kinds; versions are read from the keys at the version
entries' indentation, so the other kinds of a 1.7 MB bundle cost milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .. import yamlio
from ..charts import ChartInfo, chart_file, chart_info
from ..config import ConfigError
from .helm import Renderer, RenderJob, object_id
from .schema import (
    Crd,
    Finding,
    LazyCrd,
    LazyDocument,
    SchemaSet,
    chart_crds,
    crds_from_objects,
    crds_from_text,
    version_entries,
)

ESO_GROUP = "external-secrets.io"  # and its subgroups (generators.external-secrets.io)
ESO_MODULE = "github.com/external-secrets/external-secrets"
# the kinds the doc's values render, and the part of their schema those values rely on
DOC_FIELDS: dict[str, str] = {"ClusterSecretStore": "spec.provider.vault", "ExternalSecret": "spec"}
CONTROLLER_VALUES: dict[str, Any] = {"installCRDs": True}  # the subchart's own switch, everything else default
SHOWN = 4  # differences named per group in the one-line summary
CrdKey = tuple[str, str]  # (group, kind)


def is_eso_kind(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return group == ESO_GROUP or group.endswith("." + ESO_GROUP)


# --- served/storage without parsing schemas -----------------------------------------------------------

@cache
def _versions_of_document(document: str) -> dict[str, tuple[bool, bool]]:
    entries = version_entries(document)
    if entries is not None:
        return {entry.name: (entry.served, entry.storage) for entry in entries}
    spec = (yamlio.load(document) or {}).get("spec") or {}  # an unusual layout: read the whole document
    return {str(v.get("name")): (bool(v.get("served", True)), bool(v.get("storage", False)))
            for v in spec.get("versions") or [] if isinstance(v, Mapping)}


@dataclass
class CrdSet:
    """CRDs by (group, kind), lazily parsed, with where they come from (``label`` names versions)."""

    label: str  # where from, e.g. "crds/ of external-secrets 1.3.1-bb.1, Kptfile ref helm-chart-0.16.2"
    crds: dict[CrdKey, LazyCrd] = field(default_factory=dict, repr=False)
    release: str = ""  # the ESO release they are, when known ("ESO v0.16.2")

    def crd(self, key: CrdKey) -> Crd:
        found = self.crds[key]
        if callable(found):
            found = self.crds[key] = found()
        return found

    def kinds(self) -> dict[str, CrdKey]:
        return {kind: (group, kind) for group, kind in self.crds}

    def versions(self, key: CrdKey) -> dict[str, tuple[bool, bool]]:
        """{version: (served, storage)}."""
        found = self.crds[key]
        if isinstance(found, LazyDocument):
            return _versions_of_document(found.document)
        crd = self.crd(key)
        return {name: (info.served, info.storage) for name, info in crd.versions.items()}

    def schemas(self, kubernetes_version: str) -> SchemaSet:
        return SchemaSet(kubernetes_version, dict(self.crds))


def warm(crd_set: CrdSet) -> None:
    """Do now what the checks would do later (versions of every kind, the doc kinds parsed and their storage
    version's validator built), so it overlaps the helm renders instead of following them."""
    kinds = crd_set.kinds()
    for key in crd_set.crds:
        crd_set.versions(key)
    for kind in DOC_FIELDS:
        if kind in kinds:
            for version in crd_set.crd(kinds[kind]).versions.values():
                if version.served and version.storage:  # the version the charts render (others: when asked)
                    version.validator()


# --- schema fields ------------------------------------------------------------------------------------

def schema_fields(schema: Mapping[str, Any] | None, root: str) -> set[str]:
    """Every property path below ``root`` (dotted; ``[]`` for array items) that ``schema`` declares."""
    node: Any = schema or {}
    for part in root.split("."):
        node = ((node.get("properties") or {}).get(part)) if isinstance(node, Mapping) else None
        if node is None:
            return set()
    found: set[str] = set()

    def walk(sub: Any, path: str) -> None:
        if not isinstance(sub, Mapping):
            return
        for name, child in (sub.get("properties") or {}).items():
            found.add(f"{path}.{name}")
            walk(child, f"{path}.{name}")
        if isinstance(sub.get("items"), Mapping):
            walk(sub["items"], f"{path}[]")

    walk(node, root)
    return found


def outermost(paths: Iterable[str]) -> list[str]:
    """The paths not below another one of them (a missing object is named once, not with each child)."""
    ordered = sorted(set(paths))
    return [p for p in ordered if not any(p != q and (p.startswith(q + ".") or p.startswith(q + "[]"))
                                          for q in ordered)]


# --- the comparison -----------------------------------------------------------------------------------

@dataclass
class CrdComparison:
    installed: CrdSet = field(repr=False)
    controller: CrdSet = field(repr=False)
    missing_kinds: list[str] = field(default_factory=list)
    versions: dict[str, list[str]] = field(default_factory=dict)  # difference -> kinds
    pruned: dict[str, list[str]] = field(default_factory=dict)  # kind -> outermost field paths

    def __bool__(self) -> bool:
        return bool(self.missing_kinds or self.versions or self.pruned)

    def differences(self) -> list[str]:
        lines = []
        if self.missing_kinds:
            lines.append(f"{len(self.missing_kinds)} kind(s) the controller knows are not installed: "
                         f"{_first(self.missing_kinds)}")
        lines += [f"{what}: {_first(kinds)}" for what, kinds in self.versions.items()]
        lines += [f"{kind} fields the controller knows and the installed CRD prunes ({len(paths)}): "
                  f"{_first(paths)}" for kind, paths in self.pruned.items()]
        return lines

    def summary(self) -> str:
        head = f"the package installs {self.installed.release or 'its own'} CRDs, its controller is " \
               f"{self.controller.release or 'of unknown release'}"
        where = f" [installed: {self.installed.label}; controller: {self.controller.label}]"
        if not self:
            return f"{head}: same kinds, served/storage versions and {', '.join(DOC_FIELDS)} fields{where}"
        return f"{head}: " + "; ".join(self.differences()) + where


def _first(items: list[str]) -> str:
    more = f", ... (+{len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def _version_differences(kind: str, installed: dict[str, tuple[bool, bool]],
                         controller: dict[str, tuple[bool, bool]]) -> list[str]:
    found = []
    for version in sorted(set(installed) | set(controller)):
        mine, theirs = installed.get(version), controller.get(version)
        if mine == theirs:
            continue
        if mine is None or theirs is None:
            where = "the package" if theirs is None else "the controller"
            found.append(f"{version} defined only by {where}")
            continue
        for index, flag in enumerate(("served", "storage")):
            if mine[index] != theirs[index]:
                found.append(f"{version} {flag} by the package, not by the controller" if mine[index]
                             else f"{version} {flag} by the controller, not by the package")
    return found


def compare(installed: CrdSet, controller: CrdSet) -> CrdComparison:
    result = CrdComparison(installed, controller)
    have, know = installed.kinds(), controller.kinds()
    result.missing_kinds = sorted(set(know) - set(have))
    for kind in sorted(set(know) & set(have)):
        for what in _version_differences(kind, installed.versions(have[kind]), controller.versions(know[kind])):
            result.versions.setdefault(what, []).append(kind)
    for kind, root in DOC_FIELDS.items():
        if kind not in know or kind not in have:
            continue
        theirs = controller.crd(know[kind])
        storage = next((name for name, info in theirs.versions.items() if info.storage), None)
        mine = installed.crd(have[kind]).versions.get(storage or "")
        if storage is None or mine is None:
            continue  # a version difference, already named
        pruned = schema_fields(theirs.versions[storage].schema, root) - schema_fields(mine.schema, root)
        if pruned:
            result.pruned[kind] = outermost(pruned)
    return result


def against_controller(schemas: SchemaSet, objects: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """The ESO objects among ``objects`` checked with the controller's CRDs; a kind it has no CRD for fails."""
    findings = []
    for obj in objects:
        api_version = str(obj.get("apiVersion", ""))
        if not is_eso_kind(api_version):
            continue
        finding = schemas.check(obj)
        if finding.status == "no-schema":
            finding = Finding(object_id(obj), api_version, "invalid", "the controller's CRDs",
                              (f"kind {obj.get('kind')} ({api_version}) is not among the controller's CRDs",))
        findings.append(finding)
    return findings


# --- where the two sets come from ---------------------------------------------------------------------

def kptfile_ref(text: str | None) -> tuple[str, str]:
    """(the kpt upstream git ref, the ESO release it names) of a Kptfile, or ('', '')."""
    ref = str((((yamlio.load(text) or {}).get("upstream") or {}).get("git") or {}).get("ref") or "") if text else ""
    version = re.search(r"(\d+\.\d+\.\d+)", ref)
    return ref, f"ESO v{version[1]}" if version else ""


def installed_crds(info: ChartInfo, rendered: Iterable[Mapping[str, Any]]) -> CrdSet:
    crds: dict[CrdKey, LazyCrd] = dict(chart_crds(info.path))
    from_templates = crds_from_objects(rendered)
    crds.update(from_templates)
    ref, release = kptfile_ref(chart_file(info.path, "crds/Kptfile"))
    label = f"crds/ of {info.label}" + (f", Kptfile ref {ref}" if ref else "")
    if from_templates:
        label += f" + {len(from_templates)} CRD template(s) the values enable"
    return CrdSet(label, crds, release)


def _unpacked(archive: Path, scratch: Path) -> Path:
    """A chart archive unpacked once under ``scratch`` (keyed by its content)."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
    dest = scratch / f"unpacked-{digest}"
    if not dest.is_dir():
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse links and paths leaving dest
                tar.extractall(dest, filter="data")
            else:  # pragma: no cover - older 3.11 patch releases
                tar.extractall(dest)  # noqa: S202
    roots = [p for p in dest.iterdir() if (p / "Chart.yaml").is_file()]
    return roots[0] if roots else dest


def eso_subchart(chart: Path, scratch: Path) -> ChartInfo | None:
    """The vendored upstream ESO chart of a package (directory or .tgz under ``charts/``), if any."""
    root = chart if chart.is_dir() else _unpacked(chart, scratch)
    folder = root / "charts"
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not ((entry / "Chart.yaml").is_file() or entry.name.endswith(".tgz")):
            continue
        try:
            info = chart_info(entry)
        except ConfigError:
            continue
        if info.name == "external-secrets":
            return info
    return None


def image_tag(info: ChartInfo) -> str:
    image = ((info.values.get("upstream") or {}).get("image")) or {}
    return str(image.get("tag") or info.app_version)


def module_cache_bundle(tag: str) -> Path | None:
    """``deploy/crds/bundle.yaml`` of ESO ``tag`` in the Go module cache (``go mod download``), if there."""
    gopath = Path(os.environ.get("GOPATH") or Path.home() / "go")
    roots = [os.environ.get("GOMODCACHE") or "", str(gopath / "pkg" / "mod")]
    for root in filter(None, roots):
        bundle = Path(root) / f"{ESO_MODULE}@{tag}" / "deploy" / "crds" / "bundle.yaml"
        if bundle.is_file():
            return bundle
    return None


@dataclass(frozen=True)
class ControllerSource:
    """How to get the controller's CRDs: a subchart render, a bundle file, or why there is none."""

    label: str
    release: str = ""
    subchart: ChartInfo | None = None
    bundle: Path | None = None
    missing: str = ""

    def job(self) -> RenderJob | None:
        return (self.subchart.path, "external-secrets", CONTROLLER_VALUES, True) if self.subchart else None

    def crds(self, renderer: Renderer) -> CrdSet:
        if self.subchart is not None:
            rendered = renderer.render(self.subchart.path, "external-secrets", CONTROLLER_VALUES, crds_as_text=True)
            found = crds_from_text(rendered.crd_text)
            found.update(crds_from_objects(rendered.objects))
            return CrdSet(self.label, found, self.release)
        assert self.bundle is not None, self.missing
        return CrdSet(self.label, crds_from_text(self.bundle.read_text(encoding="utf-8")), self.release)


def controller_source(info: ChartInfo, scratch: Path) -> ControllerSource:
    tag = image_tag(info)
    sub = eso_subchart(info.path, scratch)
    if sub is not None:
        image = f", image tag {tag}" if tag and tag != sub.app_version else ""
        return ControllerSource(f"CRD templates of subchart {sub.label}, installCRDs=true{image}",
                                f"ESO {sub.app_version}", subchart=sub)
    bundle = module_cache_bundle(tag)
    if bundle is not None:
        return ControllerSource(f"image tag {tag}: deploy/crds/bundle.yaml of {ESO_MODULE}@{tag} in the Go "
                                f"module cache", f"ESO {tag}", bundle=bundle)
    return ControllerSource("", missing=(
        f"no controller CRDs to compare with: {info.label} has no external-secrets subchart under charts/, and ESO "
        f"{tag} (its image tag) is not in the Go module cache; run `go mod download {ESO_MODULE}@{tag}` (or set "
        f"GOMODCACHE) and rerun"))
