"""Judge: where a case ended (store/ExternalSecret outcomes), what the target Secret holds, and the
upgrade sampler."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from esoconf.eso_objects import API, ES, Ref
from esoconf.match import assert_matches, condition, matches
from esoconf.wait import Clock, wait_for

from ..expectations import (
    ES_FAILED,
    ES_SYNCED,
    STORE_READY,
    ConditionExpectation,
    Stage,
    es_failure,
    store_failure,
)
from .core import SHORT_ES_REFRESH_SECONDS, TRANSIENT, World
from .observe import Observation, Observing


def decode_secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.get("data") or {}).items()}


def secret_data_diff(actual: Mapping[str, str] | None, expected: Mapping[str, str]) -> str | None:
    """None when equal; else which keys are missing, unexpected or different (never the values)."""
    if actual is None:
        return "the Secret does not exist"
    problems = []
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
    if missing:
        problems.append(f"missing keys {missing}")
    if extra:
        problems.append(f"unexpected keys {extra}")
    if wrong:
        problems.append(f"different values for keys {wrong}")
    return "; ".join(problems) or None


def digest(data: Mapping[str, str]) -> str:
    """A stable fingerprint of Secret data that never reveals it."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(data.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class CaseOutcome:
    """Where a failure case ended: store ready/failure, ExternalSecret synced/failure/not-applied."""

    store: str
    es: str
    seen: Observation

    def label(self, claim_terms: str | None) -> str:
        """``store-<outcome>`` or ``es-<outcome>``, in the terms a claim is stated in."""
        if claim_terms and claim_terms.startswith("store-"):
            return f"store-{self.store}"
        return f"es-{self.es}" if self.store == "ready" else f"store-{self.store}"

    @property
    def evidence(self) -> str:
        return self.seen.evidence


@dataclass(frozen=True)
class Sample:
    at: float
    ready: dict[str, bool]  # ExternalSecret -> Ready=True
    digests: dict[str, str]  # target Secret -> digest of its data ("" if missing)


def sample_while(
    action: Callable[[], None], sample: Callable[[], Sample], *, interval: float, clock: Clock | None = None
) -> list[Sample]:
    """Run ``action`` in a thread and sample until it returns (plus one sample after); re-raise its error."""
    clock = clock or Clock()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            action()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=target, name="upgrade", daemon=True)
    worker.start()
    samples = [sample()]
    while worker.is_alive():
        clock.sleep(interval)
        samples.append(sample())
    worker.join()
    samples.append(sample())
    if failure:
        raise failure[0]
    return samples


def judge_samples(samples: list[Sample], expected: Mapping[str, str]) -> list[str]:
    """Violations: an ExternalSecret not Ready, or a Secret whose data is not the expected digest."""
    problems: list[str] = []
    for s in samples:
        problems += [
            f"t={s.at:.1f}s ExternalSecret {n} not Ready" for n, ok in sorted(s.ready.items()) if not ok
        ]
        problems += [
            f"t={s.at:.1f}s Secret {n} data changed or missing"
            for n, d in sorted(s.digests.items())
            if d != expected.get(n)
        ]
    return problems


class Judging(Observing):
    """Outcomes of a failure case, the target Secret's data and ownership, upgrade samples."""

    def _outcome(
        self,
        ref: Ref,
        ready: ConditionExpectation,
        failure: ConditionExpectation,
        pattern_name: str | None,
        timeout: float,
        what: str,
    ) -> Observation:
        """Wait until ``ref`` is Ready, or has failed as ``failure`` says with a matching detail."""
        __tracebackhide__ = True
        last: list[Observation] = []

        def fetch() -> dict[str, Any]:
            obs, failed = self._observe(ref, failure, pattern_name)
            obs.ready = matches(obs.condition, ready.condition())
            last[:] = [obs]
            return {**obs.as_state(), "done": obs.ready or failed}

        wait_for(
            fetch,
            lambda s: s["done"],
            timeout=timeout,
            what=what,
            interval=self.interval,
            transient=TRANSIENT,
            clock=self.clock,
        )
        return last[0]

    def store_outcome(self, store: Ref, stage: Stage, pattern_name: str | None) -> Observation:
        """Ready (``.ready``) or failed at ``stage`` with a detail matching the pattern, whichever comes."""
        __tracebackhide__ = True
        failure = store_failure(self.eso_version, stage)
        return self._outcome(
            store,
            STORE_READY,
            failure,
            pattern_name,
            self.timeouts.store_failure,
            f"{store} either Ready or Ready=False/{failure.reason} with detail /{pattern_name}/",
        )

    def store_settles(self, store: Ref, stage: Stage, pattern_name: str | None) -> Observation:
        """How a store settles after a shared-state change that takes a moment to apply (Istio pushes an
        AuthorizationPolicy change to the sidecars within seconds): failed at ``stage`` with a detail
        matching the pattern (``.ready`` False), or Ready through a whole hold window with ESO forced to
        re-validate every few seconds (``.ready`` True). A first Ready alone decides nothing."""
        __tracebackhide__ = True
        failure = store_failure(self.eso_version, stage)
        window = self.timeouts.negative_hold
        nudge = self._nudger(store)
        last: list[Observation] = []
        ready_since: list[float | None] = [None]

        def fetch() -> dict[str, Any]:
            nudge()
            obs, failed = self._observe(store, failure, pattern_name)
            obs.ready = matches(obs.condition, STORE_READY.condition())
            now = self.clock.now()
            ready_since[0] = (ready_since[0] or now) if obs.ready else None
            held = now - ready_since[0] if ready_since[0] is not None else 0.0
            last[:] = [obs]
            return {**obs.as_state(), "Ready for (s)": round(held, 1), "done": failed or held >= window}

        wait_for(
            fetch,
            lambda s: s["done"],
            timeout=self.timeouts.store_failure + window,
            what=f"{store} either Ready for {window:g}s or Ready=False/{failure.reason} with detail "
            f"/{pattern_name}/",
            interval=self.interval,
            transient=TRANSIENT,
            clock=self.clock,
        )
        return last[0]

    def es_outcome(self, es: Ref, pattern_name: str | None) -> Observation:
        __tracebackhide__ = True
        return self._outcome(
            es,
            ES_SYNCED,
            es_failure(self.eso_version),
            pattern_name,
            self.timeouts.secret_sync,
            f"{es} either synced or Ready=False/{ES_FAILED.reason} with detail /{pattern_name}/",
        )

    def failure_outcome(
        self, world: World, stage: Stage | None, pattern_name: str | None, *, with_es: bool
    ) -> CaseOutcome:
        """What a failure case led to: the store's outcome and, once it is Ready, the ExternalSecret's."""
        __tracebackhide__ = True
        if stage is not None:
            seen = self.store_outcome(world.store, stage, pattern_name)
            if not seen.ready or not with_es:
                return CaseOutcome("ready" if seen.ready else "failure", "not-applied", seen)
        else:
            self.wait_store_ready(world.store)
        self.apply_es(world)
        seen = self.es_outcome(world.es, pattern_name)
        return CaseOutcome("ready", "synced" if seen.ready else "failure", seen)

    def hold_failure(self, world: World, outcome: CaseOutcome) -> None:
        """The failure is not transient: the store never turns Ready / no Secret appears, for a window."""
        __tracebackhide__ = True
        if outcome.store == "failure":
            self.assert_never_ready(world.store)
        elif outcome.es == "failure":
            self.force_sync(world.es)
            self.assert_no_secret(world.target, world.es)

    def sample(self, worlds: list[World]) -> Sample:
        """One upgrade sample: each ExternalSecret's Ready and a digest of each target Secret."""
        ready, digests = {}, {}
        for world in worlds:
            es = self.kube.get(world.es.kind, world.es.name, world.es.namespace)
            ready[world.es.name] = (condition(es, "Ready") or {}).get("status") == "True"
            secret = self.kube.get("Secret", world.target, self.namespace)
            digests[world.target] = digest(decode_secret_data(secret)) if secret else ""
        return Sample(self.clock.now(), ready, digests)

    # ---- the target Secret ------------------------------------------------------------------------
    def assert_secret_data(
        self, name: str, expected: Mapping[str, str], timeout: float | None = None
    ) -> float:
        """The Secret's data is exactly ``expected`` (labels/annotations ESO adds are ignored); returns
        the seconds it took to get there."""
        __tracebackhide__ = True
        started = self.clock.now()

        def fetch() -> str | None:
            secret = self.kube.get("Secret", name, self.namespace)
            return secret_data_diff(decode_secret_data(secret) if secret else None, expected)

        wait_for(
            fetch,
            lambda diff: diff is None,
            timeout=timeout or self.timeouts.secret_sync,
            what=f"Secret {self.namespace}/{name} holds exactly the Vault data",
            interval=self.interval,
            transient=TRANSIENT,
            clock=self.clock,
        )
        return self.clock.now() - started

    def assert_owned_by(self, name: str, es: Ref) -> None:
        """creationPolicy Owner: the ExternalSecret is the Secret's controller owner."""
        __tracebackhide__ = True
        secret = self.kube.get("Secret", name, self.namespace) or {}
        owner = self.kube.get(es.kind, es.name, es.namespace) or {}
        uid = (owner.get("metadata") or {}).get("uid")
        assert_matches(
            secret.get("metadata", {}),
            {
                "ownerReferences": [
                    {"apiVersion": API, "kind": ES, "name": es.name, "uid": uid, "controller": True}
                ]
            },
            f"Secret {self.namespace}/{name} metadata",
        )

    def refreshed_at(self, es: Ref) -> str:
        """The ExternalSecret's ``status.refreshTime`` (ESO sets it on every sync), "" before the first."""
        obj = self.kube.get(es.kind, es.name, es.namespace) or {}
        return str((obj.get("status") or {}).get("refreshTime") or "")

    def wait_secret_gone(self, name: str) -> None:
        __tracebackhide__ = True
        wait_for(
            lambda: self.kube.get("Secret", name, self.namespace),
            lambda s: s is None,
            timeout=self.timeouts.delete,
            what=f"Secret {self.namespace}/{name} deleted with its owner",
            interval=self.interval,
            transient=TRANSIENT,
            clock=self.clock,
        )

    @property
    def refresh_budget(self) -> float:
        """How long a Vault change may take to reach the Secret: two refresh intervals plus polling."""
        return 2 * SHORT_ES_REFRESH_SECONDS * self.timeouts.scale + 2 * self.interval

