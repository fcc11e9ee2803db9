"""Strict offline schema validation of rendered objects.

- Kubernetes kinds: the JSON schemas shipped with ``kubernetes-validate`` (``*-local-strict``: unknown
  fields fail), for the Kubernetes version pinned in manifests/versions.yaml. Validators are compiled
  once per kind and reused.
- Custom resources (ESO): the chart's own CRDs (its ``crds/`` folder and any CRD in the rendered
  output), ``openAPIV3Schema`` converted to JSON Schema by :func:`openapi_to_jsonschema` and checked
  with ``Draft4Validator``. Strict: objects with ``properties`` reject unknown fields unless they
  preserve unknown fields. An apiVersion the CRD does not serve fails.
- Istio kinds the charts render: small hand-written schemas (:data:`ISTIO_SCHEMAS`) for the fields
  the doc and charts use.
Anything else is reported as ``no-schema``, never silently passed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tarfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from .. import yamlio
from ..config import ConfigError
from .helm import object_id

MAX_MESSAGES = 5
KEEP_AS_IS = {"enum", "required", "default", "example", "x-kubernetes-list-map-keys"}


@dataclass(frozen=True)
class Finding:
    object: str  # Kind/namespace/name
    api_version: str
    status: str  # ok | invalid | no-schema
    source: str = ""  # which schema was used
    messages: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.status == "ok":
            return f"{self.object}: valid ({self.source})"
        if self.status == "no-schema":
            return f"{self.object} ({self.api_version}): no schema"
        return f"{self.object} ({self.api_version}) against {self.source}: " + "; ".join(self.messages)


# --- OpenAPI v3 (CRD structural schema) -> JSON Schema draft 4 ------------------------------------

def openapi_to_jsonschema(schema: Any, strict: bool = True) -> Any:
    """Our shim: nullable, int-or-string, preserve-unknown-fields, strict additionalProperties."""
    if isinstance(schema, list):
        return [openapi_to_jsonschema(item, strict) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in KEEP_AS_IS:
            out[key] = value
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: openapi_to_jsonschema(sub, strict) for name, sub in value.items()}
        else:
            out[key] = openapi_to_jsonschema(value, strict)
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if strict and "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    for key in [k for k in out if k.startswith("x-kubernetes-")]:
        out.pop(key)
    return out


METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1,
                 "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
        "namespace": {"type": ["string", "null"]},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


@dataclass
class CrdVersion:
    served: bool
    parsed_schema: dict[str, Any] | None
    storage: bool = False
    schema_text: str | None = field(default=None, repr=False)  # the YAML under `schema:`, parsed when first read
    _validator: Any = field(default=None, repr=False)

    @property
    def schema(self) -> dict[str, Any] | None:
        """openAPIV3Schema (a CRD file's versions are parsed one at a time, when a check needs one)."""
        if self.schema_text is not None:
            self.parsed_schema = ((yamlio.load("schema:\n" + self.schema_text) or {}).get("schema") or {}).get(
                "openAPIV3Schema")
            self.schema_text = None
        return self.parsed_schema

    def validator(self) -> Any:
        if self._validator is None:
            schema = openapi_to_jsonschema(self.schema or {"type": "object"})
            properties = schema.setdefault("properties", {})
            properties["metadata"] = METADATA_SCHEMA  # the API server checks metadata, not the CRD
            for key in ("apiVersion", "kind"):  # always allowed at the top, even when the CRD omits them
                properties.setdefault(key, {"type": "string"})
            self._validator = jsonschema.Draft4Validator(schema)
        return self._validator


@dataclass
class Crd:
    name: str
    group: str
    kind: str
    versions: dict[str, CrdVersion]

    @property
    def served(self) -> list[str]:
        return [v for v, info in self.versions.items() if info.served]


def crds_from_objects(objects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Crd]:
    found: dict[tuple[str, str], Crd] = {}
    for obj in objects:
        if not isinstance(obj, Mapping) or obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
        versions = {}
        for version in spec.get("versions") or []:
            schema = ((version.get("schema") or {}).get("openAPIV3Schema"))
            versions[version["name"]] = CrdVersion(bool(version.get("served", True)), schema,
                                                   bool(version.get("storage", False)))
        found[(group, kind)] = Crd((obj.get("metadata") or {}).get("name", kind), group, kind, versions)
    return found


def _crd_texts(chart: Path) -> list[str]:
    if chart.is_dir():
        folder = chart / "crds"
        files = sorted(p for p in folder.rglob("*") if p.suffix in {".yaml", ".yml"}) if folder.is_dir() else []
        return [p.read_text(encoding="utf-8") for p in files]
    texts = []
    with tarfile.open(chart) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if member.isfile() and len(parts) >= 3 and parts[1] == "crds" and member.name.endswith((".yaml", ".yml")):
                handle = tar.extractfile(member)
                if handle:
                    texts.append(handle.read().decode("utf-8"))
    return texts


LazyCrd = Crd | Callable[[], Crd]
_DOCUMENT_SEPARATOR = re.compile(r"(?m)^---[ \t]*$")
_CRD_GROUP = re.compile(r"(?m)^  group:[ \t]*[\"']?([\w.\-]+)")
_CRD_KIND = re.compile(r"(?ms)^  names:[ \t]*$.*?^    kind:[ \t]*[\"']?(\w+)")


def _parse_crd(document: str) -> Crd:
    """The CRD of one document; in the block layout helm and controller-gen write, the header is parsed with the
    version schemas cut out and each version's schema is kept as text until a check reads it."""
    entries = version_entries(document)
    if entries is not None and all(e.schema_text is not None or "openAPIV3Schema" not in e.text for e in entries):
        header = document
        for entry in reversed(entries):  # cut from the end so earlier offsets stay valid
            if entry.schema_span is not None:
                header = header[:entry.schema_span[0]] + header[entry.schema_span[1]:]
        try:
            crd = next(iter(crds_from_objects([yamlio.load(header) or {}]).values()))
        except (yaml.YAMLError, StopIteration):  # e.g. an alias into a schema that was cut: read it all
            pass
        else:
            for entry in entries:
                version = crd.versions.get(entry.name)
                if version is not None:
                    version.schema_text = entry.schema_text
            return crd
    crds = crds_from_objects([yamlio.load(document) or {}])
    return next(iter(crds.values()))


_VERSIONS_LIST = re.compile(r"(?m)^( *)versions:[ \t]*\n( *)- ")


@dataclass(frozen=True)
class VersionEntry:
    """One item of a CRD document's ``spec.versions``, read from the text by indentation."""

    text: str
    name: str
    served: bool
    storage: bool
    schema_text: str | None  # the block under its `schema:` key
    schema_span: tuple[int, int] | None  # where that block is in the document


def version_entries(document: str) -> list[VersionEntry] | None:
    """The version entries of a block-style CRD document (as helm and controller-gen write them), from the keys
    at the entries' own indentation; None when the document is not laid out that way."""
    found = _VERSIONS_LIST.search(document)
    if not found:
        return None
    item, start = len(found[2]), found.start(2)
    end = re.compile(rf"(?m)^(?! {{{item}}}- )(?! {{{item + 1},}}\S)(?=[ ]*\S)").search(document, start)
    stop = end.start() if end else len(document)
    starts = [m.start() for m in re.finditer(rf"(?m)^ {{{item}}}- ", document[:stop]) if m.start() >= start]
    entries = []
    for index, begin in enumerate(starts):
        finish = starts[index + 1] if index + 1 < len(starts) else stop
        text = document[begin:finish]
        keys = dict((m[1], m[2]) for m in re.finditer(
            rf"(?m)^(?: {{{item}}}- | {{{item + 2}}})(\w+):[ \t]*['\"]?([\w.-]*)", text))
        if "name" not in keys:
            return None
        schema = re.search(rf"(?m)^ {{{item + 2}}}schema:[ \t]*\n", text)
        span = None
        if re.search(rf"(?m)^ {{{item}}}- schema:", text):
            return None  # schema as an entry's first key: not cut here (the whole document is read instead)
        if schema:
            block_end = re.compile(rf"(?m)^(?! {{{item + 3},}}\S)(?=[ ]*\S)").search(text, schema.end())
            span = (begin + schema.end(), begin + (block_end.start() if block_end else len(text)))
        entries.append(VersionEntry(text, keys["name"], keys.get("served", "true") == "true",
                                    keys.get("storage", "false") == "true",
                                    document[span[0]:span[1]] if span else None,
                                    (begin + schema.start(), span[1]) if schema and span else None))
    return entries or None


class LazyDocument:
    """One CRD document of a file, parsed on first call (``document`` stays readable for quick looks)."""

    def __init__(self, document: str) -> None:
        self.document = document
        self._crd: Crd | None = None

    def __call__(self) -> Crd:
        if self._crd is None:
            self._crd = _parse_crd(self.document)
        return self._crd


@cache
def _crds_from_text(text: str) -> dict[tuple[str, str], LazyCrd]:
    """Index the CRDs of a file by (group, kind) and parse each only when an object of its kind is checked
    (the ESO bundle is 1.4 MB of YAML; a render uses two or three of its twenty CRDs)."""
    found: dict[tuple[str, str], LazyCrd] = {}
    for document in _DOCUMENT_SEPARATOR.split(text):
        if "CustomResourceDefinition" not in document:
            continue
        group, kind = _CRD_GROUP.search(document), _CRD_KIND.search(document)
        if group and kind:
            found[(group[1], kind[1])] = LazyDocument(document)
        else:  # unusual layout: parse now
            found.update(crds_from_objects(yamlio.load_all(document)))
    return found


def crds_from_text(text: str) -> dict[tuple[str, str], LazyCrd]:
    """The CRDs of a YAML text (a bundle, or rendered CRD documents), indexed without parsing them."""
    return dict(_crds_from_text(text))


def chart_crds(chart: Path) -> dict[tuple[str, str], LazyCrd]:
    """The CRDs shipped in the chart's ``crds/`` folder (indexed once per distinct file content)."""
    found: dict[tuple[str, str], LazyCrd] = {}
    for text in _crd_texts(chart):
        found.update(_crds_from_text(text))
    return found


# --- Istio: hand-written schemas for the fields the doc and the charts use ------------------------

def _strict(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False, **extra}


_STRINGS = {"type": "array", "items": {"type": "string"}}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR = _strict({"matchLabels": _LABELS})
_SOURCE_FIELDS = ("principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces",
                  "notNamespaces", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks")
_OPERATION_FIELDS = ("hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths")
_TARGET_REF = _strict({"group": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"},
                       "namespace": {"type": "string"}})
AUTHORIZATION_POLICY_SPEC = _strict({
    "selector": _SELECTOR,
    "targetRef": _TARGET_REF,
    "targetRefs": {"type": "array", "items": _TARGET_REF},
    "action": {"enum": ["ALLOW", "DENY", "AUDIT", "CUSTOM"]},
    "provider": _strict({"name": {"type": "string"}}),
    "rules": {"type": "array", "items": _strict({
        "from": {"type": "array", "items": _strict({"source": _strict({f: _STRINGS for f in _SOURCE_FIELDS})})},
        "to": {"type": "array", "items": _strict({"operation": _strict({f: _STRINGS for f in _OPERATION_FIELDS})})},
        "when": {"type": "array", "items": _strict({"key": {"type": "string"}, "values": _STRINGS,
                                                    "notValues": _STRINGS}, required=["key"])},
    })},
})
_MTLS = _strict({"mode": {"enum": ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]}})
PEER_AUTHENTICATION_SPEC = _strict({"selector": _SELECTOR, "mtls": _MTLS,
                                    "portLevelMtls": {"type": "object", "additionalProperties": _MTLS}})
SIDECAR_SPEC = _strict({
    "workloadSelector": _strict({"labels": _LABELS}),
    "ingress": {"type": "array", "items": {"type": "object"}},
    "egress": {"type": "array", "items": _strict({"port": {"type": "object"}, "bind": {"type": "string"},
                                                  "captureMode": {"type": "string"}, "hosts": _STRINGS})},
    "outboundTrafficPolicy": _strict({"mode": {"enum": ["REGISTRY_ONLY", "ALLOW_ANY"]},
                                      "egressProxy": {"type": "object"}}),
    "inboundConnectionPool": {"type": "object"},
})


def _istio(api_versions: tuple[str, ...], kind: str, spec: dict[str, Any]) -> dict[tuple[str, str], Any]:
    schema = _strict({"apiVersion": {"enum": list(api_versions)}, "kind": {"enum": [kind]},
                      "metadata": METADATA_SCHEMA, "spec": spec}, required=["apiVersion", "kind", "metadata"])
    validator = jsonschema.Draft4Validator(schema)
    return {(api_version, kind): validator for api_version in api_versions}


ISTIO_SCHEMAS: dict[tuple[str, str], Any] = {
    **_istio(("security.istio.io/v1", "security.istio.io/v1beta1"), "AuthorizationPolicy",
             AUTHORIZATION_POLICY_SPEC),
    **_istio(("security.istio.io/v1", "security.istio.io/v1beta1"), "PeerAuthentication",
             PEER_AUTHENTICATION_SPEC),
    **_istio(("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"),
             "Sidecar", SIDECAR_SPEC),
}


# --- Kubernetes kinds: kubernetes-validate's strict schemas, compiled once ------------------------

def _schema_root() -> Any:
    return resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")


def _minor(version: str) -> tuple[int, int]:
    match = re.match(r"v?(\d+)\.(\d+)", version)
    if not match:
        raise ConfigError(f"--kubernetes-version {version!r}: not a Kubernetes version (e.g. v1.33.4)")
    return int(match[1]), int(match[2])


@cache
def kubernetes_schema_dir(version: str) -> str:
    """The newest bundled schema set not newer than ``version`` (strict flavour)."""
    wanted = _minor(version)
    candidates = []
    for entry in _schema_root().iterdir():
        match = re.match(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$", entry.name)
        if match and (int(match[1]), int(match[2])) <= wanted:
            candidates.append(((int(match[1]), int(match[2]), int(match[3])), entry.name))
    bundled = [m for e in _schema_root().iterdir() if (m := re.match(r"^v(\d+)\.(\d+)\.\d+-local-strict$", e.name))]
    newest = max(((int(m[1]), int(m[2])) for m in bundled), default=None)
    if newest is not None and wanted > newest:
        raise ConfigError(f"--kubernetes-version {version}: no Kubernetes schemas for it (newest: "
                          f"v{newest[0]}.{newest[1]}, from kubernetes-validate); pick v{newest[0]}.{newest[1]} or "
                          f"older, or update kubernetes-validate")
    if not candidates:
        oldest = min((e.name for e in _schema_root().iterdir() if e.name.endswith("-local-strict")), default="none")
        raise ConfigError(f"--kubernetes-version {version}: no Kubernetes schemas that old (kubernetes-validate's "
                          f"oldest is {oldest.removesuffix('-local-strict')}); pick a newer version")
    return max(candidates)[1]


@cache
def _definitions(schema_dir: str) -> Resource[Any]:
    text = _schema_root().joinpath(schema_dir, "_definitions.json").read_text(encoding="utf-8")
    return Resource.from_contents(json.loads(text))


@cache
def kubernetes_validator(schema_dir: str, api_version: str, kind: str) -> Any:
    """Compiled validator, or None when kubernetes-validate has no schema for the kind."""
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    entry = _schema_root().joinpath(schema_dir, f"{kind.lower()}-{short}.json")
    if not entry.is_file():
        return None
    schema = json.loads(entry.read_text(encoding="utf-8"))
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = _definitions(schema_dir) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def is_kubernetes_group(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return group == "" or group.endswith(".k8s.io") or "." not in group


# --- validation ------------------------------------------------------------------------------------

def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _messages(validator: Any, obj: Mapping[str, Any]) -> tuple[str, ...]:
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    return tuple(f"{_path(e)}: {e.message}" for e in errors[:MAX_MESSAGES])


@dataclass
class SchemaSet:
    kubernetes_version: str
    crds: dict[tuple[str, str], LazyCrd] = field(default_factory=dict, repr=False)
    _results: dict[str, Finding] = field(default_factory=dict, repr=False)
    _seen: dict[int, tuple[Mapping[str, Any], Finding]] = field(default_factory=dict, repr=False)

    @classmethod
    def for_chart(cls, chart: Path, kubernetes_version: str,
                  rendered: Iterable[Mapping[str, Any]] = ()) -> SchemaSet:
        crds = dict(chart_crds(chart))
        crds.update(crds_from_objects(rendered))
        return cls(kubernetes_version, crds)

    def add_crds(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self.crds.update(crds_from_objects(objects))

    def check(self, obj: Mapping[str, Any]) -> Finding:
        """One object's finding; the same object (rendered objects are shared, never changed) or an equal one
        is validated once."""
        seen = self._seen.get(id(obj))
        if seen is not None and seen[0] is obj:
            return seen[1]
        key = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
        if key not in self._results:
            self._results[key] = self._check(obj)
        self._seen[id(obj)] = (obj, self._results[key])
        return self._results[key]

    def _check(self, obj: Mapping[str, Any]) -> Finding:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        ident = object_id(obj)
        group, _, version = api_version.rpartition("/")
        crd = self.crds.get((group, kind))
        if callable(crd):
            crd = self.crds[(group, kind)] = crd()
        if crd is not None:
            source = f"CRD {crd.name}"
            info = crd.versions.get(version)
            if info is None or not info.served:
                state = "is not defined" if info is None else "is not served (served: false)"
                return Finding(ident, api_version, "invalid", source,
                               (f"apiVersion: {api_version} {state} by CRD {crd.name} (served: "
                                f"{', '.join(crd.served) or 'none'})",))
            return self._finish(ident, api_version, source, info.validator(), obj)
        if (api_version, kind) in ISTIO_SCHEMAS:
            return self._finish(ident, api_version, "hand-written Istio schema", ISTIO_SCHEMAS[(api_version, kind)],
                                obj)
        if is_kubernetes_group(api_version):
            schema_dir = kubernetes_schema_dir(self.kubernetes_version)
            validator = kubernetes_validator(schema_dir, api_version, kind)
            source = f"Kubernetes {schema_dir.removesuffix('-local-strict')} (strict)"
            if validator is None:
                return Finding(ident, api_version, "invalid", source,
                               (f"apiVersion/kind: {api_version} {kind} is not served by {source}",))
            return self._finish(ident, api_version, source, validator, obj)
        return Finding(ident, api_version, "no-schema")

    @staticmethod
    def _finish(ident: str, api_version: str, source: str, validator: Any, obj: Mapping[str, Any]) -> Finding:
        messages = _messages(validator, copy.deepcopy(dict(obj)))
        return Finding(ident, api_version, "invalid" if messages else "ok", source, messages)

    def check_all(self, objects: Iterable[Mapping[str, Any]]) -> list[Finding]:
        return [self.check(obj) for obj in objects]


def summary(findings: Iterable[Finding]) -> str:
    found = list(findings)
    by_status = {s: [f for f in found if f.status == s] for s in ("ok", "invalid", "no-schema")}
    sources = sorted({f.source.split(" (")[0].split(" v")[0] for f in by_status["ok"]})
    line = f"{len(by_status['ok'])}/{len(found)} objects valid ({', '.join(sources)})"
    if by_status["no-schema"]:
        line += f"; no schema: {', '.join(sorted({f.object for f in by_status['no-schema']}))}"
    if by_status["invalid"]:
        line += f"; invalid: {', '.join(f.object for f in by_status['invalid'])}"
    return line


def assert_valid(findings: Iterable[Finding], values_file: Path | str = "") -> None:
    """Fails naming each invalid object and field path (objects without a schema are SCH-2's business)."""
    __tracebackhide__ = True
    bad = [f for f in findings if f.status == "invalid"]
    if bad:
        where = f" (values {values_file})" if values_file else ""
        raise AssertionError(f"{len(bad)} rendered object(s) fail schema validation{where}: "
                             + " | ".join(str(f) for f in bad))


def assert_has_schema(findings: Iterable[Finding]) -> None:
    __tracebackhide__ = True
    missing = sorted({f"{f.object} ({f.api_version})" for f in findings if f.status == "no-schema"})
    if missing:
        raise AssertionError(f"no schema to validate {len(missing)} rendered object(s) against (not checked, "
                             f"so not passed): {', '.join(missing)}")
