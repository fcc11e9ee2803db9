"""Vault seeding with hvac (``VaultSeeder``), shared by every platform (the Big Bang Vault package install is
the in-cluster platform's: :mod:`esoconf.platforms.incluster.vault`).

Seeding follows the doc plus the fixes the doc needs to work in-cluster (the doc's own commands are written for
an external Vault):
KV v2 enabled at ``kv`` (dev mode only has ``secret/``), a read policy (``default`` grants no KV read),
Kubernetes auth with ``kubernetes_host=https://kubernetes.default.svc`` and no reviewer JWT (Vault's own
service account reviews tokens through ``system:auth-delegator``), and a role bound to the ESO service account
*without* an audience: the doc's kubernetes-auth store is rendered by the package chart, which cannot set
``serviceAccountRef.audiences``, so ESO's TokenRequest carries the API server's default audience; a role
``audience`` (e.g. ``vault``) would make Vault reject every login ("invalid audience"). Vault 1.21 only logs a
warning for a role without an audience (vault-plugin-auth-kubernetes ``parseAndValidateJWT``).
The doc-literal variants stay available in ``DOC_LITERAL`` for the failure-mode suite.

Every value written and every token created is registered with ``REDACT`` before anything can print it.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..redact import REDACT
from ..wait import retry_transient

if TYPE_CHECKING:  # pragma: no cover
    import hvac

# dev-mode root token (manifests/live/vault-values.yaml). Distinctive (so redacting it mangles nothing else),
# fixed (so a reused platform and every xdist worker know it) and redacted from the moment this is imported.
DEV_ROOT_TOKEN = "eso-conformance-dev-root-token"
REDACT.add(DEV_ROOT_TOKEN, exact=True)  # a public constant: its fragments ("conformance") are not secret
KUBERNETES_HOST_IN_CLUSTER = "https://kubernetes.default.svc"
RUN_ID_METADATA = "eso-conformance-run-id"  # KV v2 custom metadata: the run whose values the secret holds
OTHER_KUBERNETES_MOUNT = "kubernetes-other"  # a kubernetes auth mount that is not the CRD's default mountPath


def read_policy_hcl(mount: str, path_glob: str) -> str:
    """Read policy on the KV v2 *data* path (``kv``, ``my-app/*`` -> ``kv/data/my-app/*``)."""
    mount = mount.strip("/")
    path_glob = path_glob.strip("/")
    return f'path "{mount}/data/{path_glob}" {{\n  capabilities = ["read"]\n}}\n'


class VaultSeeder:
    """The Vault calls the suites need; idempotent where the API allows it."""

    def __init__(self, client: hvac.Client, *, ensure: Callable[[], None] | None = None) -> None:
        """``ensure``: called before every Vault call (the platform's port-forward restarts itself there
        if it died, e.g. after the Vault pod restarted)."""
        self._client = client
        self._ensure = ensure
        if getattr(client, "token", None):
            REDACT.add(client.token)

    @property
    def client(self) -> hvac.Client:
        if self._ensure is not None:
            self._ensure()
        return self._client

    @retry_transient()
    def enable_kv2(self, mount: str = "kv") -> None:
        mounts = self.client.sys.list_mounted_secrets_engines()
        existing = _mount_entry(mounts, mount)
        if existing is not None:
            version = str((existing.get("options") or {}).get("version", "1"))
            if existing.get("type") != "kv" or version != "2":
                raise RuntimeError(
                    f"Vault mount {mount}/ exists as {existing.get('type')} v{version}, "
                    f"not kv v2; disable it or pick another mount"
                )
            return
        self.client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})

    @retry_transient()
    def write_secret(self, path: str, data: dict[str, str], mount: str = "kv") -> None:
        REDACT.add_all(data.values())
        self.client.secrets.kv.v2.create_or_update_secret(path=path, secret=dict(data), mount_point=mount)

    @retry_transient()
    def read_secret(self, path: str, mount: str = "kv") -> dict[str, str]:
        response = self.client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=mount, raise_on_deleted_version=True
        )
        data = {str(k): str(v) for k, v in response["data"]["data"].items()}
        REDACT.add_all(data.values())
        return data

    @retry_transient()
    def delete_secret(self, path: str, mount: str = "kv") -> None:
        self.client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=mount)

    @retry_transient()
    def write_policy(self, name: str, hcl: str) -> None:
        self.client.sys.create_or_update_acl_policy(name=name, policy=hcl)

    @retry_transient()
    def delete_policy(self, name: str) -> None:
        self.client.sys.delete_acl_policy(name=name)

    @retry_transient()
    def configure_kubernetes_auth(
        self,
        mount: str = "kubernetes",
        host: str = KUBERNETES_HOST_IN_CLUSTER,
        *,
        ca_cert: str | None = None,
        reviewer_jwt: str | None = None,
        disable_local_ca_jwt: bool = False,
    ) -> None:
        """Defaults: Vault in a pod (no CA, no reviewer JWT: with ``disable_local_ca_jwt=false``, sent
        explicitly, Vault reads its own service account token and CA from the projected SA mount). A Vault
        outside the cluster has no such mount: without ``ca_cert`` it answers 400 ``open
        /var/run/secrets/kubernetes.io/serviceaccount/ca.crt``; without ``reviewer_jwt`` it reviews each
        login with the client's own JWT."""
        methods = self.client.sys.list_auth_methods()
        if _mount_entry(methods, mount) is None:
            self.client.sys.enable_auth_method("kubernetes", path=mount)
        REDACT.add(reviewer_jwt)
        self.client.auth.kubernetes.configure(
            kubernetes_host=host,
            kubernetes_ca_cert=ca_cert,
            token_reviewer_jwt=reviewer_jwt,
            mount_point=mount,
            disable_local_ca_jwt=disable_local_ca_jwt,
        )

    @retry_transient()
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
        """The role's full desired state: Vault keeps every field a write omits, so a reseed over a role with
        ``audience=vault`` (or bound CIDRs, a max TTL, ...) would keep it. ``audience=None`` writes an empty
        audience (see the module docstring: the chart-rendered store has none). The ``token_*`` names also
        clear the legacy ``policies``/``ttl``/``max_ttl``/``period`` fields."""
        self.client.adapter.post(
            f"/v1/auth/{mount.strip('/')}/role/{name}",
            json={
                "bound_service_account_names": list(sa_names),
                "bound_service_account_namespaces": list(sa_namespaces),
                "bound_service_account_namespace_selector": "",
                "audience": audience or "",
                "token_policies": list(policies),
                "token_ttl": ttl,
                "token_max_ttl": 0,
                "token_explicit_max_ttl": 0,
                "token_period": 0,
                "token_num_uses": 0,
                "token_bound_cidrs": [],
                "token_no_default_policy": False,
                "token_strictly_bind_ip": False,
                "token_type": "default",
            },
        )

    @retry_transient()
    def secret_run_id(self, path: str, mount: str = "kv") -> str | None:
        """The run that seeded ``path`` (KV v2 custom metadata), None when absent."""
        import hvac.exceptions

        try:
            response = self.client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)
        except hvac.exceptions.InvalidPath:
            return None
        custom = (response.get("data") or {}).get("custom_metadata") or {}
        return custom.get(RUN_ID_METADATA)

    @retry_transient()
    def tag_secret(self, path: str, run_id: str, mount: str = "kv") -> None:
        self.client.secrets.kv.v2.update_metadata(
            path=path, custom_metadata={RUN_ID_METADATA: run_id}, mount_point=mount
        )

    @retry_transient()
    def delete_role(self, name: str, mount: str = "kubernetes") -> None:
        self.client.auth.kubernetes.delete_role(name=name, mount_point=mount)

    @retry_transient()
    def create_token(self, policies: list[str], ttl: str = "1h") -> str:
        response = self.client.auth.token.create(policies=list(policies), ttl=ttl)
        token = str(response["auth"]["client_token"])
        REDACT.add(token)
        return token


def _mount_entry(listing: Any, mount: str) -> dict[str, Any] | None:
    """hvac returns mounts either at the top level or under ``data`` (``{"kv/": {...}}``)."""
    if not isinstance(listing, Mapping):
        return None
    inner = listing.get("data")
    table: Mapping[str, Any] = inner if isinstance(inner, Mapping) else listing
    entry = table.get(mount.strip("/") + "/")
    return dict(entry) if isinstance(entry, Mapping) else None


# --- the documented setup ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleSpec:
    name: str
    policies: tuple[str, ...]
    sa_names: tuple[str, ...] = ("external-secrets",)
    sa_namespaces: tuple[str, ...] = ("external-secrets",)
    audience: str | None = None  # the chart-rendered store cannot send one (module docstring)
    ttl: str = "1h"


@dataclass(frozen=True)
class SeedPlan:
    """What the platform seeds once per run (the doc's names, working values)."""

    mount: str = "kv"
    secret_path: str = "my-app/config"
    policy_name: str = "eso-read"
    policy_glob: str = "my-app/*"
    auth_mount: str = "kubernetes"
    # kubernetes auth also enabled at these mounts (configured the same way): a case whose values name another
    # mountPath shows the chart renders the one given (the doc's equals the CRD's default, so it cannot)
    other_auth_mounts: tuple[str, ...] = (OTHER_KUBERNETES_MOUNT,)
    role: RoleSpec = RoleSpec("eso-role", ("eso-read",))
    token_secret_name: str = "vault-token"
    token_secret_namespace: str = "external-secrets"
    token_secret_key: str = "token"
    # the `vault-token` Secret's token outlives a long nightly run (dev mode's max TTL is 768h)
    token_ttl: str = "24h"
    # Kubernetes auth config; the defaults are for a Vault inside the cluster (in a pod). A Vault elsewhere
    # (a local process, a container) needs the API server's URL and CA, and a reviewer JWT unless the
    # logging-in service accounts may review tokens themselves.
    kubernetes_host: str = KUBERNETES_HOST_IN_CLUSTER
    kubernetes_ca_cert: str | None = field(default=None, repr=False)
    token_reviewer_jwt: str | None = field(default=None, repr=False)
    disable_local_ca_jwt: bool = False


DEFAULT_PLAN = SeedPlan()


@dataclass(frozen=True)
class DocLiteral:
    """The doc's literal Vault settings (they do not work as written; the failure suite proves it)."""

    role: RoleSpec = RoleSpec("eso-role", ("default",), audience=None)
    kubernetes_host_example: str = "https://192.168.99.100"


DOC_LITERAL = DocLiteral()


@dataclass
class SeedResult:
    values: dict[str, str]
    token: str = field(repr=False)
    plan: SeedPlan

    def __repr__(self) -> str:  # never show values or the token
        return f"SeedResult(path={self.plan.mount}/{self.plan.secret_path}, keys={sorted(self.values)})"


def random_secret_values() -> dict[str, str]:
    """Random values for ``my-app/config`` (registered with REDACT by ``write_secret``). Nothing public
    in them (no run id, no words): the redactor masks any fragment of them of 6 characters or more."""
    return {"username": f"u{secrets.token_hex(8)}", "password": secrets.token_urlsafe(24)}


def seed_values(seeder: VaultSeeder, run_id: str, plan: SeedPlan) -> dict[str, str]:
    """The run's values: those already seeded for ``run_id`` (a reseed keeps them, so whatever read them
    stays right), else new random ones, tagged with the run id."""
    if seeder.secret_run_id(plan.secret_path, mount=plan.mount) == run_id:
        import hvac.exceptions

        with contextlib.suppress(hvac.exceptions.InvalidPath):  # tagged, but its version deleted: seed afresh
            existing = seeder.read_secret(plan.secret_path, mount=plan.mount)
            if set(existing) == {"username", "password"}:
                return existing
    values = random_secret_values()
    seeder.write_secret(plan.secret_path, values, mount=plan.mount)
    seeder.tag_secret(plan.secret_path, run_id, mount=plan.mount)
    return values


def seed(seeder: VaultSeeder, run_id: str, plan: SeedPlan | None = None) -> SeedResult:
    """The documented Vault setup, made to work in-cluster. Returns the values and a token for the Secret.

    Idempotent for a run: a reseed with the same ``run_id`` keeps the values and rewrites the policy, the
    Kubernetes auth config and the role to their full desired state."""
    plan = plan or DEFAULT_PLAN
    seeder.enable_kv2(plan.mount)
    values = seed_values(seeder, run_id, plan)
    seeder.write_policy(plan.policy_name, read_policy_hcl(plan.mount, plan.policy_glob))
    for mount in (plan.auth_mount, *plan.other_auth_mounts):
        seeder.configure_kubernetes_auth(
            mount,
            plan.kubernetes_host,
            ca_cert=plan.kubernetes_ca_cert,
            reviewer_jwt=plan.token_reviewer_jwt,
            disable_local_ca_jwt=plan.disable_local_ca_jwt,
        )
    role = plan.role
    seeder.write_role(
        role.name,
        mount=plan.auth_mount,
        sa_names=list(role.sa_names),
        sa_namespaces=list(role.sa_namespaces),
        policies=list(role.policies),
        audience=role.audience,
        ttl=role.ttl,
    )
    token = seeder.create_token([plan.policy_name], ttl=plan.token_ttl)
    return SeedResult(values, token, plan)


def token_secret_manifest(
    token: str,
    *,
    name: str = "vault-token",
    namespace: str = "external-secrets",
    key: str = "token",
    run_id: str | None = None,
) -> dict[str, Any]:
    """The doc's ``vault-token`` Secret; the token is written without a trailing newline."""
    REDACT.add(token)
    labels = {"eso-conformance/run-id": run_id} if run_id else {}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "stringData": {key: token.rstrip("\r\n")},
    }
