"""``Kube``: the small interface the suites use, over the official kubernetes client (dynamic client).

Objects go in and come out as plain dicts. 404 is ``None`` (get) or a no-op (delete). Transient API
errors (429/5xx, connection resets) are retried with ``retry_transient``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..runner import run
from ..wait import Timeouts, retry_transient, wait_for

FIELD_MANAGER = "eso-conformance"
RUN_LABEL = "eso-conformance/run-id"


@dataclass(frozen=True)
class KindInfo:
    api_version: str
    namespaced: bool


KINDS: Mapping[str, KindInfo] = {
    "Namespace": KindInfo("v1", False),
    "Secret": KindInfo("v1", True),
    "ConfigMap": KindInfo("v1", True),
    "Pod": KindInfo("v1", True),
    "Service": KindInfo("v1", True),
    "ServiceAccount": KindInfo("v1", True),
    "Event": KindInfo("v1", True),
    "Deployment": KindInfo("apps/v1", True),
    "StatefulSet": KindInfo("apps/v1", True),
    "Job": KindInfo("batch/v1", True),
    "NetworkPolicy": KindInfo("networking.k8s.io/v1", True),
    "ClusterRole": KindInfo("rbac.authorization.k8s.io/v1", False),
    "ClusterRoleBinding": KindInfo("rbac.authorization.k8s.io/v1", False),
    "ClusterSecretStore": KindInfo("external-secrets.io/v1", False),
    "SecretStore": KindInfo("external-secrets.io/v1", True),
    "ExternalSecret": KindInfo("external-secrets.io/v1", True),
    "AuthorizationPolicy": KindInfo("security.istio.io/v1", True),
    "PeerAuthentication": KindInfo("security.istio.io/v1", True),
}


def kind_info(kind: str) -> KindInfo:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"Kube: unsupported kind {kind!r}; known: {', '.join(sorted(KINDS))}") from None


def _event_time(event: Mapping[str, Any]) -> str:
    # eventTime (events.k8s.io style) > lastTimestamp > firstTimestamp > creation; RFC 3339 sorts as text
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        value = event.get(key)
        if value:
            return str(value)
    return str((event.get("metadata") or {}).get("creationTimestamp") or "")


def sort_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=_event_time)


def label_selector(labels: Mapping[str, str] | None) -> str | None:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) if labels else None


def _is_404(exc: BaseException) -> bool:
    return getattr(exc, "status", None) == 404


def _to_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else dict(obj)


class Kube:
    namespace_label: str = RUN_LABEL

    def __init__(
        self,
        dynamic: Any,
        core: Any,
        kubectl_prefix: builtins.list[str],
        timeouts: Timeouts,
        exec_stream: Callable[..., str] | None = None,
        exec_core: Callable[[], Any] | None = None,
    ) -> None:
        self._dynamic = dynamic
        self._core = core
        self._kubectl = kubectl_prefix
        self._timeouts = timeouts
        self._exec_stream = exec_stream
        # kubernetes.stream swaps its ApiClient's call_api for a websocket for the whole exec: an exec on
        # the shared client turns every concurrent get/list (other threads) into a failed websocket handshake
        self._exec_core = exec_core or (lambda: core)

    @classmethod
    def connect(
        cls, kubeconfig: str, context: str | None, kubectl_prefix: builtins.list[str], timeouts: Timeouts
    ) -> Kube:
        from kubernetes import client, config, dynamic
        from kubernetes.stream import stream

        api = config.new_client_from_config(config_file=kubeconfig, context=context)
        return cls(
            dynamic.DynamicClient(api),
            client.CoreV1Api(api),
            kubectl_prefix,
            timeouts,
            stream,
            exec_core=lambda: client.CoreV1Api(client.ApiClient(api.configuration)),  # one per exec
        )

    def server_version(self) -> str:
        """The API server's own ``/version`` (gitVersion): what ran, not the pin."""
        from kubernetes import client

        return str(client.VersionApi(self._core.api_client).get_code().git_version)

    def _resource(self, kind: str) -> Any:
        info = kind_info(kind)
        return self._dynamic.resources.get(api_version=info.api_version, kind=kind)

    def _ns(self, kind: str, namespace: str | None) -> str | None:
        return namespace if kind_info(kind).namespaced else None

    @retry_transient()
    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return _to_dict(self._resource(kind).get(name=name, namespace=self._ns(kind, namespace)))
        except Exception as exc:
            if _is_404(exc):
                return None
            raise

    @retry_transient()
    def list(
        self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None
    ) -> builtins.list[dict[str, Any]]:
        result = _to_dict(
            self._resource(kind).get(
                namespace=self._ns(kind, namespace), label_selector=label_selector(labels)
            )
        )
        return builtins.list(result.get("items") or [])

    @retry_transient()
    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj["kind"]
        info = kind_info(kind)
        body = {"apiVersion": info.api_version, **obj}
        meta = body["metadata"]
        return _to_dict(
            self._dynamic.server_side_apply(
                self._resource(kind),
                body=body,
                name=meta["name"],
                namespace=self._ns(kind, meta.get("namespace")),
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            )
        )

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        self._delete(kind, name, namespace)
        if wait:
            wait_for(
                lambda: self.get(kind, name, namespace),
                lambda obj: obj is None,
                timeout=self._timeouts.delete,
                what=f"{kind} {namespace or ''}/{name} deleted",
                interval=self._timeouts.poll_interval,
            )

    @retry_transient()
    def _delete(self, kind: str, name: str, namespace: str | None) -> None:
        try:
            self._resource(kind).delete(
                name=name, namespace=self._ns(kind, namespace), body={"propagationPolicy": "Foreground"}
            )
        except Exception as exc:
            if not _is_404(exc):
                raise

    @retry_transient()
    def patch(self, kind: str, name: str, namespace: str | None, patch: dict[str, Any]) -> dict[str, Any]:
        return _to_dict(
            self._resource(kind).patch(
                body=patch,
                name=name,
                namespace=self._ns(kind, namespace),
                content_type="application/merge-patch+json",
            )
        )

    def events(self, namespace: str | None, kind: str, name: str) -> builtins.list[dict[str, Any]]:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        resource = self._resource("Event")
        result = _to_dict(resource.get(namespace=namespace, field_selector=selector))
        return sort_events(builtins.list(result.get("items") or []))

    def logs(
        self, namespace: str, pod: str, container: str | None = None, previous: bool = False, tail: int = 200
    ) -> str:
        kwargs: dict[str, Any] = {"tail_lines": tail, "previous": previous}
        if container:
            kwargs["container"] = container
        try:
            return str(self._core.read_namespaced_pod_log(pod, namespace, **kwargs))
        except Exception as exc:
            if previous and getattr(exc, "status", None) == 400:  # no previous container
                return ""
            raise

    def exec(
        self, namespace: str, pod: str, command: builtins.list[str], container: str | None = None
    ) -> str:
        if self._exec_stream is None:
            return self.kubectl(
                "exec", "-n", namespace, pod, *(["-c", container] if container else []), "--", *command
            )
        kwargs: dict[str, Any] = {
            "command": command,
            "stderr": True,
            "stdin": False,
            "stdout": True,
            "tty": False,
        }
        if container:
            kwargs["container"] = container
        core = self._exec_core()
        try:
            return str(self._exec_stream(core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs))
        finally:
            if core is not self._core:
                close = getattr(getattr(core, "api_client", None), "close", None)
                if callable(close):
                    close()

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return run([*self._kubectl, *args], input=input, timeout=self._timeouts.api_call * 4).stdout
