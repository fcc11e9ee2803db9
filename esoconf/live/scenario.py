"""The verbs live tests are written in: arrange the doc's setup, wait, expect, hold, fix, judge.

Manifests are built by pure functions from the doc's own shapes (:class:`~esoconf.live.cases.DocShapes`):
the store ``source`` and ExternalSecret items of VAULT_INTEGRATION.md become the objects the chart would
render, with the per-test changes made explicit (unique names, the in-cluster Vault URL, Vault keys under
the test's namespace). Everything is applied through ``platform.kube``; Vault is seeded through
``platform.vault``. Waits use :mod:`esoconf.wait` with the named timeouts; negative assertions hold for a
window. Store/ExternalSecret expectations are version-aware (:mod:`esoconf.live.expectations`).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

from esoconf.adapter import deep_merge
from esoconf.config import ConfigError, is_remote_chart
from esoconf.match import Contains, assert_matches, condition, matches
from esoconf.redact import REDACT
from esoconf.runner import run
from esoconf.wait import Clock, TerminalState, WaitTimeout, hold, wait_for

from .cases import Auth, Breakage, Change, DocShapes, Fetch, Fix, prefix_keys, role_list
from .expectations import (
    ES_FAILED,
    ES_SYNCED,
    STORE_READY,
    ConditionExpectation,
    Stage,
    es_failure,
    pattern,
    store_failure,
)

if TYPE_CHECKING:  # pragma: no cover
    from .kube import Kube
    from .platform import LivePlatform as Platform
    from .vault import VaultSeeder

API = "external-secrets.io/v1"
CSS = "ClusterSecretStore"
SS = "SecretStore"
ES = "ExternalSecret"
STORE_REFRESH_SECONDS = 10  # store revalidation in tests (the chart never sets it)
ES_REFRESH = "10s"  # ExternalSecret refresh in tests (chart default 1m)
ES_REFRESH_SECONDS = 10
NUDGE_SECONDS = 5.0  # while waiting for recovery, force a resync this often
FORCE_SYNC_ANNOTATION = "force-sync"  # any annotation change re-enqueues; ESO's docs use this name
VAULT_INGRESS_LABEL = "vault-ingress"  # the pod label Vault's ingress NetworkPolicy admits
ESO_EGRESS_POLICY = "allow-egress-vault"  # the package's egress NetworkPolicy the doc names
ESO_DENY_ALL_POLICY = "default-deny-all"  # the package's deny-all (networkPolicies.enabled)
EXTRA_VAULT_KEY = "extra"  # a key the doc's `data` example does not pick, so data and dataFrom differ


# --------------------------------------------------------------------------------------------------
# the live tier's interfaces: esoconf.live.kube.Kube, .vault.VaultSeeder, .platform.Platform
# (type-only imports; the unit tests pass duck-typed fakes)


def _default_policy_hcl(mount: str, path_glob: str) -> str:
    from .vault import read_policy_hcl

    return read_policy_hcl(mount, path_glob)


# --------------------------------------------------------------------------------------------------
# pure manifest builders (from the doc's shapes)


@dataclass(frozen=True)
class Ref:
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace + '/' if self.namespace else ''}{self.name}"


def store_manifest(
    source: Mapping[str, Any],
    *,
    name: str,
    server: str,
    kind: str = CSS,
    namespace: str | None = None,
    controller: str | None = None,
    refresh_interval: int | None = STORE_REFRESH_SECONDS,
) -> dict[str, Any]:
    """A store from the doc's ``clusterSecretStoreList[].source`` shape, as the chart renders it.

    ``server`` replaces the doc's example URL (it is not reachable in-cluster; bigbang-charts.md §6.3).
    Token auth carries ``tokenSecretRef.namespace`` only when the source sets ``auth.namespace``: without
    it a ClusterSecretStore is *referent* and ESO never validates it (eso-upstream.md §4).
    """
    auth = dict(source.get("auth") or {})
    vault: dict[str, Any] = {"server": server, "path": source.get("path"), "version": source.get("version")}
    if auth.get("type") == "token":
        ref = {"name": auth.get("secretName"), "key": auth.get("key")}
        if auth.get("namespace") and kind == CSS:
            ref["namespace"] = auth["namespace"]
        vault["auth"] = {"tokenSecretRef": ref}
    elif auth.get("type") == "kubernetes":
        sa = dict(auth.get("serviceAccountRef") or {})
        vault["auth"] = {
            "kubernetes": {
                "mountPath": auth.get("mountPath") or "kubernetes",
                "role": auth.get("role"),
                "serviceAccountRef": sa,
            }
        }
    else:
        raise ValueError(
            f"doc source has auth.type {auth.get('type')!r}; the live tier knows token and kubernetes"
        )
    spec: dict[str, Any] = {"provider": {"vault": vault}}
    if controller:
        spec["controller"] = controller
    if refresh_interval:
        spec["refreshInterval"] = refresh_interval
    metadata: dict[str, Any] = {"name": name}
    if kind == SS:
        metadata["namespace"] = namespace
    return {"apiVersion": API, "kind": kind, "metadata": metadata, "spec": spec}


def external_secret_manifest(
    item: Mapping[str, Any],
    *,
    store: Ref,
    namespace: str,
    key_prefix: str,
    refresh_interval: str = ES_REFRESH,
) -> dict[str, Any]:
    """An ExternalSecret from the doc's ``secretList[]`` item, as the chart renders it.

    Name ``<store>-externalsecrets``; ``data`` wins over ``dataFrom`` (chart behaviour); Vault keys move
    under ``key_prefix/`` so parallel tests never share a path.
    """
    secrets_ = dict(item.get("secrets") or {})
    spec: dict[str, Any] = {
        "refreshInterval": refresh_interval,
        "secretStoreRef": {"name": store.name, "kind": store.kind},
        "target": {
            "name": secrets_.get("targetName") or "default-k8s",
            "creationPolicy": secrets_.get("targetPolicy") or "Owner",
        },
    }
    if secrets_.get("data"):
        spec["data"] = prefix_keys(secrets_["data"], key_prefix)
    else:
        spec["dataFrom"] = prefix_keys(secrets_.get("dataFrom") or [], key_prefix)
    return {
        "apiVersion": API,
        "kind": ES,
        "metadata": {"name": f"{store.name}-externalsecrets", "namespace": namespace},
        "spec": spec,
    }


def secret_manifest(
    name: str, namespace: str, data: Mapping[str, str], labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What ``kubectl create secret generic NAME --from-literal=k=v`` creates (values kept byte for byte)."""
    REDACT.add(*data.values())
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "data": encoded,
    }


def allow_policy_manifest(
    doc_policy: Mapping[str, Any], *, name: str, namespace: str, source_namespace: str
) -> dict[str, Any]:
    """The doc's ALLOW AuthorizationPolicy for Vault, admitting ``source_namespace`` instead."""
    spec = copy.deepcopy(dict(doc_policy.get("spec") or {}))
    for rule in spec.get("rules") or []:
        for source in rule.get("from") or []:
            source.setdefault("source", {})["namespaces"] = [source_namespace]
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def second_eso_values(
    base: Mapping[str, Any], *, fullname: str, controller_class: str, namespace: str
) -> dict[str, Any]:
    """Values of an isolated second ESO install *without* the ``vault-ingress`` pod label (eso-upstream §5).

    All under the package's ``upstream:`` key (the ESO subchart's alias): own fullname and controller
    class, no CRDs/webhook/cert-controller (cluster-wide names are fixed), scoped to ``namespace`` with a
    Role (``--namespace`` plus the cluster-store reconcilers off: it never sees the primary's
    ClusterSecretStores), no leader election. The package's own stores, ExternalSecrets, NetworkPolicies
    (egress unrestricted, so only Vault's ingress policy can block it), wait job and helm tests are off.
    ``nameOverride`` stays ``external-secrets``: the package's selectors expect that name, and release
    plus namespace already keep the two installs apart.

    ``podLabels: null`` drops the whole map the package sets. Nulling only the key
    (``podLabels: {vault-ingress: null}``) is not deleted by Helm for a subchart value set in the parent's
    values: helm 4.1 renders ``vault-ingress: null`` into the pod template (checked with ``helm template``
    on the 1.3.1-bb.1 package).
    """
    override = {
        "upstream": {
            "fullnameOverride": fullname,
            "controllerClass": controller_class,
            "installCRDs": False,
            "webhook": {"create": False},
            "certController": {"create": False},
            "scopedNamespace": namespace,
            "scopedRBAC": True,
            "leaderElect": False,
            "podLabels": None,
        },
        "networkPolicies": {"enabled": False},
        "clusterSecretStoreConfiguration": {"enabled": False},
        "externalSecretsConfiguration": {"enabled": False},
        "waitJob": {"enabled": False},
        "bbtests": {"enabled": False},
    }
    return deep_merge(base, override)


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


def random_value() -> str:
    """A value the suite writes to Vault: random only (no key name, no run id), because the redactor masks
    any 6-character fragment of it and must not mask words or names around it."""
    return secrets.token_urlsafe(16)


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


# --------------------------------------------------------------------------------------------------
# observations and the upgrade sampler (pure)


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


# --------------------------------------------------------------------------------------------------
# the scenario: one test's namespace, names and verbs


@dataclass
class World:
    """What one arranged case consists of (names only; values stay in Vault and the Secret)."""

    auth: Auth
    fetch: Fetch
    store: Ref
    store_manifest: dict[str, Any]
    es: Ref
    es_manifest: dict[str, Any]
    target: str
    vault_key: str  # under the mount (kv)
    vault_data: dict[str, str] = field(repr=False)
    expected: dict[str, str] = field(repr=False)  # what the target Secret must hold
    policy: str = ""
    role: str | None = None
    token_secret: Ref | None = None
    raw_token: str = field(default="", repr=False)


TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)


class Scenario:
    def __init__(
        self,
        platform: Platform,
        namespace: str,
        shapes: DocShapes,
        *,
        clock: Clock | None = None,
        policy_hcl: Callable[[str, str], str] = _default_policy_hcl,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.platform = platform
        self.kube: Kube = platform.kube
        self.vault: VaultSeeder = platform.vault
        self.namespace = namespace
        self.shapes = shapes
        # a platform may bring its own clock (the unit tests' fake platform does)
        self.clock = clock or getattr(platform, "clock", None) or Clock()
        self.timeouts = platform.timeouts
        self.policy_hcl = policy_hcl
        self.now = now
        self.interval = self.timeouts.poll_interval
        self.cleanups: list[Callable[[], None]] = []
        self.arranged = 0  # worlds arranged so far; the second and later get a name tag

    # ---- naming -----------------------------------------------------------------------------------
    @property
    def eso_version(self) -> str:
        return self.platform.eso_version

    @property
    def mount(self) -> str:
        return str(self.shapes.sources["token"].get("path") or "kv")

    def unique(self, stem: str, tag: str = "") -> str:
        """A cluster-wide unique name: stem (+ tag) + test namespace + run id (DNS-1123, <= 63 chars)."""
        name = f"{stem}{'-' + tag if tag else ''}-{self.namespace}-{self.platform.run_id}".lower()
        if len(name) > 63:
            name = f"{name[:54]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        return name

    # ---- arranging the doc's setup ----------------------------------------------------------------
    def arrange(
        self,
        auth: Auth,
        fetch: Fetch = "data",
        breakage: Breakage = Breakage.NONE,
        *,
        store_kind: str = CSS,
        controller: str | None = None,
        apply_store: bool = True,
    ) -> World:
        """Seed Vault and create the doc's store for ``auth`` (broken as ``breakage`` says).

        The ExternalSecret manifest is built but applied by :meth:`apply_es` once the store is Ready
        (applied earlier, it fails on the flood gate and ESO backs off)."""
        self.arranged += 1
        tag = "" if self.arranged == 1 else f"w{self.arranged}"  # several worlds in one namespace
        prefix = f"{self.namespace}/{tag}" if tag else self.namespace
        item = self.shapes.items[fetch]
        vault_key = f"{prefix}/{_first_key(item)}"
        vault_data = self._vault_values(item)
        if breakage is not Breakage.VAULT_KEY_MISSING:
            self.vault.write_secret(vault_key, vault_data, mount=self.mount)
        mount = self.mount
        self.cleanups.append(lambda: self.vault.delete_secret(vault_key, mount=mount))  # a fix may write it
        policy = self.unique("eso-read", tag)
        self.vault.write_policy(policy, self.policy_hcl(self.mount, f"{prefix}/*"))
        self.cleanups.append(lambda: self.vault.delete_policy(policy))

        source = copy.deepcopy(self.shapes.sources[auth])
        world_token: Ref | None = None
        raw_token = ""
        role = None
        if auth == "token":
            world_token, raw_token = self._token_secret(source, [policy], breakage, tag)
        else:
            role = self._role(source, policy, breakage, tag)
        name = self.unique(self.shapes.store_names[auth], tag)
        namespace = self.namespace if store_kind == SS else None
        store = Ref(store_kind, name, namespace)
        manifest = store_manifest(
            source,
            name=name,
            server=self.platform.vault_url,
            kind=store_kind,
            namespace=namespace,
            controller=controller,
        )
        if apply_store:
            self.apply(manifest)
        es_manifest = external_secret_manifest(
            _break_item(item, breakage, tag), store=store, namespace=self.namespace, key_prefix=prefix
        )
        target = es_manifest["spec"]["target"]["name"]
        expected = _expected_data(es_manifest["spec"], vault_data)
        es = Ref(ES, es_manifest["metadata"]["name"], self.namespace)
        return World(
            auth,
            fetch,
            store,
            manifest,
            es,
            es_manifest,
            target,
            vault_key,
            vault_data,
            expected,
            policy,
            role,
            world_token,
            raw_token,
        )

    def _vault_values(self, item: Mapping[str, Any]) -> dict[str, str]:
        keys = [
            d["remoteRef"]["property"]
            for d in (item.get("secrets") or {}).get("data") or []
            if d.get("remoteRef", {}).get("property")
        ] or ["username", "password"]
        values = {k: random_value() for k in [*keys, EXTRA_VAULT_KEY]}
        REDACT.add(*values.values())
        return values

    def _token_secret(
        self, source: dict[str, Any], policies: list[str], breakage: Breakage, tag: str
    ) -> tuple[Ref | None, str]:
        auth = source["auth"]
        auth["namespace"] = self.namespace  # per-test Secret; the doc's store sets a namespace too
        auth["secretName"] = f"{auth['secretName']}-{tag}" if tag else auth["secretName"]
        if breakage is Breakage.REFERENT_BAD_TOKEN:
            del auth["namespace"]
            token = f"hvs.{secrets.token_hex(14)}"  # well-formed, unknown to Vault
            REDACT.add(token)
        else:
            token = self.vault.create_token(policies)
        raw = token + _TOKEN_SUFFIX.get(breakage, "")
        ref = Ref("Secret", auth["secretName"], self.namespace)
        if breakage is Breakage.TOKEN_SECRET_MISSING:
            auth["secretName"] = f"{auth['secretName']}-missing"
            return None, raw
        key = auth["key"] if breakage is not Breakage.TOKEN_KEY_MISSING else f"not-{auth['key']}"
        self.apply(secret_manifest(ref.name, self.namespace, {key: raw}))
        return ref, raw

    def _role(self, source: dict[str, Any], policy: str, breakage: Breakage, tag: str) -> str:
        doc_role = self.shapes.role
        params = doc_role["params"]
        name = self.unique(doc_role["name"], tag)
        sa_names = role_list(params.get("bound_service_account_names", ""))
        if breakage is Breakage.ROLE_NOT_BOUND:
            sa_names = [f"not-{n}" for n in sa_names]
        policies = role_list(params.get("policies", "default"))
        if breakage is not Breakage.DEFAULT_POLICY_ONLY:
            policies = [*policies, policy]
        self.vault.write_role(
            name,
            mount=doc_role["mount"],
            sa_names=sa_names,
            sa_namespaces=role_list(params.get("bound_service_account_namespaces", "")),
            policies=policies,
            audience=None,
            ttl=params.get("ttl", "1h"),
        )
        self.cleanups.append(lambda: self.vault.delete_role(name, mount=doc_role["mount"]))
        source["auth"]["role"] = name
        source["auth"]["mountPath"] = doc_role["mount"]
        return name

    # ---- applying ---------------------------------------------------------------------------------
    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        live = self.kube.apply(obj)
        meta = obj["metadata"]
        if obj["kind"] in {CSS} or meta.get("namespace") not in {None, self.namespace}:
            kind, name, ns = obj["kind"], meta["name"], meta.get("namespace")
            self.cleanups.append(lambda: self.kube.delete(kind, name, ns))
        return live

    def apply_es(self, world: World) -> dict[str, Any]:
        return self.apply(world.es_manifest)

    def cleanup(self) -> None:
        """Delete what is not inside the test namespace (cluster-scoped stores, Vault policy and role)."""
        while self.cleanups:
            with contextlib.suppress(Exception):
                self.cleanups.pop()()

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

    def wait_recovered(self, world: World) -> None:
        """After a fix (and a forced resync): store Ready, ExternalSecret synced, Secret holds the data."""
        __tracebackhide__ = True
        self.wait_store_ready(world.store, nudge=True)
        if self.kube.get(world.es.kind, world.es.name, world.es.namespace) is None:
            self.apply_es(world)
        self.wait_es_synced(world.es, nudge=True)
        self.assert_secret_data(world.target, world.expected)

    def synced(self, auth: Auth, fetch: Fetch) -> World:
        """The documented path end to end: store Ready, ExternalSecret synced, Secret holds the Vault data."""
        __tracebackhide__ = True
        world = self.arrange(auth, fetch)
        self.wait_store_ready(world.store)
        self.apply_es(world)
        self.wait_es_synced(world.es)
        self.assert_secret_data(world.target, world.expected)
        return world

    def sample(self, worlds: list[World]) -> Sample:
        """One upgrade sample: each ExternalSecret's Ready and a digest of each target Secret."""
        ready, digests = {}, {}
        for world in worlds:
            es = self.kube.get(world.es.kind, world.es.name, world.es.namespace)
            ready[world.es.name] = (condition(es, "Ready") or {}).get("status") == "True"
            secret = self.kube.get("Secret", world.target, self.namespace)
            digests[world.target] = digest(decode_secret_data(secret)) if secret else ""
        return Sample(self.clock.now(), ready, digests)

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

    def assert_never_ready(self, ref: Ref, duration: float | None = None) -> None:
        """``ref`` exists and is not Ready on every poll of the window; ESO is made to re-validate it at
        the start (a forced resync), so the window judges a fresh validation, not a stale status."""
        __tracebackhide__ = True
        if self.kube.get(ref.kind, ref.name, ref.namespace) is not None:  # absent: the hold says so
            self.force_sync(ref)
        self._hold(
            lambda: self._ready_status(ref),
            lambda s: s not in {"True", "absent"},
            f"{ref} exists and never becomes Ready",
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

    # ---- nudges and fixes -------------------------------------------------------------------------
    def force_sync(self, ref: Ref) -> None:
        """Bump an annotation: ESO reconciles now instead of after its back-off (up to 7 minutes)."""
        self.kube.patch(
            ref.kind,
            ref.name,
            ref.namespace,
            {"metadata": {"annotations": {FORCE_SYNC_ANNOTATION: f"{self.now():.6f}"}}},
        )

    def fix(self, world: World, fix: Fix) -> None:
        """Apply the fix, then force a resync of what it repairs."""
        if fix is Fix.STRIP_TOKEN:
            self.recreate_token_secret(world, doc_token_clean(world.raw_token, self.shapes.token_clean))
            self.force_sync(world.store)
        elif fix is Fix.BIND_READ_POLICY:
            params = self.shapes.role["params"]
            self.vault.write_role(
                world.role or "",
                mount=self.shapes.role["mount"],
                sa_names=role_list(params.get("bound_service_account_names", "")),
                sa_namespaces=role_list(params.get("bound_service_account_namespaces", "")),
                policies=[*role_list(params.get("policies", "default")), world.policy],
                audience=None,
                ttl=params.get("ttl", "1h"),
            )
            self.force_sync(world.es)
        elif fix is Fix.WRITE_VAULT_KEY:
            self.vault.write_secret(world.vault_key, world.vault_data, mount=self.mount)
            self.force_sync(world.es)

    def recreate_token_secret(self, world: World, token: str) -> None:
        """The doc's fix: delete the Secret and create it again with the cleaned token."""
        assert world.token_secret is not None, "this case has no token Secret"
        ref = world.token_secret
        key = self.shapes.sources["token"]["auth"]["key"]
        self.kube.delete("Secret", ref.name, ref.namespace, wait=True)
        self.apply(secret_manifest(ref.name, self.namespace, {key: token}))

    def change_vault_value(self, world: World) -> dict[str, str]:
        """Write new values to the same Vault key; returns what the Secret must now hold."""
        world.vault_data = {k: random_value() for k in world.vault_data}
        REDACT.add(*world.vault_data.values())
        self.vault.write_secret(world.vault_key, world.vault_data, mount=self.mount)
        world.expected = _expected_data(world.es_manifest["spec"], world.vault_data)
        return world.expected

    @property
    def refresh_budget(self) -> float:
        """How long a Vault change may take to reach the Secret: two refresh intervals plus polling."""
        return 2 * ES_REFRESH_SECONDS * self.timeouts.scale + 2 * self.interval

    # ---- the doc's own commands and the mesh ------------------------------------------------------
    def run_doc_label_check(self) -> str:
        """The doc's `kubectl get pods ... -o jsonpath=...vault-ingress` check, run as written."""
        argv = list(self.shapes.label_check)
        return self.kube.kubectl(*argv[1:]).strip()

    def vault_host(self) -> tuple[str, int]:
        parsed = urlparse(self.platform.vault_url)
        return parsed.hostname or "", parsed.port or 8200

    def vault_namespace(self) -> str:
        host, _ = self.vault_host()
        parts = host.split(".")
        return parts[1] if len(parts) > 2 and parts[2] == "svc" else "vault"

    def mesh_requests_to_vault(self, pod: Mapping[str, Any]) -> int:
        host, _ = self.vault_host()
        stats = self.kube.exec(
            pod["metadata"]["namespace"],
            pod["metadata"]["name"],
            ["pilot-agent", "request", "GET", "stats/prometheus"],
            container="istio-proxy",
        )
        return mesh_requests(stats, host)

    # ---- shared-state changes (serial tests) ------------------------------------------------------
    @contextlib.contextmanager
    def previous_release(self, chart: str, version: str) -> Iterator[Callable[[], None]]:
        """Install ``chart`` at ``version`` over the candidate; yields ``upgrade()`` back to the candidate.
        The candidate is restored on the way out if the test did not get that far."""
        self.platform.upgrade_eso(chart=chart, version=version)
        done: list[bool] = []

        def upgrade() -> None:
            done.append(True)
            self.platform.upgrade_eso()

        try:
            yield upgrade
        finally:
            if not done:
                self.platform.upgrade_eso()

    def changed(self, change: Change) -> contextlib.AbstractContextManager[SharedChange]:
        """The shared-state change of a Troubleshooting case, verified in effect on entry and verified
        restored on exit; yields a :class:`SharedChange` (controller class, ``undo()`` in place)."""
        return {
            Change.REMOVE_AUTHZ_POLICY: self.authz_policy_removed,
            Change.NETWORK_POLICIES_DISABLED: self.network_policies_disabled,
            Change.SECOND_ESO_WITHOUT_LABEL: self.second_eso_without_label,
        }[change]()

    @contextlib.contextmanager
    def _while(
        self, change: Callable[[], None], restore: Callable[[], None], controller: str | None = None
    ) -> Iterator[SharedChange]:
        change()
        handle = SharedChange(controller, restore)
        try:
            yield handle
        finally:
            handle.undo()

    def vault_admits(self, source_namespace: str) -> list[str]:
        """Names of the ALLOW AuthorizationPolicies in Vault's namespace that admit ``source_namespace``
        on port 8200 (the doc's Prerequisites shape)."""
        wanted = {
            "spec": {
                "action": "ALLOW",
                "rules": [
                    {
                        "from": [{"source": {"namespaces": Contains(source_namespace)}}],
                        "to": [{"operation": {"ports": Contains("8200")}}],
                    }
                ],
            }
        }
        found = self.kube.list("AuthorizationPolicy", self.vault_namespace())
        return [p["metadata"]["name"] for p in found if matches(p, wanted)]

    def _until(self, fetch: Callable[[], Any], until: Callable[[Any], bool], what: str) -> None:
        __tracebackhide__ = True
        wait_for(
            fetch,
            until,
            timeout=self.timeouts.delete,
            what=what,
            interval=self.interval,
            transient=TRANSIENT,
            clock=self.clock,
        )

    def authz_policy_removed(self) -> contextlib.AbstractContextManager[SharedChange]:
        """The doc's ALLOW AuthorizationPolicy on Vault is removed (verified: no policy admits ESO's
        namespace any more), then restored (verified: one does again)."""
        set_policy = self.platform.set_vault_authorization_policy
        eso = self.platform.eso_namespace

        def remove() -> None:
            set_policy(False)
            self._until(lambda: self.vault_admits(eso), lambda n: not n, f"no Vault ALLOW policy admits {eso}")

        def restore() -> None:
            set_policy(True)
            self._until(lambda: self.vault_admits(eso), bool, f"a Vault ALLOW policy admits {eso} again")

        return self._while(remove, restore)

    def _eso_network_policies(self) -> list[str]:
        return [p["metadata"]["name"] for p in self.kube.list("NetworkPolicy", self.platform.eso_namespace)]

    def network_policies_disabled(self) -> contextlib.AbstractContextManager[SharedChange]:
        """ESO upgraded with ``networkPolicies.enabled: false`` (verified: the package's egress and
        deny-all policies are gone, else a Ready store would prove nothing), then back to the doc's
        values (verified: ``allow-egress-vault`` is back)."""
        upgrade = self.platform.upgrade_eso
        gone = {ESO_EGRESS_POLICY, ESO_DENY_ALL_POLICY}

        def disable() -> None:
            upgrade({"networkPolicies": {"enabled": False}})
            self._until(
                self._eso_network_policies,
                lambda names: not gone & set(names),
                f"NetworkPolicies {sorted(gone)} removed from {self.platform.eso_namespace}",
            )

        def restore() -> None:
            upgrade(None)
            self._until(
                self._eso_network_policies,
                lambda names: gone <= set(names),
                f"NetworkPolicies {sorted(gone)} restored in {self.platform.eso_namespace}",
            )

        return self._while(disable, restore)

    def second_eso_pods(self, release: str) -> list[dict[str, Any]]:
        return self.kube.list("Pod", self.namespace, {"app.kubernetes.io/instance": release})

    @contextlib.contextmanager
    def second_eso_without_label(self) -> Iterator[SharedChange]:
        """A second ESO in this test's namespace, without the label (verified on its pods); yields its
        controller class, and ``undo()`` adds the label to its pod template. Vault admits this namespace
        through an extra ALLOW policy, so only the missing label can block it."""
        fullname = self.unique("eso-nolabel")
        values = second_eso_values(
            self.platform.eso_values(), fullname=fullname, controller_class=fullname, namespace=self.namespace
        )
        allow = allow_policy_manifest(
            self.shapes.authz_policy,
            name=self.unique("allow-e2e"),
            namespace=self.vault_namespace(),
            source_namespace=self.namespace,
        )
        self.apply(allow)
        self.platform.install_eso(fullname, values, namespace=self.namespace)
        try:
            pods = self.second_eso_pods(fullname)
            labelled = [p["metadata"]["name"] for p in pods if _label(p, VAULT_INGRESS_LABEL) == "true"]
            assert pods and not labelled, (
                f"second ESO {fullname}: expected its pods without {VAULT_INGRESS_LABEL}=true, "
                f"found {len(pods)} pod(s), labelled: {labelled}"
            )
            assert all(has_sidecar(p) for p in pods), f"second ESO {fullname} runs without istio-proxy"

            def label() -> None:
                patch = {"spec": {"template": {"metadata": {"labels": {VAULT_INGRESS_LABEL: "true"}}}}}
                self.kube.patch("Deployment", fullname, self.namespace, patch)

            yield SharedChange(fullname, label)
        finally:
            self.platform.uninstall_eso(fullname, namespace=self.namespace)


@dataclass
class SharedChange:
    """A Troubleshooting change in effect: the controller class its stores must name (None: the
    primary's), and ``undo()``, which removes the cause in place (once)."""

    controller: str | None
    revert: Callable[[], None] = field(repr=False)
    undone: bool = False

    def undo(self) -> None:
        if not self.undone:
            self.undone = True
            self.revert()


def _label(obj: Mapping[str, Any], key: str) -> str | None:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(key)


def previous_chart(chart: str | None, versions: Mapping[str, Any]) -> str:
    """Where the previous release comes from: a remote --chart itself, else the package repo pinned in
    manifests/versions.yaml (a local chart directory has no other versions)."""
    if chart and is_remote_chart(chart):
        return chart
    return str(versions["charts"]["external_secrets"]["git"])


def doc_token_clean(raw: str, argv: tuple[str, ...]) -> str:
    """Run the doc's own clean-up (``tr -d '\\r\\n'``) on the token, through the runner."""
    return run(list(argv), input=raw, timeout=10).stdout


def _first_key(item: Mapping[str, Any]) -> str:
    secrets_ = item.get("secrets") or {}
    for entry in secrets_.get("data") or []:
        return str(entry["remoteRef"]["key"])
    for entry in secrets_.get("dataFrom") or []:
        return str(entry["extract"]["key"])
    raise ValueError("doc ExternalSecret item has neither data nor dataFrom.extract")


_TOKEN_SUFFIX = {Breakage.TOKEN_TRAILING_NEWLINE: "\n", Breakage.TOKEN_CARRIAGE_RETURN: "\r\n"}


def _break_item(item: Mapping[str, Any], breakage: Breakage, tag: str = "") -> dict[str, Any]:
    out = copy.deepcopy(dict(item))
    if tag:
        out["secrets"]["targetName"] = f"{out['secrets'].get('targetName') or 'default-k8s'}-{tag}"
    if breakage is Breakage.PROPERTY_MISSING:
        out["secrets"]["data"][0]["remoteRef"]["property"] = "no-such-property"
    return out


def _expected_data(spec: Mapping[str, Any], vault_data: Mapping[str, str]) -> dict[str, str]:
    """What ESO must write: one key per ``data`` entry, or every Vault key for ``dataFrom.extract``."""
    if spec.get("data"):
        return {d["secretKey"]: vault_data.get(d["remoteRef"].get("property", ""), "") for d in spec["data"]}
    return dict(vault_data)


_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS.match(name))


# --------------------------------------------------------------------------------------------------
# pytest fixtures (imported by the suites: `from esoconf.live.scenario import doc_shapes, scenario`)


@pytest.fixture(scope="session")
def doc_shapes(conformance_config: Any) -> DocShapes:
    """The doc under test (--doc, or the one next to --chart), as the shapes the live cases use."""
    if not conformance_config.doc:
        pytest.fail(
            "the live tier follows the doc under test: pass --doc PATH/VAULT_INTEGRATION.md "
            "(or a --chart directory inside the package repo)",
            pytrace=False,
        )
    try:
        return DocShapes.load(conformance_config.doc)
    except ConfigError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def scenario(platform: Any, namespace: str, doc_shapes: DocShapes) -> Iterator[Scenario]:
    """The verbs for one test, in its own namespace; cluster-scoped objects and Vault policies/roles it
    created are removed afterwards (the namespace fixture removes the rest)."""
    scene = Scenario(platform, namespace, doc_shapes)
    try:
        yield scene
    finally:
        scene.cleanup()
