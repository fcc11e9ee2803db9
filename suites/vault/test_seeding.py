"""Quick `vault` tier: the live tier's seeding code against a real Vault API server, in seconds.

The server is a local dev process: HashiCorp `vault` when found (--vault-bin, PATH), else OpenBao's `bao`
(installed by `scripts/install-tools --set local openbao`); with neither, a Vault dev container through
testcontainers (needs a Docker engine). The product and version that really ran are recorded as the JUnit
property `vault_server` (from the server's own sys/health). Marked `vault` (the gate asks only for a Vault
server or a Docker engine) and `e2e` (the default run, `-m 'not e2e'`, deselects it).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import hvac
import pytest

from esoconf.config import load_versions
from esoconf.live.vault import DEFAULT_PLAN, SeedPlan, VaultSeeder, read_policy_hcl, seed
from esoconf.platforms.local.binaries import find_vault_server
from esoconf.platforms.local.pki import make_cluster_pki
from esoconf.platforms.local.platform import private_run_dir
from esoconf.platforms.local.processes import Supervisor
from esoconf.platforms.local.vault_server import VaultServerInfo, server_info, start_vault_dev
from esoconf.plugin import get_config
from esoconf.report_plugin import RAN
from esoconf.tools import ToolError

pytestmark = [pytest.mark.e2e, pytest.mark.vault]
SERVER_KEY = pytest.StashKey[str]()


def _local_server(binary: Path) -> Iterator[VaultServerInfo]:
    supervisor = Supervisor(private_run_dir())
    try:
        yield start_vault_dev(supervisor, binary)[1]
    finally:
        supervisor.close()


def _container_server() -> Iterator[VaultServerInfo]:
    token = secrets.token_hex(20)  # no words: the redaction layer masks any 6-character fragment of it
    try:
        from testcontainers.community.vault import VaultContainer

        container = VaultContainer(load_versions()["images"]["vault"]["upstream"], root_token=token)
        container.start()
    except Exception as exc:  # docker.errors.DockerException without an engine
        pytest.fail(
            "the vault tier needs a Vault server binary (vault or OpenBao's bao) or a Docker engine: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
            pytrace=False,
        )
    try:
        yield server_info(container.get_connection_url(), token)
    finally:
        container.stop()


@pytest.fixture(scope="module")
def vault_server(
    pytestconfig: pytest.Config, record_testsuite_property: Callable[[str, object], None]
) -> Iterator[VaultServerInfo]:
    try:
        binary, _, source = find_vault_server(get_config(pytestconfig).vault_bin)
    except ToolError:
        servers, how = _container_server(), "container"
    else:
        servers, how = _local_server(binary), f"local process, {source}"
    for info in servers:
        record_testsuite_property("vault_server", f"{info.label} ({how})")
        pytestconfig.stash[SERVER_KEY] = f"{info.label} ({how})"
        yield info


@pytest.fixture(autouse=True)
def _report_names_the_server(request: pytest.FixtureRequest, vault_server: VaultServerInfo) -> None:
    """The report's environment says which server really ran (not the pinned image tag)."""
    request.node.user_properties.append((f"{RAN}vault_server", request.config.stash[SERVER_KEY]))


@pytest.fixture(scope="module")
def vault_client(vault_server: VaultServerInfo) -> hvac.Client:
    return hvac.Client(url=vault_server.url, token=vault_server.root_token)


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> SeedPlan:
    """The default plan, for a Vault outside any cluster: an API server address and CA must be given (no
    pod service-account mount to read them from); nothing logs in here, so no API server needs to run."""
    pki = make_cluster_pki(tmp_path_factory.mktemp("pki"))
    return dataclasses.replace(
        DEFAULT_PLAN,
        kubernetes_host="https://127.0.0.1:6443",
        kubernetes_ca_cert=pki.ca_pem(),
        disable_local_ca_jwt=True,
    )


@pytest.fixture(scope="module")
def seeded(vault_client: hvac.Client, plan: SeedPlan) -> tuple[VaultSeeder, dict[str, str]]:
    seeder = VaultSeeder(vault_client)
    return seeder, seed(seeder, "vaulttier", plan).values


def test_seeded_secret_reads_back_from_kv2(seeded: tuple[VaultSeeder, dict[str, str]]) -> None:
    seeder, values = seeded
    assert seeder.read_secret(DEFAULT_PLAN.secret_path, mount=DEFAULT_PLAN.mount) == values


def test_read_policy_token_reads_the_secret_and_nothing_else(
    seeded: tuple[VaultSeeder, dict[str, str]], vault_client: hvac.Client
) -> None:
    seeder, values = seeded
    token = seeder.create_token([DEFAULT_PLAN.policy_name])
    reader = hvac.Client(url=vault_client.url, token=token)
    got = reader.secrets.kv.v2.read_secret_version(
        path="my-app/config", mount_point="kv", raise_on_deleted_version=True
    )
    assert got["data"]["data"] == values
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.sys.create_or_update_acl_policy(name="x", policy=read_policy_hcl("kv", "*"))


def test_default_policy_only_token_cannot_read(
    seeded: tuple[VaultSeeder, dict[str, str]], vault_client: hvac.Client
) -> None:
    seeder, _ = seeded
    reader = hvac.Client(url=vault_client.url, token=seeder.create_token(["default"]))
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.secrets.kv.v2.read_secret_version(path="my-app/config", mount_point="kv", raise_on_deleted_version=True)


def test_kubernetes_role_binds_the_eso_account_with_the_read_policy_and_no_audience(
    seeded: tuple[VaultSeeder, dict[str, str]], vault_client: hvac.Client
) -> None:
    role = vault_client.auth.kubernetes.read_role(DEFAULT_PLAN.role.name)
    assert role["bound_service_account_names"] == ["external-secrets"]
    # the chart-rendered store sends the API server's default audience: the role must not demand another
    assert not role.get("audience") and role["token_policies"] == [DEFAULT_PLAN.policy_name]


def test_seeding_twice_is_idempotent(seeded: tuple[VaultSeeder, dict[str, str]], plan: SeedPlan) -> None:
    seeder, values = seeded
    again = seed(seeder, "vaulttier", plan)
    assert again.values == values, "a reseed in the same run keeps the values the first seed wrote"
