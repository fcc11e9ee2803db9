"""VaultSeeder against a mocked Vault HTTP API: request paths and payloads as the Vault API defines them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import hvac
import pytest
import requests_mock

from esoconf.live.vault import (
    DEFAULT_PLAN,
    DOC_LITERAL,
    VaultSeeder,
    read_policy_hcl,
    seed,
    token_secret_manifest,
)
from esoconf.match import assert_matches
from esoconf.redact import REDACT

URL = "http://vault.test:8200"


@pytest.fixture
def api() -> Iterator[requests_mock.Mocker]:
    with requests_mock.Mocker() as mock:
        mock.get(
            f"{URL}/v1/sys/mounts", json={"data": {"secret/": {"type": "kv", "options": {"version": "2"}}}}
        )
        mock.get(f"{URL}/v1/sys/auth", json={"data": {"token/": {"type": "token"}}})
        mock.get(f"{URL}/v1/kv/metadata/my-app/config", status_code=404, json={"errors": []})
        mock.post(requests_mock.ANY, status_code=204)
        mock.put(requests_mock.ANY, status_code=204)
        mock.delete(requests_mock.ANY, status_code=204)
        mock.post(
            f"{URL}/v1/auth/token/create",
            json={"auth": {"client_token": "hvs.TESTTOKENxxxxxxxxxxxxxxxx1234"}},
        )
        yield mock


@pytest.fixture
def seeder() -> VaultSeeder:
    return VaultSeeder(hvac.Client(url=URL, token="test-root-token"))


def calls(mock: requests_mock.Mocker) -> list[tuple[str, str, Any]]:
    """(method, path, json body) of every write the seeder made."""
    return [
        (r.method, r.path, r.json() if r.body else None) for r in mock.request_history if r.method != "GET"
    ]


def test_enable_kv2_posts_the_mount_with_version_2(api: requests_mock.Mocker, seeder: VaultSeeder) -> None:
    seeder.enable_kv2("kv")
    ((method, path, body),) = calls(api)
    assert (method, path) == ("POST", "/v1/sys/mounts/kv")
    assert_matches(body, {"type": "kv", "options": {"version": "2"}}, "mount body")


def test_enable_kv2_is_idempotent_and_refuses_a_kv1_mount(
    api: requests_mock.Mocker, seeder: VaultSeeder
) -> None:
    api.get(f"{URL}/v1/sys/mounts", json={"data": {"kv/": {"type": "kv", "options": {"version": "2"}}}})
    seeder.enable_kv2("kv")
    assert calls(api) == []
    api.get(f"{URL}/v1/sys/mounts", json={"data": {"kv/": {"type": "kv", "options": {"version": "1"}}}})
    with pytest.raises(RuntimeError, match="not kv v2"):
        seeder.enable_kv2("kv")


def test_write_secret_posts_data_under_the_kv2_data_path(
    api: requests_mock.Mocker, seeder: VaultSeeder
) -> None:
    seeder.write_secret("my-app/config", {"username": "u-1234", "password": "p-secret-5678"})
    method, path, body = calls(api)[0]
    assert (method, path) == ("POST", "/v1/kv/data/my-app/config")
    assert body["data"] == {"username": "u-1234", "password": "p-secret-5678"}
    assert "p-secret-5678" not in REDACT("value p-secret-5678 leaked")


def test_delete_secret_removes_metadata_and_all_versions(
    api: requests_mock.Mocker, seeder: VaultSeeder
) -> None:
    seeder.delete_secret("my-app/config")
    assert calls(api) == [("DELETE", "/v1/kv/metadata/my-app/config", None)]


def test_policy_is_put_as_acl_policy(api: requests_mock.Mocker, seeder: VaultSeeder) -> None:
    seeder.write_policy("eso-read", read_policy_hcl("kv", "my-app/*"))
    seeder.delete_policy("eso-read")
    (put, delete) = calls(api)
    assert put[:2] == ("PUT", "/v1/sys/policies/acl/eso-read")
    assert put[2] == {"policy": 'path "kv/data/my-app/*" {\n  capabilities = ["read"]\n}\n'}
    assert delete[:2] == ("DELETE", "/v1/sys/policies/acl/eso-read")


def test_kubernetes_auth_is_enabled_and_configured_to_use_vaults_own_service_account(
    api: requests_mock.Mocker, seeder: VaultSeeder
) -> None:
    seeder.configure_kubernetes_auth()
    (enable, configure) = calls(api)
    assert enable[:2] == ("POST", "/v1/sys/auth/kubernetes") and enable[2]["type"] == "kubernetes"
    assert configure[:2] == ("POST", "/v1/auth/kubernetes/config")
    # no reviewer JWT and no CA: with disable_local_ca_jwt false Vault reads both from its pod's SA mount
    assert configure[2] == {"kubernetes_host": "https://kubernetes.default.svc", "disable_local_ca_jwt": False}


def test_role_binds_the_eso_service_account_without_an_audience(
    api: requests_mock.Mocker, seeder: VaultSeeder
) -> None:
    """The chart-rendered store has no serviceAccountRef.audiences, so ESO's token carries the API server's
    default audience; a role audience (e.g. "vault") would make Vault reject every login."""
    seeder.write_role(
        "eso-role", sa_names=["external-secrets"], sa_namespaces=["external-secrets"], policies=["eso-read"]
    )
    method, path, body = calls(api)[0]
    assert (method, path) == ("POST", "/v1/auth/kubernetes/role/eso-role")
    assert_matches(
        body,
        {
            "bound_service_account_names": ["external-secrets"],
            "bound_service_account_namespaces": ["external-secrets"],
            "token_policies": ["eso-read"],
            "token_ttl": "1h",
            "audience": "",  # sent empty: an omitted field keeps an earlier value
        },
        "role body",
    )


def test_doc_literal_role_has_only_the_default_policy(api: requests_mock.Mocker, seeder: VaultSeeder) -> None:
    role = DOC_LITERAL.role
    seeder.write_role(
        role.name,
        sa_names=list(role.sa_names),
        sa_namespaces=list(role.sa_namespaces),
        policies=list(role.policies),
        audience=role.audience,
    )
    body = calls(api)[0][2]
    assert body["token_policies"] == ["default"] and body["audience"] == ""


def test_created_token_is_returned_and_redacted(api: requests_mock.Mocker, seeder: VaultSeeder) -> None:
    token = seeder.create_token(["eso-read"], ttl="30m")
    ((method, path, body),) = calls(api)
    assert (method, path) == ("POST", "/v1/auth/token/create")
    assert_matches(body, {"policies": ["eso-read"], "ttl": "30m"}, "token create body")
    assert token not in REDACT(f"token is {token}")


def test_seed_runs_the_documented_setup_in_order(api: requests_mock.Mocker, seeder: VaultSeeder) -> None:
    result = seed(seeder, "run1")
    paths = [(m, p) for m, p, _ in calls(api)]
    assert paths == [
        ("POST", "/v1/sys/mounts/kv"),
        ("POST", "/v1/kv/data/my-app/config"),
        ("POST", "/v1/kv/metadata/my-app/config"),
        ("PUT", "/v1/sys/policies/acl/eso-read"),
        ("POST", "/v1/sys/auth/kubernetes"),
        ("POST", "/v1/auth/kubernetes/config"),
        ("POST", "/v1/sys/auth/kubernetes-other"),
        ("POST", "/v1/auth/kubernetes-other/config"),
        ("POST", "/v1/auth/kubernetes/role/eso-role"),
        ("POST", "/v1/auth/token/create"),
    ]
    assert calls(api)[-1][2]["ttl"] == "24h", "the vault-token Secret must outlive a long run"
    assert calls(api)[-2][2]["audience"] == ""
    assert set(result.values) == {"username", "password"}
    assert result.values["password"] not in repr(result) and result.token not in repr(result)


def test_token_secret_has_no_trailing_newline() -> None:
    secret = token_secret_manifest("hvs.abcdefghijklmnopqrstuvwx\n", run_id="r1")
    assert secret["stringData"] == {"token": "hvs.abcdefghijklmnopqrstuvwx"}
    assert secret["metadata"] == {
        "name": "vault-token",
        "namespace": "external-secrets",
        "labels": {"eso-conformance/run-id": "r1"},
    }


# --------------------------------------------------------------- reseeding against a stateful Vault API

CA_FILE_ERROR = "open /var/run/secrets/kubernetes.io/serviceaccount/ca.crt: no such file or directory"


class StatefulVault:
    """The Vault API calls ``seed`` makes, with Vault's (and OpenBao 2.7.2's, observed) semantics
    where they matter: a role write keeps every field it omits; ``auth/kubernetes/config`` without a CA
    from a Vault that is not in a pod answers 400."""

    def __init__(self, mock: requests_mock.Mocker, *, in_pod: bool) -> None:
        self.in_pod = in_pod
        self.mounts: dict[str, Any] = {"secret/": {"type": "kv", "options": {"version": "2"}}}
        self.auth: dict[str, Any] = {"token/": {"type": "token"}}
        self.secrets: dict[str, dict[str, str]] = {}
        self.metadata: dict[str, dict[str, str]] = {}
        self.roles: dict[str, dict[str, Any]] = {}
        self.k8s_config: dict[str, Any] | None = None
        mock.register_uri(requests_mock.ANY, re.compile(f"^{re.escape(URL)}/v1/"), text=self.answer)

    def answer(self, request: Any, context: Any) -> str:
        path, method = request.path.removeprefix("/v1/"), request.method
        body = request.json() if request.body else {}
        context.status_code = 204
        if path == "sys/mounts":
            return self.ok(context, {"data": self.mounts})
        if path == "sys/auth":
            return self.ok(context, {"data": self.auth})
        if path.startswith("sys/mounts/"):
            self.mounts[path.removeprefix("sys/mounts/") + "/"] = {"type": body["type"], "options": body.get("options")}
        elif path.startswith("sys/auth/"):
            self.auth[path.removeprefix("sys/auth/") + "/"] = {"type": body["type"]}
        elif path.startswith("kv/data/"):
            key = path.removeprefix("kv/data/")
            if method == "POST":
                self.secrets[key] = dict(body["data"])
                return self.ok(context, {"data": {"version": 1}})
            if key not in self.secrets:
                return self.error(context, 404, "")
            return self.ok(context, {"data": {"data": self.secrets[key], "metadata": {"deletion_time": ""}}})
        elif path.startswith("kv/metadata/"):
            key = path.removeprefix("kv/metadata/")
            if method == "POST":
                self.metadata[key] = dict(body.get("custom_metadata") or {})
            elif key not in self.metadata and key not in self.secrets:
                return self.error(context, 404, "")
            else:
                return self.ok(context, {"data": {"custom_metadata": self.metadata.get(key)}})
        elif path == "auth/kubernetes/config":
            if not self.in_pod and not body.get("kubernetes_ca_cert") and not body.get("disable_local_ca_jwt"):
                return self.error(context, 400, CA_FILE_ERROR)
            self.k8s_config = body
        elif path.startswith("auth/kubernetes/role/"):
            name = path.removeprefix("auth/kubernetes/role/")
            self.roles[name] = {**self.roles.get(name, {}), **body}  # omitted fields are kept
        elif path == "auth/token/create":
            return self.ok(context, {"auth": {"client_token": "hvs." + "T" * 24}})
        return ""

    @staticmethod
    def ok(context: Any, data: Any) -> str:
        context.status_code = 200
        return json.dumps(data)

    @staticmethod
    def error(context: Any, status: int, message: str) -> str:
        context.status_code = status
        return json.dumps({"errors": [message] if message else []})


def test_seed_configures_kubernetes_auth_for_a_vault_outside_the_cluster(seeder: VaultSeeder) -> None:
    """The lead's local platform: a Vault process outside the cluster, a real kube-apiserver on the host."""
    plan = replace(
        DEFAULT_PLAN,
        kubernetes_host="https://127.0.0.1:6443",
        kubernetes_ca_cert="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        token_reviewer_jwt="reviewer.jwt.value-for-the-test",
    )
    with requests_mock.Mocker() as mock:
        vault = StatefulVault(mock, in_pod=False)
        with pytest.raises(hvac.exceptions.InvalidRequest, match="serviceaccount/ca.crt"):
            seed(seeder, "run1")  # today's in-cluster default cannot work from outside
        seed(seeder, "run1", plan)
    assert vault.k8s_config == {
        "kubernetes_host": "https://127.0.0.1:6443",
        "kubernetes_ca_cert": plan.kubernetes_ca_cert,
        "token_reviewer_jwt": "reviewer.jwt.value-for-the-test",
        "disable_local_ca_jwt": False,
    }
    assert "reviewer.jwt" not in repr(plan) and "reviewer.jwt" not in REDACT("jwt reviewer.jwt.value-for-the-test")


def test_reseeding_keeps_the_runs_values_and_a_new_run_gets_new_ones(seeder: VaultSeeder) -> None:
    with requests_mock.Mocker() as mock:
        vault = StatefulVault(mock, in_pod=True)
        first = seed(seeder, "run1").values
        again = seed(seeder, "run1").values
        assert again == first == vault.secrets["my-app/config"]  # a test that read the first values stays right
        other = seed(seeder, "run2").values
    assert other["password"] != first["password"] and other == vault.secrets["my-app/config"]


def test_reseeding_writes_the_roles_full_state_and_clears_an_old_audience(seeder: VaultSeeder) -> None:
    with requests_mock.Mocker() as mock:
        vault = StatefulVault(mock, in_pod=True)
        vault.roles["eso-role"] = {"audience": "vault", "token_bound_cidrs": ["10.0.0.0/8"], "token_max_ttl": 60}
        seed(seeder, "run1")
    role = vault.roles["eso-role"]
    assert role["audience"] == "" and role["token_bound_cidrs"] == [] and role["token_max_ttl"] == 0
    assert role["token_policies"] == ["eso-read"] and role["bound_service_account_names"] == ["external-secrets"]
