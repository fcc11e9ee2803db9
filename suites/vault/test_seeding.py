"""Quick `vault` tier: the live tier's seeding code against a real Vault dev container (testcontainers).

For machines with Docker but no kind: `pytest suites/vault -m vault` runs in seconds. Marked `vault` (the
gate then asks only for a Docker engine, not kind or helm) and `e2e` (so the default run, `-m 'not e2e'`,
deselects it); without a Docker engine the gate stops the run with one line.
"""

from __future__ import annotations

from collections.abc import Iterator

import hvac
import pytest

from esoconf.config import load_versions
from esoconf.live.vault import DEFAULT_PLAN, VaultSeeder, read_policy_hcl, seed

pytestmark = [pytest.mark.e2e, pytest.mark.vault]
ROOT_TOKEN = "conformance-root-token"


@pytest.fixture(scope="module")
def vault_client() -> Iterator[hvac.Client]:
    try:
        from testcontainers.community.vault import VaultContainer

        container = VaultContainer(load_versions()["images"]["vault"]["upstream"], root_token=ROOT_TOKEN)
        container.start()
    except Exception as exc:  # docker.errors.DockerException without an engine
        pytest.fail(
            f"the vault tier needs a Docker engine: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            pytrace=False,
        )
    try:
        yield hvac.Client(url=container.get_connection_url(), token=ROOT_TOKEN)
    finally:
        container.stop()


@pytest.fixture(scope="module")
def seeded(vault_client: hvac.Client) -> tuple[VaultSeeder, dict[str, str]]:
    seeder = VaultSeeder(vault_client)
    return seeder, seed(seeder, "vaulttier").values


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
        reader.secrets.kv.v2.read_secret_version(path="my-app/config", mount_point="kv")


def test_kubernetes_role_binds_the_eso_account_with_the_read_policy_and_no_audience(
    seeded: tuple[VaultSeeder, dict[str, str]], vault_client: hvac.Client
) -> None:
    role = vault_client.auth.kubernetes.read_role(DEFAULT_PLAN.role.name)
    assert role["bound_service_account_names"] == ["external-secrets"]
    # the chart-rendered store sends the API server's default audience: the role must not demand another
    assert not role.get("audience") and role["token_policies"] == [DEFAULT_PLAN.policy_name]


def test_seeding_twice_is_idempotent(seeded: tuple[VaultSeeder, dict[str, str]]) -> None:
    seeder, _ = seeded
    seed(seeder, "again")
