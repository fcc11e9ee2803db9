"""``helm template`` a chart with given values, once per distinct (chart, values).

Release names and namespaces are the ones Big Bang's Flux HelmReleases give the packages
(``external-secrets-external-secrets`` in ``external-secrets``, ``vault-vault`` in ``vault``), because
names and ``app.kubernetes.io/instance`` labels depend on them.

Results are cached in-process keyed by the chart's content fingerprint, release, namespace and the
canonical hash of the values, so a session renders each pair once (and an in-process re-run with an
unchanged chart renders nothing). ``Renderer.renders`` counts the helm calls this renderer made.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import yamlio
from ..runner import CommandError, run
from ..tools import helm_home_env

RELEASES: dict[str, tuple[str, str]] = {
    "external-secrets": ("external-secrets-external-secrets", "external-secrets"),
    "vault": ("vault-vault", "vault"),
    "umbrella": ("bigbang", "bigbang"),  # the Big Bang umbrella (its own Flux resources live in bigbang)
}
HELM_ERROR_LINES = 8
RENDER_TIMEOUT = 120.0



class RenderError(AssertionError):
    """helm could not render the chart: helm's own first lines plus the values file used."""


def values_hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def chart_fingerprint(chart: Path) -> str:
    """Changes whenever any file of the chart changes (path, size, mtime)."""
    digest = hashlib.sha256(str(chart.resolve()).encode())
    paths = sorted(str(p) for p in chart.rglob("*")) if chart.is_dir() else [str(chart)]
    for name in paths:
        path = Path(name)
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def object_id(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{obj.get('kind', '?')}/{namespace + '/' if namespace else ''}{meta.get('name', '?')}"


@dataclass(frozen=True)
class Rendered:
    chart: Path
    release: str
    namespace: str
    values_file: Path
    objects: tuple[dict[str, Any], ...]
    crd_text: str = ""  # CRD documents kept unparsed (``render(..., crds_as_text=True)``), joined by ---

    def find(self, kind: str, name: str | None = None, namespace: str | None = None) -> list[dict[str, Any]]:
        found = []
        for obj in self.objects:
            meta = obj.get("metadata") or {}
            if obj.get("kind") != kind or (name is not None and meta.get("name") != name):
                continue
            if namespace is not None and self.namespace_of(obj) != namespace:
                continue
            found.append(obj)
        return found

    def namespace_of(self, obj: Mapping[str, Any]) -> str | None:
        """Where helm would create the object: its own namespace, else the release namespace
        (cluster-scoped kinds return their metadata value, normally None)."""
        meta = obj.get("metadata") or {}
        return meta.get("namespace") or (self.namespace if obj.get("kind") not in CLUSTER_SCOPED else None)

    def one(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        __tracebackhide__ = True
        found = self.find(kind, name, namespace)
        if len(found) != 1:
            where = f" in namespace {namespace}" if namespace else ""
            present = sorted(object_id(o) for o in self.objects if o.get("kind") == kind)
            raise AssertionError(f"expected exactly one {kind} {name!r}{where}, found {len(found)} "
                                 f"(rendered {kind}s: {', '.join(present) or 'none'}; values {self.values_file})")
        return found[0]


CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "ClusterSecretStore", "ClusterExternalSecret",
                  "CustomResourceDefinition", "Namespace", "MutatingWebhookConfiguration",
                  "ValidatingWebhookConfiguration", "PersistentVolume", "StorageClass", "PriorityClass"}


_DOCUMENT = re.compile(r"(?m)^---[ \t]*$")
_PARSED: dict[str, tuple[Any, ...]] = {}  # rendered document text -> its objects (renders share most documents)


def parse_manifests(text: str) -> tuple[dict[str, Any], ...]:
    """Rendered YAML documents as dicts (empty documents and non-objects skipped). A document already seen in
    another render is not parsed again: the same (read-only) object is returned."""
    found = []
    for document in _DOCUMENT.split(text):
        if not document.strip():
            continue
        if document not in _PARSED:  # load_all: a `--- {...}` line the split kept is still read right
            _PARSED[document] = tuple(yamlio.load_all(document))
        found += [parsed for parsed in _PARSED[document] if isinstance(parsed, dict) and parsed]
    return tuple(found)
_CRD_DOCUMENT = re.compile(r"(?m)^kind:[ \t]*[\"']?CustomResourceDefinition\b")


def split_crds(text: str) -> tuple[str, str]:
    """(the non-CRD documents, the CRD documents) of rendered output, as YAML text: the CRDs of an ESO
    chart are megabytes that only their own (lazy) index needs to read."""
    documents = _DOCUMENT.split(text)
    crds = [d for d in documents if _CRD_DOCUMENT.search(d)]
    rest = [d for d in documents if not _CRD_DOCUMENT.search(d)]
    return "\n---\n".join(rest), "\n---\n".join(crds)


RenderJob = tuple[Path, str, Mapping[str, Any], bool]  # chart, package, values, crds_as_text
_CACHE: dict[tuple[str, str, str, str, bool], Rendered | RenderError] = {}
_PENDING: dict[tuple[str, str, str, str, bool], threading.Event] = {}
_CACHE_LOCK = threading.Lock()


@dataclass
class Renderer:
    helm: Path
    workdir: Path  # values files and HELM_*_HOME live here
    renders: int = 0
    helm_seconds: float = 0.0
    calls: list[tuple[Path, str, str, Path]] = field(default_factory=list)  # what was rendered (for benchmarks)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _fingerprints: dict[Path, str] = field(default_factory=dict, repr=False)
    _outcomes: dict[Path, list[str]] = field(default_factory=dict, repr=False)  # chart -> helm error or ""
    _inflight: dict[Path, list[Future[Any]]] = field(default_factory=dict, repr=False)  # prefetched, per chart

    @property
    def env(self) -> dict[str, str]:
        return helm_home_env(self.workdir / "helm-home")

    def fingerprint(self, chart: Path) -> str:
        """The chart's content fingerprint, computed once per renderer (the chart does not change mid-session)."""
        with self._lock:
            if chart not in self._fingerprints:
                self._fingerprints[chart] = chart_fingerprint(chart)
            return self._fingerprints[chart]

    def values_file(self, release: str, values: Mapping[str, Any]) -> Path:
        path = self.workdir / "values" / f"{release}-{values_hash(values)[:12]}.yaml"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yamlio.dump(values), encoding="utf-8")
        return path

    def render(self, chart: Path, package: str, values: Mapping[str, Any], *, crds_as_text: bool = False) -> Rendered:
        """Render (or reuse) ``chart`` as the Big Bang release of ``package``; raises RenderError.
        ``crds_as_text``: CRD documents go to ``Rendered.crd_text`` unparsed instead of ``objects``."""
        __tracebackhide__ = True
        result = self._render(chart, package, values, crds_as_text)
        if isinstance(result, RenderError):
            raise result
        return result

    def _render(self, chart: Path, package: str, values: Mapping[str, Any],
                crds_as_text: bool = False) -> Rendered | RenderError:
        release, namespace = RELEASES[package]
        key = (self.fingerprint(chart), release, namespace, values_hash(values), crds_as_text)
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
            pending = _PENDING.get(key) if cached is None else None
            if cached is None and pending is None:
                _PENDING[key] = threading.Event()
        if cached is not None:
            self._note(chart, cached)
            return cached
        if pending is not None:  # another thread is rendering this very pair: wait for its result
            pending.wait()
            return _CACHE[key]
        try:
            return self._run_helm(chart, release, namespace, values, crds_as_text, key)
        except Exception as exc:  # noqa: BLE001 - a waiting test gets it as its render's error, not a KeyError
            with _CACHE_LOCK:
                _CACHE[key] = RenderError(f"rendering {chart} (release {release}) failed: {exc!r}")
            raise
        finally:
            with _CACHE_LOCK:
                _PENDING.pop(key).set()

    def _run_helm(self, chart: Path, release: str, namespace: str, values: Mapping[str, Any], crds_as_text: bool,
                  key: tuple[str, str, str, str, bool]) -> Rendered | RenderError:
        values_file = self.values_file(release, values)
        cmd = [str(self.helm), "template", release, str(chart), "-n", namespace, "-f", str(values_file)]
        result: Rendered | RenderError
        try:
            out = run(cmd, env=self.env, timeout=RENDER_TIMEOUT)
            text, crd_text = split_crds(out.stdout) if crds_as_text else (out.stdout, "")
            result = Rendered(chart, release, namespace, values_file, parse_manifests(text), crd_text)
            seconds = out.duration
        except CommandError as exc:
            helm_lines = (exc.stderr_tail or exc.note or "").strip().splitlines()[:HELM_ERROR_LINES]
            body = "\n".join("    " + line for line in helm_lines)
            result = RenderError(f"helm could not render {chart} (release {release}, namespace {namespace}) "
                                 f"with values file {values_file}:\n{body}")
            seconds = 0.0
        except yaml.YAMLError as exc:
            result = RenderError(f"helm rendered {chart} with {values_file} but the output is not valid YAML: "
                                 f"{str(exc).splitlines()[0]}")
            seconds = 0.0
        with self._lock:
            self.renders += 1
            self.helm_seconds += seconds
            self.calls.append((chart, release, namespace, values_file))
        with _CACHE_LOCK:
            _CACHE[key] = result
        self._note(chart, result)
        return result

    def _note(self, chart: Path, result: Rendered | RenderError) -> None:
        cause = ""
        if isinstance(result, RenderError):
            lines = [line.strip() for line in str(result).splitlines()[1:] if line.strip()]
            cause = next((line for line in lines if line.startswith("Error:")), lines[0] if lines else "no output")
        with self._lock:
            self._outcomes.setdefault(chart, []).append(cause)

    def chart_failure(self) -> str | None:
        """One line when a chart rendered with no values at all (every render failed: a template syntax error,
        a missing file): helm's own cause (it names file:line), so the run stops instead of failing every
        claim with the same traceback. Waits for the first prefetched render of each chart; only when that one
        failed, for the chart's other prefetched renders too (the usual path does not wait for them)."""
        for futures in list(self._inflight.values()):
            if futures and not _succeeded(futures[0]):
                for future in futures[1:]:
                    _succeeded(future)
        with self._lock:
            broken = {chart: causes for chart, causes in self._outcomes.items() if causes and all(causes)}
        for chart, causes in broken.items():
            return f"helm cannot render {chart} with any values: {causes[0].removeprefix('Error: ')}"
        return None

    def prefetch(self, jobs: Iterable[RenderJob], workers: int | None = None,
                 meanwhile: Iterable[Callable[[], Any]] = (), wait: bool = True) -> None:
        """Render many (chart, package, values, crds_as_text) at once on all cores, in the order given; errors
        are kept for the tests.

        ``meanwhile``: Python work (e.g. loading schemas) that runs while helm processes render. ``wait=False``
        returns once that is done: a ``render`` of a pair still rendering waits for it, so the first tests run
        while helm renders what later ones need."""
        unique = {(str(chart), package, values_hash(values), crds): (chart, package, values, crds)
                  for chart, package, values, crds in jobs}
        pool = ThreadPoolExecutor(max_workers=workers or max(2, os.cpu_count() or 2))
        renders = [pool.submit(self._render, *job) for job in unique.values()]
        for job, future in zip(unique.values(), renders, strict=True):
            self._inflight.setdefault(job[0], []).append(future)
        try:
            for task in meanwhile:
                task()
        finally:
            pool.shutdown(wait=wait)
        if wait:
            for future in renders:
                future.result()


def _succeeded(future: Future[Any]) -> bool:
    """Wait for a prefetched render; True when it rendered."""
    try:
        return not isinstance(future.result(), RenderError)
    except Exception:  # noqa: BLE001 - its error is kept for the test that needs the render
        return False
