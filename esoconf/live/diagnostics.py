"""What to collect when a live test fails, before anything is cleaned up; everything redacted.

Collected (each step best effort; a failing step writes why instead of aborting the rest):
store/ExternalSecret YAML and their conditions, events sorted by time (per namespace, and each store's by
involvedObject wherever they landed), ESO controller logs (current and
previous container), istio-proxy logs of the ESO and Vault pods, the Vault server log, ``helm status`` of
each release. Files go under ``<artifacts>/diagnostics/<test>/``; ``summary`` is a few lines for the report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import yaml

from ..redact import REDACT, redact_object
from .kube import sort_events

STORE_KINDS = ("ClusterSecretStore", "SecretStore", "ExternalSecret")
STORE_EVENTS = "events-stores.txt"  # every store's Events, wherever they landed (by involvedObject)
LOG_TAIL = 400


class KubeLike(Protocol):
    def list(
        self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None
    ) -> list[dict]: ...
    def logs(
        self, namespace: str, pod: str, container: str | None = None, previous: bool = False, tail: int = 200
    ) -> str: ...
    def events(self, namespace: str | None, kind: str, name: str) -> Sequence[dict[str, Any]]: ...


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120] or "test"


def to_yaml(obj: Any) -> str:
    """Redacted YAML: Secret data and token fields replaced, registered values masked."""
    return REDACT(yaml.safe_dump(redact_object(obj), sort_keys=False, default_flow_style=False))


def conditions_lines(obj: Mapping[str, Any]) -> list[str]:
    meta = obj.get("metadata") or {}
    name = f"{obj.get('kind')} {meta['namespace'] + '/' if meta.get('namespace') else ''}{meta.get('name')}"
    conds = (obj.get("status") or {}).get("conditions") or []
    if not conds:
        return [f"{name}: no conditions"]
    return [
        REDACT(
            f"{name}: {c.get('type')}={c.get('status')} reason={c.get('reason')} "
            f"message={c.get('message', '')}"
        )
        for c in conds
    ]


def event_lines(events: Iterable[dict[str, Any]]) -> list[str]:
    lines = []
    for ev in sort_events(list(events)):
        when = ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp") or "?"
        obj = ev.get("involvedObject") or {}
        lines.append(
            REDACT(
                f"{when} {ev.get('type', '')} {obj.get('kind', '')}/{obj.get('name', '')} "
                f"{ev.get('reason', '')}: {ev.get('message', '')}"
            )
        )
    return lines


def container_names(pod: Mapping[str, Any]) -> list[str]:
    """Init containers (native sidecars such as istio-proxy live there) then containers."""
    spec = pod.get("spec") or {}
    return [c["name"] for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]]


@dataclass(frozen=True)
class PodLogs:
    """Which pods' logs to take: namespace, label selector, containers (None = all), with previous."""

    label: str
    namespace: str
    selector: Mapping[str, str]
    containers: tuple[str, ...] | None = None
    previous: bool = True


@dataclass
class Diagnostics:
    kube: KubeLike
    helm_status: Callable[[str, str], str]
    releases: Sequence[tuple[str, str]]  # (release, namespace)
    pod_logs: Sequence[PodLogs] = ()
    written: list[Path] = field(default_factory=list)

    def collect(self, test_namespace: str | None, dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        self.written = []
        self._step(dest / "stores.yaml", lambda: self._stores(test_namespace))
        self._step(dest / "conditions.txt", lambda: self._conditions(test_namespace))
        # a ClusterSecretStore's Events land in `default` and (ESO >= v0.20) hold the only cause
        self._step(dest / STORE_EVENTS, lambda: self._store_events(test_namespace))
        for ns in filter(None, [test_namespace, *dict.fromkeys(n for _, n in self.releases)]):
            self._step(dest / f"events-{ns}.txt", partial(self._events, ns))
        for spec in self.pod_logs:
            self._logs(spec, dest)
        for release, ns in self.releases:
            self._step(dest / f"helm-status-{release}.txt", partial(self.helm_status, release, ns))
        return self.written

    def _objects(self, test_namespace: str | None) -> list[dict[str, Any]]:
        objs = list(self.kube.list("ClusterSecretStore"))
        if test_namespace:
            objs += self.kube.list("SecretStore", test_namespace) + self.kube.list(
                "ExternalSecret", test_namespace
            )
        return objs

    def _stores(self, test_namespace: str | None) -> str:
        return (
            "---\n".join(to_yaml(o) for o in self._objects(test_namespace)) or "# no stores/ExternalSecrets\n"
        )

    def _conditions(self, test_namespace: str | None) -> str:
        return "\n".join(line for o in self._objects(test_namespace) for line in conditions_lines(o))

    def _store_events(self, test_namespace: str | None) -> str:
        stores = [o for o in self._objects(test_namespace) if o.get("kind") != "ExternalSecret"]
        events = [
            event
            for store in stores
            for event in self.kube.events(
                (store.get("metadata") or {}).get("namespace"), store["kind"], store["metadata"]["name"]
            )
        ]
        return "\n".join(event_lines(events))

    def _logs(self, spec: PodLogs, dest: Path) -> None:
        try:
            pods = self.kube.list("Pod", spec.namespace, dict(spec.selector))
        except Exception as exc:
            self._write(dest / f"logs-{spec.label}.txt", f"<cannot list pods: {type(exc).__name__}: {exc}>")
            return
        for pod in pods:
            name = pod["metadata"]["name"]
            for container in container_names(pod):
                if spec.containers is not None and container not in spec.containers:
                    continue
                for previous in (False, True) if spec.previous else (False,):
                    suffix = ".previous" if previous else ""
                    self._step(
                        dest / f"logs-{spec.label}-{name}-{container}{suffix}.txt",
                        partial(self.kube.logs, spec.namespace, name, container, previous, LOG_TAIL),
                    )

    def _events(self, namespace: str) -> str:
        return "\n".join(event_lines(self.kube.list("Event", namespace)))

    def _step(self, path: Path, produce: Callable[[], str]) -> None:
        try:
            text = produce()
        except Exception as exc:  # diagnostics must never hide the test failure
            text = f"<not collected: {type(exc).__name__}: {exc}>"
        self._write(path, text)

    def _write(self, path: Path, text: str) -> None:
        path.write_text(
            REDACT(text or "") + ("\n" if text and not text.endswith("\n") else ""), encoding="utf-8"
        )
        self.written.append(path)


def summary(dest: Path, max_lines: int = 12) -> str:
    """A short section for the pytest report: the conditions, the stores' Warning Events (the cause, when
    the condition only says "unable to create client") and where the files are."""

    def lines_of(name: str) -> list[str]:
        path = dest / name
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []

    warnings = [line for line in lines_of(STORE_EVENTS) if " Warning " in line][-max_lines:]
    return "\n".join([*lines_of("conditions.txt")[:max_lines], *warnings, f"diagnostics: {dest}"])
