"""Observe: waits for a store or ExternalSecret to reach what this ESO version shows (version-aware
expectations, :mod:`esoconf.live.expectations`), negative assertions that hold for a window, and what the
doc's own commands and the mesh show."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from esoconf.eso_objects import CSS, SS, Ref
from esoconf.match import Contains, condition, matches
from esoconf.redact import REDACT
from esoconf.wait import TerminalState, WaitTimeout, hold, wait_for

from ..expectations import (
    ES_FAILED,
    ES_SYNCED,
    STORE_READY,
    ConditionExpectation,
    Stage,
    es_failure,
    pattern,
    store_failure,
)
from .core import TRANSIENT, ScenarioCore

NUDGE_SECONDS = 5.0  # while waiting for recovery, force a resync this often


# Istio's own metrics (the proxy keeps them whatever its stats matcher says; Envoy's per-cluster
# `cluster.outbound|...` stats are dropped by Istio >= 1.x's default inclusion list)
MESH_METRICS = ("istio_requests_total", "istio_tcp_connections_opened_total")
_PROM_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>.*)\}\s+(?P<value>\S+)")
_PROM_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def mesh_requests(prometheus: str, host: str) -> int:
    """Requests (HTTP) plus connections (TCP) this sidecar reported sending to the service ``host``, from
    ``pilot-agent request GET stats/prometheus`` (``reporter="source"``: counted by the client side)."""
    total = 0.0
    for line in prometheus.splitlines():
        sample = _PROM_SAMPLE.match(line)
        if sample is None or sample["name"] not in MESH_METRICS:
            continue
        labels = {m["key"]: m["value"] for m in _PROM_LABEL.finditer(sample["labels"])}
        if labels.get("reporter") == "source" and labels.get("destination_service") == host:
            with contextlib.suppress(ValueError):
                total += float(sample["value"])
    return int(total)


def has_sidecar(pod: Mapping[str, Any]) -> bool:
    """istio-proxy as a native sidecar (init container) or a classic one."""
    spec = pod.get("spec") or {}
    return any(
        c.get("name") == "istio-proxy"
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
    )


def event_texts(events: list[dict[str, Any]], reason: str | None = None) -> list[str]:
    return [str(e.get("message") or "") for e in events if reason is None or e.get("reason") == reason]


def events_of(obj: Mapping[str, Any] | None, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Events of this very object: ``involvedObject.uid`` must be its uid.

    Events outlive their object (1 h by default) and are looked up by kind and name, so an earlier object
    with the same name (a re-run with the same names, a recreated store) would otherwise lend its texts.
    A ClusterSecretStore's Events are in the ``default`` namespace (client-go's recorder puts Events of
    cluster-scoped objects there), which is why stores are looked up with namespace None (all namespaces).
    """
    uid = ((obj or {}).get("metadata") or {}).get("uid")
    if not uid:
        return []  # no object, no Events of it
    return [e for e in events if (e.get("involvedObject") or {}).get("uid") in {uid, None, ""}]


@dataclass
class Observation:
    """A store/ExternalSecret as seen: its Ready condition, the detail texts, the first matching one."""

    ref: str
    condition: dict[str, Any] | None
    texts: list[str] = field(default_factory=list)
    matched: str | None = None
    ready: bool = False

    def as_state(self) -> dict[str, Any]:
        return {"object": self.ref, "Ready": self.condition, "detail texts": self.texts[-5:]}

    @property
    def evidence(self) -> str:
        cond = self.condition or {}
        detail = self.matched or (self.texts[-1] if self.texts else "")
        text = f"{self.ref} Ready={cond.get('status')} reason={cond.get('reason')}"
        return REDACT(f"{text}; {' '.join(detail.split())[:240]}" if detail else text)


def observe_expectation(
    obj: Mapping[str, Any] | None,
    events: list[dict[str, Any]],
    ref: str,
    expect: ConditionExpectation,
    pattern_name: str | None,
) -> tuple[Observation, bool]:
    """The observation of ``obj`` and whether it meets ``expect`` with a detail matching the pattern."""
    cond = condition(obj, "Ready")
    events = events_of(obj, events)
    texts = event_texts(events, expect.event_reason) if expect.event_reason else []
    if expect.detail_in_message and cond:
        texts = [str(cond.get("message", "")), *texts]
    compiled = pattern(pattern_name) if pattern_name else None
    matched = next((t for t in texts if compiled.search(t)), None) if compiled else None
    met = cond is not None and matches(cond, expect.condition()) and (compiled is None or matched is not None)
    return Observation(ref, cond, texts, matched), met


class Observing(ScenarioCore):
    """Waits, expectations and holds on stores, ExternalSecrets and pods."""

    # ---- observing --------------------------------------------------------------------------------
    def _observe(
        self, ref: Ref, expect: ConditionExpectation, pattern_name: str | None
    ) -> tuple[Observation, bool]:
        obj = self.kube.get(ref.kind, ref.name, ref.namespace)
        events = self.kube.events(ref.namespace, ref.kind, ref.name) if expect.event_reason else []
        return observe_expectation(obj, events, str(ref), expect, pattern_name)

    def _wait(
        self,
        ref: Ref,
        expect: ConditionExpectation,
        pattern_name: str | None,
        *,
        timeout: float,
        what: str,
        terminal: str | None,
        nudge: bool = False,
    ) -> Observation:
        __tracebackhide__ = True
        last: list[Observation] = []
        nudger = self._nudger(ref) if nudge else (lambda: None)

        def fetch() -> dict[str, Any]:
            nudger()
            obs, met = self._observe(ref, expect, pattern_name)
            last[:] = [obs]
            return {**obs.as_state(), "met": met}

        def fail_if(state: dict[str, Any]) -> str | None:
            status = (state["Ready"] or {}).get("status")
            return (
                f"Ready={status}, which can only get further from the expectation"
                if status == terminal
                else None
            )

        try:
            wait_for(
                fetch,
                lambda s: s["met"],
                timeout=timeout,
                what=what,
                interval=self.interval,
                fail_if=fail_if if terminal else None,
                transient=TRANSIENT,
                clock=self.clock,
            )
        except (WaitTimeout, TerminalState) as exc:
            cause = self._store_cause(ref)
            if cause is None:
                raise
            first, _, rest = str(exc).partition("\n")  # the first line is the report's evidence
            raise type(exc)(f"{first}; store Event: {cause}\n{rest}") from None
        return last[0]

    def _store_cause(self, ref: Ref) -> str | None:
        """The latest Warning Event of a store (ESO >= v0.20 puts the cause only there; a ClusterSecretStore's
        Events land in `default`, so they are looked up by involvedObject in every namespace)."""
        if ref.kind not in (CSS, SS):
            return None
        try:
            events = self.kube.events(ref.namespace, ref.kind, ref.name)
        except Exception:  # the wait's own failure is what matters
            return None
        warnings = [e for e in events if e.get("type") == "Warning"]
        if not warnings:
            return None
        last = warnings[-1]
        return REDACT(" ".join(f"{last.get('reason', '')}: {last.get('message', '')}".split()))

    def _nudger(self, ref: Ref) -> Callable[[], None]:
        """A callable that forces a resync of ``ref`` at most every NUDGE_SECONDS (first call: none).

        Both of ESO's reconcilers re-enqueue on any metadata change: the store controllers watch their
        kind with no predicate, and the ExternalSecret controller's "should refresh" compares a hash of
        labels and annotations (v1.3.1 ``secretstore_controller.go``, ``externalsecret_controller.go``).
        Each resync of a store also records an Event; client-go allows about 25 per object before it
        drops them, so nudges are spaced."""
        nudged = [self.clock.now()]

        def nudge() -> None:
            if self.clock.now() - nudged[0] >= NUDGE_SECONDS:
                self.force_sync(ref)
                nudged[0] = self.clock.now()

        return nudge

    def wait_store_ready(self, store: Ref, *, nudge: bool = False) -> Observation:
        """Ready=True/Valid. ``nudge``: after a fix, force a resync every few seconds (ESO's back-off after
        a failure grows to 7 minutes and a fix can take a moment to propagate)."""
        __tracebackhide__ = True
        return self._wait(
            store,
            STORE_READY,
            None,
            timeout=self.timeouts.store_ready,
            what=f"{store} Ready=True (reason Valid)",
            terminal=None,
            nudge=nudge,
        )

    def expect_store_failure(self, store: Ref, stage: Stage, pattern_name: str) -> Observation:
        """Ready=False with the reason/message of this ESO version, and a detail text matching the pattern
        (in the condition message up to v0.19, in a store Event from v0.20)."""
        __tracebackhide__ = True
        expect = store_failure(self.eso_version, stage)
        return self._wait(
            store,
            expect,
            pattern_name,
            timeout=self.timeouts.store_failure,
            what=f"{store} Ready=False reason {expect.reason} with detail /{pattern_name}/ "
            f"(ESO {self.eso_version})",
            terminal="True",
        )

    def wait_es_synced(self, es: Ref, *, nudge: bool = False) -> Observation:
        __tracebackhide__ = True
        return self._wait(
            es,
            ES_SYNCED,
            None,
            timeout=self.timeouts.secret_sync,
            what=f"{es} Ready=True (reason SecretSynced)",
            terminal=None,
            nudge=nudge,
        )

    def expect_es_failure(self, es: Ref, pattern_name: str) -> Observation:
        __tracebackhide__ = True
        expect = es_failure(self.eso_version)
        return self._wait(
            es,
            expect,
            pattern_name,
            timeout=self.timeouts.secret_sync,
            what=f"{es} Ready=False reason {ES_FAILED.reason} with an {expect.event_reason} Event "
            f"/{pattern_name}/",
            terminal="True",
        )

    def observe_store(self, store: Ref, pattern_name: str | None = None) -> Observation:
        """The store now, with every Event text (for verdicts on wording)."""
        expect = ConditionExpectation("", "", Contains(""), None, True)
        obj = self.kube.get(store.kind, store.name, store.namespace)
        events = events_of(obj, self.kube.events(store.namespace, store.kind, store.name))
        obs, _ = observe_expectation(obj, events, str(store), expect, None)
        obs.texts += event_texts(events)
        if pattern_name:
            compiled = pattern(pattern_name)
            obs.matched = next((t for t in obs.texts if compiled.search(t)), None)
        return obs

    # ---- negative assertions (hold for a window) --------------------------------------------------
    def _hold(
        self, fetch: Callable[[], Any], check: Callable[[Any], bool], what: str, duration: float | None
    ) -> None:
        __tracebackhide__ = True
        hold(
            fetch,
            check,
            duration=duration or self.timeouts.negative_hold,
            what=what,
            interval=self.interval,
            transient=TRANSIENT,
            clock=self.clock,
        )

    def _ready_status(self, ref: Ref) -> str:
        """``True``/``False``/``Unknown``, ``no-condition`` (not reconciled yet) or ``absent``."""
        obj = self.kube.get(ref.kind, ref.name, ref.namespace)
        if obj is None:
            return "absent"
        return str((condition(obj, "Ready") or {}).get("status") or "no-condition")

    def assert_never_ready(self, ref: Ref, duration: float | None = None, *, beside: Sequence[Ref] = ()) -> None:
        """``ref`` exists and is not Ready on every poll of the window; ESO is made to re-validate it at
        the start (a forced resync), so the window judges a fresh validation, not a stale status. In the same
        window every one of ``beside`` stays Ready (one window for both, not two in a row)."""
        __tracebackhide__ = True
        if self.kube.get(ref.kind, ref.name, ref.namespace) is not None:  # absent: the hold says so
            self.force_sync(ref)
        what = f"{ref} exists and never becomes Ready"
        if beside:
            what += f", while {', '.join(map(str, beside))} stay Ready"
        self._hold(
            lambda: {str(r): self._ready_status(r) for r in (ref, *beside)},
            lambda states: states[str(ref)] not in {"True", "absent"}
            and all(states[str(r)] == "True" for r in beside),
            what,
            duration,
        )

    def assert_stays_ready(self, *refs: Ref, duration: float | None = None) -> None:
        """Every one of ``refs`` is Ready on every poll of the window."""
        __tracebackhide__ = True
        self._hold(
            lambda: {str(ref): self._ready_status(ref) for ref in refs},
            lambda states: all(s == "True" for s in states.values()),
            f"{', '.join(map(str, refs))} stay Ready",
            duration,
        )

    def assert_no_secret(self, name: str, es: Ref, duration: float | None = None) -> None:
        """While ``es`` exists and is not Ready, no Secret ``name`` appears (for a window)."""
        __tracebackhide__ = True
        self._hold(
            lambda: {
                "ExternalSecret Ready": self._ready_status(es),
                "Secret": "present" if self.kube.get("Secret", name, self.namespace) else "absent",
            },
            lambda s: s["Secret"] == "absent" and s["ExternalSecret Ready"] not in {"True", "absent"},
            f"{es} exists, is not Ready, and no Secret {self.namespace}/{name} is created",
            duration,
        )

    # ---- the doc's own commands and the mesh ------------------------------------------------------
    def run_doc_label_check(self) -> str:
        """The doc's `kubectl get pods ... -o jsonpath=...vault-ingress` check, run as written."""
        argv = list(self.shapes.label_check)
        return self.kube.kubectl(*argv[1:]).strip()

    def mesh_requests_to_vault(self, pod: Mapping[str, Any]) -> int:
        host, _ = self.vault_host()
        stats = self.kube.exec(
            pod["metadata"]["namespace"],
            pod["metadata"]["name"],
            ["pilot-agent", "request", "GET", "stats/prometheus"],
            container="istio-proxy",
        )
        return mesh_requests(stats, host)

