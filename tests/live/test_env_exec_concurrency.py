"""An exec and API calls at the same time, against a local HTTP server speaking the Kubernetes API.

The live platform runs the NetworkPolicy canary's exec in a thread next to the Vault and ESO bring-ups, which
poll ``Kube.list``. ``kubernetes.stream.stream`` swaps its ApiClient's ``call_api`` for a websocket for the
whole exec; on a shared client every concurrent list then fails its websocket handshake ("Handshake status
200 OK"). The server here holds the exec open until lists made meanwhile have been answered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from esoconf.live.kube import Kube
from esoconf.wait import Timeouts

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DISCOVERY = {
    "/version": {"major": "1", "minor": "33", "gitVersion": "v1.33.4"},
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["get", "list"]},
            {"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions",
             "verbs": ["create", "get"]},
        ],
    },
}
POD_LIST = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [
    {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "canary-client", "namespace": "canary"}}]}


class FakeApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.exec_open = threading.Event()  # the exec's websocket is up
        self.release_exec = threading.Event()  # the test's lists are done: finish the exec
        self.list_requests = 0


class Handler(BaseHTTPRequestHandler):
    server: FakeApiServer

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path.endswith("/exec") and self.headers.get("Upgrade", "").lower() == "websocket":
            self._exec()
            return
        body = DISCOVERY.get(path)
        if path == "/api/v1/namespaces/canary/pods":
            self.server.list_requests += 1
            body = POD_LIST
        # a websocket upgrade of any other URL gets a plain 200, as the API server answers it
        self._json(200, body) if body is not None else self._json(404, {"kind": "Status", "code": 404})

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _exec(self) -> None:
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        self.end_headers()
        self.wfile.flush()
        self.server.exec_open.set()
        self.server.release_exec.wait(timeout=10)
        self.wfile.write(_frame(0x2, b"\x01CONNECTED\n"))  # channel 1: stdout
        self.wfile.write(_frame(0x8, b"\x03\xe8"))  # close, normal
        self.wfile.flush()
        self.close_connection = True


def _frame(opcode: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[tuple[FakeApiServer, Path]]:
    server = FakeApiServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    url = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [{"name": "local", "cluster": {"server": url}}],
        "users": [{"name": "local", "user": {}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
    }))
    try:
        yield server, kubeconfig
    finally:
        server.release_exec.set()
        server.shutdown()
        server.server_close()


def test_lists_during_an_exec_succeed(api_server: tuple[FakeApiServer, Path]) -> None:
    server, kubeconfig = api_server
    kube = Kube.connect(str(kubeconfig), None, ["kubectl"], Timeouts(scale=0.1))
    outcome: dict[str, object] = {}

    def do_exec() -> None:
        try:
            outcome["exec"] = kube.exec("canary", "canary-client", ["sh", "-c", "true"])
        except Exception as exc:  # reported below, with the lists' outcome
            outcome["exec"] = exc

    exec_thread = threading.Thread(target=do_exec)
    exec_thread.start()
    try:
        assert server.exec_open.wait(timeout=10), "the exec never reached the server"
        lists = [kube.list("Pod", "canary") for _ in range(3)]  # while the exec's websocket is open
    finally:
        server.release_exec.set()
        exec_thread.join(timeout=15)
    assert [[p["metadata"]["name"] for p in pods] for pods in lists] == [["canary-client"]] * 3
    assert server.list_requests == 3
    assert outcome["exec"] == "CONNECTED\n", str(outcome["exec"])
    # and the shared client is intact afterwards
    assert kube.list("Pod", "canary")[0]["metadata"]["name"] == "canary-client"
