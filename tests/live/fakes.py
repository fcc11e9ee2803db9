"""In-memory fakes of the live tier's interfaces (Kube, VaultSeeder, Platform) and of ESO itself.

``FakeEso`` decides each store/ExternalSecret outcome from the fake state (token Secret, Vault policies,
roles, the AuthorizationPolicy, pod labels) with ESO's store-validation and sync rules
(external-secrets ``pkg/controllers/secretstore`` and ``providers/v1/vault``), and writes the
status and Events of the matching *recorded* object (tests/fixtures/recorded). ESO is asynchronous: it
reconciles only when time passes (``FakeClock.sleep``), so the suite's waits and holds are exercised.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from esoconf.live.expectations import VersionRange, parse_version
from esoconf.live.platform import NetpolNotShown
from esoconf.platforms.incluster.platform import Platform
from esoconf.wait import Clock, Timeouts

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"
FIXTURE_CHART = Path(__file__).resolve().parent.parent / "fixtures" / "charts" / "external-secrets"
_RENDERERS: dict[str, Any] = {}


def render_chart(chart: Path, values: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The fixture chart rendered by the real helm (as the live platforms do), one renderer per process."""
    import tempfile

    from esoconf.render.helm import Renderer
    from esoconf.tools import find_tool

    if "r" not in _RENDERERS:
        _RENDERERS["r"] = Renderer(find_tool("helm").path, Path(tempfile.mkdtemp(prefix="fake-render-")))
    return copy.deepcopy(_RENDERERS["r"].render(chart, "external-secrets", values).objects)  # the cache stays whole
VAULT_URL = "http://vault-vault.vault.svc.cluster.local:8200"
ESO_NS = "external-secrets"


class FakeClock(Clock):
    """Monotonic time that only moves when someone sleeps; each sleep lets ESO reconcile."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.listeners: list[Any] = []
        super().__init__(now=lambda: self.t, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.01)
        for listener in self.listeners:
            listener()


# --------------------------------------------------------------------------------------------------
# recorded objects


def _range(text: str) -> VersionRange:
    low, _, high = text.partition("..")
    return VersionRange(parse_version(low) if low else None, parse_version(high) if high else None)


def recorded(family: str, outcome: str, eso_version: str, **values: str) -> dict[str, Any]:
    """The recorded status/events of ``family/outcome*.yaml`` for ``eso_version``, placeholders filled."""
    for path in sorted((RECORDED / family).glob(f"{outcome}*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        stem_ok = path.stem == outcome or path.stem.startswith(f"{outcome}-v")
        if stem_ok and eso_version in _range(str(data["eso_versions"])):
            return _fill(data, values)
    raise LookupError(f"no recorded {family}/{outcome} for ESO {eso_version}")


def _fill(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, str):
        return string.Template(node).safe_substitute(values)
    if isinstance(node, dict):
        return {k: _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    return node


# --------------------------------------------------------------------------------------------------
# Kube


def _key(kind: str, name: str, namespace: str | None) -> tuple[str, str, str]:
    return kind, namespace or "", name


def _seconds(duration: str | int) -> float:
    """``10s`` / ``1m`` / ``1h`` / ``1h0m0s`` -> seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1}
    return float(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration)))


class NotFound(Exception):
    """What the API answers for a missing object (the real client's ApiException carries status 404)."""

    status = 404


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class FakeKube:
    namespace_label = "eso-conformance/run-id"
    CLUSTER_KINDS = {"ClusterSecretStore", "Namespace"}

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.event_list: list[dict[str, Any]] = []
        self.listeners: list[Any] = []
        self.calls: list[tuple[str, ...]] = []
        self.uid = 0
        self.mesh_requests: dict[str, int] = {}  # pod -> requests its sidecar sent to Vault

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        obj = self.objects.get(_key(kind, name, None if kind in self.CLUSTER_KINDS else namespace))
        return copy.deepcopy(obj) if obj else None

    def list(
        self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        out = []
        for (k, ns, _), obj in self.objects.items():
            obj_labels = obj["metadata"].get("labels") or {}
            if (
                k == kind
                and (namespace is None or ns == namespace)
                and all(obj_labels.get(a) == b for a, b in (labels or {}).items())
            ):
                out.append(copy.deepcopy(obj))
        return out

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        key = _key(
            obj["kind"], meta["name"], None if obj["kind"] in self.CLUSTER_KINDS else meta.get("namespace")
        )
        self.calls.append(("apply", *key))
        old = self.objects.get(key)
        if old:
            meta.setdefault("uid", old["metadata"]["uid"])
            obj.setdefault("status", old.get("status"))
            annotations = {**(old["metadata"].get("annotations") or {}), **(meta.get("annotations") or {})}
            if annotations:
                meta["annotations"] = annotations
            meta["ownerReferences"] = meta.get("ownerReferences") or old["metadata"].get("ownerReferences")
        else:
            self.uid += 1
            meta.setdefault("uid", f"uid-{self.uid}")
        if obj["kind"] == "Pod" and "eso-conformance/probe" in (meta.get("labels") or {}):  # kubelet, briefly
            obj["status"] = {"podIP": f"10.244.0.{100 + self.uid}", "conditions": [{"type": "Ready", "status": "True"}]}
        if "stringData" in obj:
            obj.setdefault("data", {}).update(
                {k: base64.b64encode(v.encode()).decode() for k, v in obj.pop("stringData").items()}
            )
        self.objects[key] = obj
        self._notify()
        return copy.deepcopy(obj)

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        key = _key(kind, name, None if kind in self.CLUSTER_KINDS else namespace)
        self.calls.append(("delete", *key))
        gone = self.objects.pop(key, None)
        if gone:  # garbage collection of owned objects
            uid = gone["metadata"]["uid"]
            for other_key, other in list(self.objects.items()):
                if any(o.get("uid") == uid for o in other["metadata"].get("ownerReferences") or []):
                    self.objects.pop(other_key)

    def patch(self, kind: str, name: str, namespace: str | None, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386: maps merge, null deletes, anything else replaces)."""
        key = _key(kind, name, None if kind in self.CLUSTER_KINDS else namespace)
        self.calls.append(("patch", *key))
        if key not in self.objects:
            raise NotFound(f"{kind} {namespace or ''}/{name} not found")
        self.objects[key] = merge_patch(self.objects[key], patch)
        self._notify()
        return copy.deepcopy(self.objects[key])

    def events(self, namespace: str | None, kind: str, name: str) -> list[dict[str, Any]]:
        """Like the real Kube: Events in ``namespace`` (None: every namespace) about kind/name."""
        return [
            copy.deepcopy(e)
            for e in self.event_list
            if (namespace is None or e["metadata"]["namespace"] == namespace)
            and e["involvedObject"]["kind"] == kind
            and e["involvedObject"]["name"] == name
        ]

    def record_event(self, obj: dict[str, Any], event: dict[str, Any]) -> None:
        """client-go's recorder: the Event lives in the object's namespace, ``default`` for cluster-scoped
        objects; a repeat of the last message of the same object only bumps its count."""
        meta = obj["metadata"]
        involved = {
            "kind": obj["kind"],
            "name": meta["name"],
            "namespace": meta.get("namespace") or "",
            "uid": meta["uid"],
        }
        mine = [e for e in self.event_list if e["involvedObject"] == involved]
        if mine and mine[-1]["message"] == event["message"]:
            mine[-1]["count"] += 1
            return
        self.event_list.append(
            {
                **event,
                "metadata": {
                    "name": f"{meta['name']}.{len(self.event_list):x}",
                    "namespace": involved["namespace"] or "default",
                },
                "involvedObject": involved,
                "count": 1,
            }
        )

    def logs(
        self, namespace: str, pod: str, container: str | None = None, previous: bool = False, tail: int = 200
    ) -> str:
        return ""

    def exec(self, namespace: str, pod: str, command: list[str], container: str | None = None) -> str:
        self.calls.append(("exec", namespace, pod, " ".join(command)))
        if command[:3] == ["pilot-agent", "request", "GET"]:
            return istio_proxy_stats(command[3], self.mesh_requests.get(pod, 0))
        probe = re.search(r"nc -w \d+ (\S+) (\d+)", " ".join(command))
        if probe:
            return self.connect(namespace, pod, probe[1], int(probe[2]))
        return ""

    def connect(self, namespace: str, pod: str, host: str, port: int) -> str:
        """The fixture charts' policies as an enforcer applies them (what the node platform observed): Vault
        admits 8200 from vault-ingress pods; ESO's egress (and its DNS) is open while allow-egress-external is."""
        labels = ((self.get("Pod", pod, namespace) or {}).get("metadata") or {}).get("labels") or {}
        external = namespace != ESO_NS or self.get("NetworkPolicy", "allow-egress-external", ESO_NS) is not None
        by_name = host.startswith(f"{VAULT_SERVICE[1]}.")
        if by_name or host == VAULT_SERVICE_IP:
            opened = (external or not by_name) and port == 8200 and labels.get("vault-ingress") == "true"
            return "OPEN" if opened else "BLOCKED"
        return "OPEN" if external else "BLOCKED"

    def kubectl(self, *args: str, input: str | None = None) -> str:
        """Just the doc's check: get pods -n NS -l k=v -o jsonpath={.items[0].metadata.labels.KEY}."""
        self.calls.append(("kubectl", *args))
        argv = list(args)
        ns = argv[argv.index("-n") + 1]
        label, value = argv[argv.index("-l") + 1].split("=", 1)
        output = argv[argv.index("-o") + 1]
        match = re.fullmatch(r"jsonpath=\{\.items\[0\]\.metadata\.labels\.([^}]+)\}", output)
        assert argv[:2] == ["get", "pods"] and match, f"FakeKube.kubectl cannot run {argv}"
        pods = self.list("Pod", ns, {label: value})
        return str((pods[0]["metadata"].get("labels") or {}).get(match[1], "")) if pods else ""

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    def secrets_data(self, name: str, namespace: str) -> dict[str, str] | None:
        obj = self.get("Secret", name, namespace)
        if obj is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


# --------------------------------------------------------------------------------------------------
# Vault


@dataclass
class FakeRole:
    mount: str
    sa_names: list[str]
    sa_namespaces: list[str]
    policies: list[str]
    audience: str | None


@dataclass
class FakeVault:
    kv: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    roles: dict[str, FakeRole] = field(default_factory=dict)
    tokens: dict[str, list[str]] = field(default_factory=dict)

    def enable_kv2(self, mount: str = "kv") -> None:
        pass

    def write_secret(self, path: str, data: dict[str, str], mount: str = "kv") -> None:
        self.kv[(mount, path)] = dict(data)

    def delete_secret(self, path: str, mount: str = "kv") -> None:
        self.kv.pop((mount, path), None)

    def write_policy(self, name: str, hcl: str) -> None:
        self.policies[name] = hcl

    def delete_policy(self, name: str) -> None:
        self.policies.pop(name, None)

    def configure_kubernetes_auth(
        self, mount: str = "kubernetes", host: str = "https://kubernetes.default.svc"
    ) -> None:
        pass

    def write_role(
        self,
        name: str,
        *,
        mount: str = "kubernetes",
        sa_names: list[str],
        sa_namespaces: list[str],
        policies: list[str],
        audience: str | None = None,
        ttl: str = "1h",
    ) -> None:
        self.roles[name] = FakeRole(mount, list(sa_names), list(sa_namespaces), list(policies), audience)

    def delete_role(self, name: str, mount: str = "kubernetes") -> None:
        self.roles.pop(name, None)

    def create_token(self, policies: list[str], ttl: str = "1h") -> str:
        token = f"hvs.FAKE{len(self.tokens):04d}abcdefghijklmnopqrstuv"
        self.tokens[token] = list(policies)
        return token

    def can_read(self, policies: list[str], mount: str, path: str) -> bool:
        """A policy grants read on ``<mount>/data/<path>`` (globs with a trailing ``*``)."""
        wanted = f"{mount}/data/{path}"
        for name in policies:
            for glob, caps in re.findall(
                r'path "([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]', self.policies.get(name, "")
            ):
                if "read" in caps and fnmatch.fnmatchcase(wanted, glob):
                    return True
        return False


# --------------------------------------------------------------------------------------------------
# ESO


@dataclass
class Install:
    release: str
    namespace: str
    controller_class: str
    scoped: bool = False  # scopedNamespace + scopedRBAC: only SecretStores of its own namespace


VAULT_NETPOL = ("NetworkPolicy", "allow-ingress-to-vault-port-8200-from-custom-app-ingress", "vault")
# What Istio 1.29's proxy answers (default stats matcher): Envoy's text stats keep only the default
# prefixes (no per-upstream `cluster.outbound|8200||...` counters); Istio's own metrics are always there
ENVOY_DEFAULT_STATS = (
    "cluster.xds-grpc.upstream_rq_total: 7\n"
    "cluster_manager.cds.update_success: 3\n"
    "listener_manager.lds.update_success: 3\n"
    "server.live: 1\n"
)
ISTIO_REQUESTS = (
    'istio_requests_total{{reporter="source",source_workload="external-secrets",'
    'source_workload_namespace="external-secrets",destination_workload="vault-vault",'
    'destination_service="vault-vault.vault.svc.cluster.local",destination_service_name="vault-vault",'
    'destination_service_namespace="vault",request_protocol="http",response_code="{code}",'
    'response_flags="-",connection_security_policy="unknown"}} {count}\n'
)


def istio_proxy_stats(path: str, requests_to_vault: int) -> str:
    """``pilot-agent request GET <path>`` of an ESO sidecar that sent ``requests_to_vault`` to Vault."""
    if path == "stats":
        return ENVOY_DEFAULT_STATS
    if path == "stats/prometheus":
        text = "# TYPE istio_requests_total counter\n"
        if requests_to_vault:  # split over two response codes: a counter per label set
            text += ISTIO_REQUESTS.format(code="200", count=requests_to_vault - 1)
            text += ISTIO_REQUESTS.format(code="403", count=1)
        return text + 'envoy_server_live{} 1\n'
    return ""


class FakeEso:
    """ESO's decisions (store validation, referent stores, the flood gate) over the fake state; texts from the
    recorded objects.

    The network path is read from the fake cluster: an ALLOW AuthorizationPolicy in ``vault`` admitting
    the install's namespace (a change reaches the sidecars ``propagation`` seconds later, like istiod's
    push), and, where NetworkPolicy is enforced, Vault's ingress policy admitting only pods labelled
    ``vault-ingress: "true"``. Every call that reaches Vault counts in the pod's Envoy stats."""

    def __init__(self, kube: FakeKube, vault: FakeVault, eso_version: str, clock: FakeClock | None = None) -> None:
        self.kube, self.vault, self.eso_version = kube, vault, eso_version
        self.clock = clock or FakeClock()
        self.installs = [Install("external-secrets-external-secrets", ESO_NS, "default")]
        self.reconciles = 0
        self.netpol_enforced = True
        self.propagation = 3.0
        self.sidecar_stats = True
        self.requests: dict[str, int] = {}
        self.schedule: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._mesh: dict[str, list[Any]] = {}  # namespace -> [effective, pending, pending since]

    # -- store ---------------------------------------------------------------------------------------
    def install_for(self, store: dict[str, Any]) -> Install | None:
        wanted = store["spec"].get("controller") or ""
        for install in self.installs:
            sees = not install.scoped or (
                store["kind"] == "SecretStore" and store["metadata"].get("namespace") == install.namespace
            )
            if sees and wanted in {"", install.controller_class}:
                return install
        return None

    def pods(self, install: Install) -> list[dict[str, Any]]:
        return self.kube.list("Pod", install.namespace, {"app.kubernetes.io/instance": install.release})

    def store_outcome(
        self, store: dict[str, Any], es_namespace: str | None = None
    ) -> tuple[str, dict[str, str]]:
        vault = store["spec"]["provider"]["vault"]
        auth = vault["auth"]
        install = self.install_for(store)
        values = {"server": vault["server"], "mount": vault.get("path") or "kv"}
        if "tokenSecretRef" in auth:
            ref = auth["tokenSecretRef"]
            if store["kind"] == "ClusterSecretStore" and not ref.get("namespace") and es_namespace is None:
                return "valid", values  # referent: ESO's Validate() returns Unknown, no Vault call
            namespace = (
                ref.get("namespace")
                if store["kind"] == "ClusterSecretStore"
                else store["metadata"]["namespace"]
            )
            namespace = namespace or es_namespace or ""
            data = self.kube.secrets_data(ref["name"], namespace)
            if data is None:
                return "token-secret-missing", {**values, "secret": ref["name"], "namespace": namespace}
            if ref["key"] not in data:
                return "token-key-missing", {**values, "key": ref["key"]}
            token = data[ref["key"]]
            if not token.isprintable():
                return "non-printable", values
            network = self._network(install)
            if network:
                return network, values
            return ("valid" if token in self.vault.tokens else "token-invalid"), values
        k8s = auth["kubernetes"]
        network = self._network(install)
        if network:
            return network, values
        role = self.vault.roles.get(k8s["role"])
        sa = k8s.get("serviceAccountRef") or {}
        bound = (
            role is not None
            and role.mount == k8s["mountPath"]
            and sa.get("name") in role.sa_names
            and (sa.get("namespace") in role.sa_namespaces)
        )
        return ("valid" if bound else "kubernetes-login-denied"), {**values, "mount": k8s["mountPath"]}

    def _network(self, install: Install | None) -> str | None:
        if install is None:
            return None
        if not self._admitted(install.namespace):
            return "istio-rbac-denied"
        pods = self.pods(install)
        labelled = all((p["metadata"].get("labels") or {}).get("vault-ingress") == "true" for p in pods)
        if self.netpol_enforced and self.kube.get(*VAULT_NETPOL[:2], VAULT_NETPOL[2]) and not labelled:
            return "connect-timeout"
        for pod in pods:  # the call reached Vault through the pod's sidecar
            name = pod["metadata"]["name"]
            self.requests[name] = self.requests.get(name, 0) + 1
            if self.sidecar_stats:
                self.kube.mesh_requests[name] = self.requests[name]
        return None  # NetworkPolicies off: the ESO namespace has no policy at all

    def _admitted(self, namespace: str) -> bool:
        """Does an ALLOW policy on Vault admit ``namespace``, as the sidecars currently know it?"""
        now = any(
            namespace in (rule.get("from") or [{}])[0].get("source", {}).get("namespaces", [])
            for ap in self.kube.list("AuthorizationPolicy", "vault")
            if ap["spec"].get("action") == "ALLOW"
            for rule in ap["spec"].get("rules") or []
        )
        seen = self._mesh.setdefault(namespace, [now, now, self.clock.t])
        if now != seen[1]:
            seen[1], seen[2] = now, self.clock.t
        if self.clock.t - seen[2] >= self.propagation:
            seen[0] = seen[1]
        return bool(seen[0])

    def policies_for(self, store: dict[str, Any], es_namespace: str) -> list[str]:
        auth = store["spec"]["provider"]["vault"]["auth"]
        if "tokenSecretRef" in auth:
            ref = auth["tokenSecretRef"]
            namespace = (
                ref.get("namespace") if store["kind"] == "ClusterSecretStore" else None
            ) or es_namespace
            token = (self.kube.secrets_data(ref["name"], namespace) or {}).get(ref["key"], "")
            return self.vault.tokens.get(token, [])
        role = self.vault.roles.get(auth["kubernetes"]["role"])
        return ["default", *role.policies] if role else []

    # -- reconcile -----------------------------------------------------------------------------------
    def reconcile(self) -> None:
        self.reconciles += 1
        for deployment in self.kube.list("Deployment"):  # a pod template change rolls the pods
            meta = deployment["metadata"]
            for pod in self.kube.list("Pod", meta["namespace"], {"app.kubernetes.io/instance": meta["name"]}):
                pod["metadata"]["labels"] = dict(deployment["spec"]["template"]["metadata"]["labels"])
                self.kube.objects[_key("Pod", pod["metadata"]["name"], meta["namespace"])] = pod
        for kind in ("ClusterSecretStore", "SecretStore"):
            for store in self.kube.list(kind):
                if self.install_for(store) is None or not self._due(store):
                    continue
                outcome, values = self.store_outcome(store)
                self._write(store, recorded("store", outcome, self.eso_version, **values))
                self._done(store, store["spec"].get("refreshInterval") or 300)
        for es in self.kube.list("ExternalSecret"):
            if self._due(es) and self._sync(es):
                self._done(es, _seconds(es["spec"].get("refreshInterval") or "1h"))

    # -- when ESO reconciles: on any change of the object (spec, labels, annotations: neither controller
    # filters updates in v1.3.1), after refreshInterval when Ready, after an exponential back-off of
    # 1 s doubling to 7 min when not (external-secrets pkg/controllers/common/common.go BuildRateLimiter:
    # failureBaseDelay 1 s, failureMaxDelay 7 min). Nothing else wakes it up.
    def _version(self, obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return repr((meta.get("uid"), meta.get("labels"), meta.get("annotations"), obj.get("spec")))

    def _due(self, obj: dict[str, Any]) -> bool:
        state = self.schedule.get(_key(obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")))
        return state is None or state["version"] != self._version(obj) or self.clock.t >= state["next"]

    def _done(self, obj: dict[str, Any], interval: float) -> None:
        key = _key(obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
        live = self.kube.objects.get(key) or obj
        ok = ((live.get("status") or {}).get("conditions") or [{}])[0].get("status") == "True"
        state = self.schedule.setdefault(key, {"failures": 0})
        state["failures"] = 0 if ok else state["failures"] + 1
        state["version"] = self._version(obj)
        state["next"] = self.clock.t + (interval if ok else min(2 ** (state["failures"] - 1), 420))

    def _write(self, obj: dict[str, Any], record: dict[str, Any]) -> bool:
        key = _key(obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
        live = self.kube.objects.get(key)
        if live is None:
            return False
        live["status"] = record["status"]
        for event in record["events"]:
            self.kube.record_event(live, event)
        return True

    def _sync(self, es: dict[str, Any]) -> bool:
        ns = es["metadata"]["namespace"]
        ref = es["spec"]["secretStoreRef"]
        store = self.kube.get(ref["kind"], ref["name"], ns)
        if store is None or self.install_for(store) is None:
            return False
        ready = (store.get("status") or {}).get("conditions", [{}])[0].get("status") == "True"
        values = {"store": ref["name"], "store_kind": ref["kind"], "index": "data[0] (key: ?)"}
        if not ready:
            return self._write(es, recorded("es", "store-not-ready", self.eso_version, **values))
        outcome, _ = self.store_outcome(store, es_namespace=ns)
        if outcome != "valid":  # referent store: the auth happens now, per ExternalSecret namespace
            return self._write(
                es,
                recorded(
                    "es",
                    "permission-denied",
                    self.eso_version,
                    **values,
                    server=store["spec"]["provider"]["vault"]["server"],
                    mount="kv",
                    path="?",
                ),
            )
        mount = store["spec"]["provider"]["vault"].get("path") or "kv"
        policies = self.policies_for(store, ns)
        data: dict[str, str] = {}
        entries = [
            (
                f"data[{i}] (key: {d['remoteRef']['key']})",
                d["remoteRef"]["key"],
                d["remoteRef"].get("property"),
                d["secretKey"],
            )
            for i, d in enumerate(es["spec"].get("data") or [])
        ]
        entries += [
            (f"dataFrom[{i}].extract", d["extract"]["key"], None, None)
            for i, d in enumerate(es["spec"].get("dataFrom") or [])
        ]
        for index, key, prop, secret_key in entries:
            failure = {
                "index": index,
                "server": store["spec"]["provider"]["vault"]["server"],
                "mount": mount,
                "path": key,
                "property": prop or "",
            }
            if not self.vault.can_read(policies, mount, key):
                return self._write(es, recorded("es", "permission-denied", self.eso_version, **failure))
            secret = self.vault.kv.get((mount, key))
            if secret is None:
                return self._write(es, recorded("es", "secret-not-found", self.eso_version, **failure))
            if prop is not None and prop not in secret:
                return self._write(es, recorded("es", "property-missing", self.eso_version, **failure))
            data.update({secret_key: secret[prop]} if secret_key and prop else secret)
        target = es["spec"]["target"]["name"]
        live_es = self.kube.objects[_key("ExternalSecret", es["metadata"]["name"], ns)]
        self.kube.objects[_key("Secret", target, ns)] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": target,
                "namespace": ns,
                "uid": f"uid-secret-{target}",
                "labels": {"reconcile.external-secrets.io/managed": "true"},
                "annotations": {"reconcile.external-secrets.io/data-hash": "0123abcd"},
                "ownerReferences": [
                    {
                        "apiVersion": "external-secrets.io/v1",
                        "kind": "ExternalSecret",
                        "name": es["metadata"]["name"],
                        "uid": live_es["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        synced = recorded("es", "synced", self.eso_version, target=target)
        synced["status"]["refreshTime"] = f"fake clock {self.clock.now():.3f}"  # ESO stamps every sync
        return self._write(es, synced)


# --------------------------------------------------------------------------------------------------
# Platform


def eso_pod(
    name: str,
    namespace: str = ESO_NS,
    labelled: bool = True,
    sidecar: bool = True,
    release: str = "external-secrets-external-secrets",
) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "external-secrets", "app.kubernetes.io/instance": release}
    if labelled:
        labels["vault-ingress"] = "true"
    init = [{"name": "istio-proxy", "restartPolicy": "Always"}] if sidecar else []
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"initContainers": init, "containers": [{"name": "external-secrets"}]},
    }


def eso_network_policies() -> list[dict[str, Any]]:
    """The package's policies that ``networkPolicies.enabled`` adds and removes (the package's
    chart/templates/bigbang/networkpolicies/)."""
    return [obj for obj in platform_objects() if obj["metadata"]["namespace"] == ESO_NS]


VAULT_SERVICE = ("vault", "vault-vault")
VAULT_SERVICE_IP = "10.96.0.20"


def platform_objects() -> list[dict[str, Any]]:
    """What the charts put in place for the doc's values (the ESO package's bigbang/ policies, the Vault
    package's bb-common ones and the doc's AuthorizationPolicy override)."""
    np = "networking.k8s.io/v1"
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": VAULT_SERVICE[1], "namespace": VAULT_SERVICE[0]},
            "spec": {"clusterIP": VAULT_SERVICE_IP, "ports": [{"port": 8200}]},
        },
        {
            "apiVersion": np,
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-egress-external", "namespace": ESO_NS},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]},
        },
        {
            "apiVersion": np,
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny-all", "namespace": ESO_NS},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []},
        },
        {
            "apiVersion": np,
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-egress-vault", "namespace": ESO_NS},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "external-secrets"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "vault"}
                                },
                                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "vault"}},
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": 8200}],
                    }
                ],
            },
        },
        {
            "apiVersion": np,
            "kind": "NetworkPolicy",
            "metadata": {
                "name": "allow-ingress-to-vault-port-8200-from-custom-app-ingress",
                "namespace": "vault",
            },
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "vault"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {},
                                "podSelector": {"matchLabels": {"vault-ingress": "true"}},
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": 8200}],
                    }
                ],
            },
        },
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "allow-external-secrets", "namespace": "vault"},
            "spec": {
                "action": "ALLOW",
                "rules": [
                    {
                        "from": [{"source": {"namespaces": ["external-secrets"]}}],
                        "to": [{"operation": {"ports": ["8200"]}}],
                    }
                ],
            },
        },
    ]


@dataclass
class FakePlatform:
    """The contract's Platform over FakeKube/FakeVault/FakeEso."""

    eso_version: str = "v1.3.1"
    run_id: str = "r1"
    clock: FakeClock = field(default_factory=FakeClock)
    kube: FakeKube = field(default_factory=FakeKube)
    vault: FakeVault = field(default_factory=FakeVault)
    vault_url: str = VAULT_URL
    eso_namespace: str = ESO_NS
    eso_release: str = "external-secrets-external-secrets"
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(0.5))
    upgrades: list[dict[str, Any]] = field(default_factory=list)
    eso_installs: list[dict[str, Any]] = field(default_factory=list)
    chart: Path = FIXTURE_CHART
    eso: FakeEso = field(init=False)

    def __post_init__(self) -> None:
        self.eso = FakeEso(self.kube, self.vault, self.eso_version, self.clock)
        self.clock.listeners.append(self.eso.reconcile)
        self.kube.apply(eso_pod("external-secrets-7d9f-abcde"))
        for obj in platform_objects():
            self.kube.apply(obj)

    def require_netpol_enforcement(self) -> None:
        if not self.eso.netpol_enforced:
            raise NetpolNotShown("the CNI does not enforce NetworkPolicy (fake)")

    def install_eso(self, release: str, values: dict[str, Any], *, namespace: str | None = None) -> None:
        """Like helm: the values decide the pod labels (``podLabels: null`` drops the package's map)."""
        upstream = values.get("upstream") or {}
        namespace = namespace or ESO_NS
        self.eso_installs.append({"release": release, "namespace": namespace, "values": values})
        pod = eso_pod(f"{release}-5f6d-xyz12", namespace, labelled=False, release=release)
        pod["metadata"]["labels"].update(upstream.get("podLabels", {"vault-ingress": "true"}) or {})
        self.kube.apply(pod)
        template = {"metadata": {"labels": dict(pod["metadata"]["labels"])}}
        deployment = {"kind": "Deployment", "metadata": {"name": release, "namespace": namespace}}
        self.kube.apply({**deployment, "spec": {"template": template}})
        scoped = bool(upstream.get("scopedRBAC") or upstream.get("scopedNamespace"))
        self.eso.installs.append(Install(release, namespace, upstream.get("controllerClass") or "default", scoped))

    def uninstall_eso(self, release: str, *, namespace: str | None = None) -> None:
        self.eso.installs = [i for i in self.eso.installs if i.release != release]
        for kind in ("Deployment", "Pod"):
            for obj in self.kube.list(kind, namespace or ESO_NS, {"app.kubernetes.io/instance": release}):
                self.kube.delete(kind, obj["metadata"]["name"], namespace or ESO_NS)
        self.kube.delete("Deployment", release, namespace or ESO_NS)

    def upgrade_eso(
        self,
        values_override: dict[str, Any] | None = None,
        *,
        chart: str | None = None,
        version: str | None = None,
    ) -> None:
        """Like helm upgrade: the package's NetworkPolicies follow ``networkPolicies.enabled``."""
        self.upgrades.append({"values": values_override, "chart": chart, "version": version})
        enabled = ((values_override or {}).get("networkPolicies") or {}).get("enabled", True)
        for policy in eso_network_policies():
            if enabled:
                self.kube.apply(policy)
            else:
                self.kube.delete("NetworkPolicy", policy["metadata"]["name"], ESO_NS)

    def render_eso(self, values: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        return render_chart(self.chart, values)

    def eso_values(self) -> dict[str, Any]:
        return {
            "upstream": {"podLabels": {"vault-ingress": "true"}, "log": {"level": "debug"}},
            "networkPolicies": {"enabled": True},
            "istio": {"enabled": True, "hardened": {"enabled": True}},
        }

    def set_vault_authorization_policy(self, present: bool) -> None:
        policy = next(o for o in platform_objects() if o["kind"] == "AuthorizationPolicy")
        if present:
            self.kube.apply(policy)
        else:
            self.kube.delete("AuthorizationPolicy", policy["metadata"]["name"], "vault", wait=True)

    def eso_pods(self) -> list[dict[str, Any]]:
        return self.kube.list("Pod", ESO_NS, {"app.kubernetes.io/name": "external-secrets"})


def bare_platform(**fields: Any) -> Platform:
    """A real Platform with nothing behind it, for the methods that only read its own fields."""
    defaults: dict[str, Any] = {
        "kube": None,
        "vault": None,
        "vault_url": "",
        "eso_namespace": "",
        "eso_release": "",
        "eso_version": "",
        "run_id": "r",
        "timeouts": Timeouts(),
    }
    return Platform(**{**defaults, **fields})
