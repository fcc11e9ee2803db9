"""Typed case tables of the live tier, and the doc's own shapes the cases are built from.

Every live test is a row here with a readable id (``test_sync[token-data]``,
``test_failure[missing-authz-policy]``). The shapes (store ``source``, ExternalSecret items, the Vault
role command, the label check and the token fix) are read from VAULT_INTEGRATION.md with
:mod:`esoconf.doc`, so the suite follows the document under test rather than a copy of it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from esoconf.config import ConfigError
from esoconf.doc import VaultDoc, load_doc

from .expectations import Stage
from .vault import OTHER_KUBERNETES_MOUNT

Auth = Literal["token", "kubernetes"]
Fetch = Literal["data", "dataFrom"]
AUTHS: tuple[Auth, ...] = ("token", "kubernetes")
FETCHES: tuple[Fetch, ...] = ("data", "dataFrom")

# doc sections (as the README and reports name them)
SEC_NETWORK = "Prerequisites / Network and Istio Requirements"
SEC_TOKEN = "Authentication Method: Token"
SEC_KUBERNETES = "Authentication Method: Kubernetes"
SEC_DATA = "Fetching Secrets with ExternalSecret / Using individual keys (data)"
SEC_DATAFROM = "Fetching Secrets with ExternalSecret / Using all keys from a path (dataFrom)"
SEC_TRB_503 = "Troubleshooting / ClusterSecretStore shows InvalidProviderConfig with 503"
SEC_TRB_TOKEN = "Troubleshooting / Invalid vault credentials with non-printable characters"

# the Vault package's ingress policy the doc names (Prerequisites)
VAULT_INGRESS_NETWORKPOLICY = "allow-ingress-to-vault-port-8200-from-custom-app-ingress"

# claim ids shared with the render tier (manifests/claims.yaml) and the live-only ones (claims-live.yaml)
AUTH_CLAIMS: dict[str, str] = {"token": "TOK-1", "kubernetes": "K8S-1"}
FETCH_CLAIMS: dict[str, str] = {"data": "ES-DATA-1", "dataFrom": "ES-FROM-1"}
AUTH_SECTIONS: dict[str, str] = {"token": SEC_TOKEN, "kubernetes": SEC_KUBERNETES}
FETCH_SECTIONS: dict[str, str] = {"data": SEC_DATA, "dataFrom": SEC_DATAFROM}


# --------------------------------------------------------------------------------------------------
# the doc's shapes


@dataclass(frozen=True)
class DocShapes:
    """What the doc says to apply, as data (see :meth:`from_doc`)."""

    sources: dict[str, dict[str, Any]]  # auth -> clusterSecretStoreList[0].source
    store_names: dict[str, str]  # auth -> clusterSecretStoreList[0].name
    items: dict[str, dict[str, Any]]  # fetch -> externalSecretsConfiguration.secretList[0]
    role: dict[str, Any]  # `vault write auth/<mount>/role/<name> k=v ...` as name/mount/params
    label_check: tuple[str, ...]  # the doc's `kubectl get pods ... jsonpath` argv
    token_clean: tuple[str, ...]  # the doc's `tr -d '\r\n'` argv
    token_secret: dict[str, str] = field(
        default_factory=dict
    )  # name/namespace/key of `kubectl create secret`
    authz_policy: dict[str, Any] = field(default_factory=dict)  # the doc's Vault ALLOW policy (name, spec)
    pod_labels: dict[str, Any] = field(default_factory=dict)  # Troubleshooting's `upstream.podLabels` values snippet

    @classmethod
    def from_doc(cls, doc: VaultDoc) -> DocShapes:
        def first(key: str, *path: str) -> dict[str, Any]:
            data: Any = doc.yaml(key).data
            for step in path:
                data = data[step][0] if isinstance(data.get(step), list) else data.get(step)
                if data is None:
                    raise ConfigError(
                        f"doc changed: section {key!r} has no {'.'.join(path)} entry; the suite must follow"
                    )
            return dict(data)

        ess = ("addons", "externalSecrets", "values")
        stores = {
            auth: first(auth, *ess, "clusterSecretStoreConfiguration", "clusterSecretStoreList")
            for auth in AUTHS
        }
        items: dict[str, dict[str, Any]] = {
            fetch: first(fetch, *ess, "externalSecretsConfiguration", "secretList") for fetch in FETCHES
        }
        shell = "\n".join(s.text for s in doc.shell("kubernetes-vault"))
        trouble = "\n".join(s.text for s in doc.shell("troubleshooting"))
        created = "\n".join(s.text for s in doc.shell("token-secret"))
        vault_values = doc.yaml("network").data.get("addons", {}).get("vault", {}).get("values", {})
        policies = ((vault_values.get("istio") or {}).get("hardened") or {}).get(
            "customAuthorizationPolicies"
        ) or [{}]
        return cls(
            authz_policy=dict(policies[0]),
            sources={a: s["source"] for a, s in stores.items()},
            store_names={a: s["name"] for a, s in stores.items()},
            items=items,
            role=parse_vault_write_role(shell),
            label_check=command_line(trouble, "kubectl get pods"),
            token_clean=tr_command(trouble),
            token_secret=parse_create_secret(created),
            pod_labels=dict(doc.yaml("troubleshooting").data or {}),
        )

    @classmethod
    def load(cls, path: str | Path) -> DocShapes:
        return cls.from_doc(load_doc(path))


def _unwrap(text: str) -> str:
    return re.sub(r"\\\n\s*", " ", text)


def command_line(text: str, starts: str) -> tuple[str, ...]:
    """The argv of the first line of ``text`` (continuations joined) matching regex ``starts``."""
    for line in _unwrap(text).splitlines():
        found = re.search(starts, line)
        if found:
            argv = shlex.split(line[found.start() :], posix=True)
            return tuple(a for a in argv if not a.startswith("<"))
    raise ConfigError(f"doc changed: no `{starts} ...` command found; the suite must follow")


def tr_command(text: str) -> tuple[str, ...]:
    """The doc's token clean-up, ``tr -d '<chars>'``, as an argv (it reads the token on stdin)."""
    found = re.search(r"\btr -d '([^']+)'", text)
    if not found:
        raise ConfigError("doc changed: no `tr -d '...'` token clean-up found; the suite must follow")
    return ("tr", "-d", found[1])


def parse_vault_write_role(text: str) -> dict[str, Any]:
    """``vault write auth/kubernetes/role/eso-role k=v ...`` -> {mount, name, params}."""
    argv = command_line(text, r"vault write auth/\S+/role/")
    match = re.match(r"auth/(?P<mount>.+)/role/(?P<name>[^/]+)$", argv[2])
    if not match:
        raise ConfigError(f"doc changed: {argv[2]!r} is not auth/<mount>/role/<name>; the suite must follow")
    params = dict(arg.split("=", 1) for arg in argv[3:] if "=" in arg)
    return {"mount": match["mount"], "name": match["name"], "params": params}


def parse_create_secret(text: str) -> dict[str, str]:
    """``kubectl create secret generic NAME -n NS --from-literal=KEY=...`` -> name/namespace/key."""
    argv = command_line(text, "kubectl create secret generic")
    out = {"name": argv[4]}
    for index, arg in enumerate(argv):
        if arg in {"-n", "--namespace"}:
            out["namespace"] = argv[index + 1]
        elif arg.startswith("--from-literal="):
            out["key"] = arg.split("=", 2)[1]
    return out


def role_list(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


# --------------------------------------------------------------------------------------------------
# case tables


@dataclass(frozen=True)
class SyncCase:
    """A documented path: auth method x fetch style (kubernetes auth: at the doc's mount, or at ``mount``)."""

    auth: Auth
    fetch: Fetch
    mount: str | None = None  # values' auth.mountPath when not the doc's (its own Vault mount is seeded)

    @property
    def id(self) -> str:
        return f"{self.auth}-{self.fetch}" + (f"-at-{self.mount}" if self.mount else "")

    @property
    def claims(self) -> tuple[str, ...]:
        return AUTH_CLAIMS[self.auth], FETCH_CLAIMS[self.fetch]

    @property
    def section(self) -> str:
        return f"{AUTH_SECTIONS[self.auth]} + {FETCH_SECTIONS[self.fetch]}"


SYNC_CASES: tuple[SyncCase, ...] = (
    *(SyncCase(a, f) for a in AUTHS for f in FETCHES),
    # the doc's mountPath is the CRD's default: only another mount shows the chart renders the one given
    SyncCase("kubernetes", "data", OTHER_KUBERNETES_MOUNT),
)


class Breakage(StrEnum):
    """What a failure case breaks in an otherwise documented setup (scenario.arrange applies it)."""

    NONE = "none"
    TOKEN_TRAILING_NEWLINE = "token-trailing-newline"  # Secret value = token + "\n"
    TOKEN_CARRIAGE_RETURN = "token-carriage-return"  # Secret value = token + "\r\n" (a file saved on Windows)
    TOKEN_SECRET_MISSING = "token-secret-missing"  # tokenSecretRef names a Secret that does not exist
    TOKEN_KEY_MISSING = "token-key-missing"  # the Secret exists, without the referenced key
    REFERENT_BAD_TOKEN = "referent-bad-token"  # tokenSecretRef without namespace; the token is not valid
    ROLE_NOT_BOUND = "role-not-bound"  # the Vault role binds another service account
    DEFAULT_POLICY_ONLY = "default-policy-only"  # the doc's role exactly as written: policies=default
    VAULT_KEY_MISSING = "vault-key-missing"  # remoteRef.key that Vault does not have
    PROPERTY_MISSING = "property-missing"  # remoteRef.property that the Vault secret does not have


class Fix(StrEnum):
    STRIP_TOKEN = "strip-token"  # the doc's fix: tr -d '\r\n', recreate the Secret
    BIND_READ_POLICY = "bind-read-policy"  # add a read policy on the kv data path to the role
    WRITE_VAULT_KEY = "write-vault-key"  # create the missing Vault secret


Outcome = Literal["ready", "failure", "not-applied"]


@dataclass(frozen=True)
class FailureCase:
    """A failure mode that stays inside the test's own namespace, store and Vault paths (xdist-safe)."""

    id: str
    section: str
    auth: Auth
    breakage: Breakage
    store: Outcome
    es: Outcome
    stage: Stage | None = None  # for store failures: client build or validation
    pattern: str | None = None  # expectations.PATTERNS name of the detail text
    fix: Fix | None = None
    claim: str | None = None
    fetch: Fetch = "data"
    doc_says: str | None = None  # the claim's outcome: "store-ready", "store-failure", "es-synced", ...
    note: str = ""

    @property
    def expected(self) -> str:
        """The outcome ESO really gives (``store``/``es``), in the claim's terms (store or ExternalSecret)."""
        if (self.doc_says or "").startswith("store-") or self.store == "failure":
            return f"store-{self.store}"
        return f"es-{self.es}"


# fmt: off
FAILURE_CASES: tuple[FailureCase, ...] = (
    *(FailureCase(breakage.value, SEC_TRB_TOKEN, "token", breakage, store="failure", es="not-applied",
                  stage=Stage.VALIDATE, pattern="non-printable", fix=Fix.STRIP_TOKEN, claim="TRB-4",
                  doc_says="store-failure")
      for breakage in (Breakage.TOKEN_TRAILING_NEWLINE, Breakage.TOKEN_CARRIAGE_RETURN)),
    FailureCase("k8s-auth-default-policy", SEC_KUBERNETES, "kubernetes", Breakage.DEFAULT_POLICY_ONLY,
                store="ready", es="failure", pattern="permission-denied", fix=Fix.BIND_READ_POLICY,
                claim="TRB-5", doc_says="es-synced",
                note="doc gap: policies=default grants no KV read; the store still shows Ready"),
    FailureCase("role-not-bound", SEC_KUBERNETES, "kubernetes", Breakage.ROLE_NOT_BOUND,
                store="failure", es="not-applied", stage=Stage.CLIENT, pattern="kubernetes-login-denied"),
    FailureCase("missing-vault-key", SEC_DATA, "token", Breakage.VAULT_KEY_MISSING,
                store="ready", es="failure", pattern="secret-not-found", fix=Fix.WRITE_VAULT_KEY),
    FailureCase("missing-property", SEC_DATA, "token", Breakage.PROPERTY_MISSING,
                store="ready", es="failure", pattern="property-missing"),
    FailureCase("missing-token-secret", SEC_TOKEN, "token", Breakage.TOKEN_SECRET_MISSING,
                store="failure", es="not-applied", stage=Stage.CLIENT, pattern="token-secret-missing"),
    FailureCase("missing-token-key", SEC_TOKEN, "token", Breakage.TOKEN_KEY_MISSING,
                store="failure", es="not-applied", stage=Stage.CLIENT, pattern="token-key-missing"),
    FailureCase("referent-token-no-namespace", SEC_TOKEN, "token", Breakage.REFERENT_BAD_TOKEN,
                store="ready", es="failure", pattern="permission-denied", claim="TOK-NS-1",
                doc_says="store-ready",
                note="trap: a ClusterSecretStore token ref without namespace is never validated"),
)
# fmt: on


class Change(StrEnum):
    """Shared-state changes of the troubleshooting cases (serial)."""

    REMOVE_AUTHZ_POLICY = "remove-authz-policy"
    SECOND_ESO_WITHOUT_LABEL = "second-eso-without-label"
    NETWORK_POLICIES_DISABLED = "network-policies-disabled"


@dataclass(frozen=True)
class TroubleshootingCase:
    """A Troubleshooting cause: change shared state, observe the store, judge the doc's claim."""

    id: str
    section: str
    change: Change
    store: Outcome  # what ESO really does (its store controller's rules); a different outcome fails the gate
    pattern: str | None  # detail expected when the store fails
    claim: str
    claim_says: Outcome  # what the doc says the store does
    doc_class: str | None = "connection failure"  # the failure class the doc's symptom belongs to (the verdict)
    doc_wording: str | None = "doc-503"  # pattern of the doc's quoted words: a labelled wording check only
    primary_untouched: bool = True  # the primary install's synced secret must stay Ready meanwhile
    needs_netpol: bool = False  # the verdict means something only where the CNI enforces NetworkPolicy
    fix_claim: str = ""  # a claim the documented fix (removing the cause) proves, judged by the same test
    # the change touches what every test shares (the primary ESO release, Vault's AuthorizationPolicy): the case
    # runs beside no other live test (`serial`); a change inside the test's own namespace runs beside others
    shared: bool = True
    note: str = ""
    # what a platform must show for the case (esoconf.live.capabilities): the label and the policies are
    # observed as traffic without a mesh (the node platform); only the AuthorizationPolicy needs Istio
    needs: tuple[str, ...] = ("network-policy", "pods", "vault-package")


TROUBLESHOOTING_CASES: tuple[TroubleshootingCase, ...] = (
    TroubleshootingCase(
        "missing-authz-policy",
        SEC_TRB_503,
        Change.REMOVE_AUTHZ_POLICY,
        store="failure",
        pattern="unreachable|istio-rbac-denied",
        claim="TRB-1",
        claim_says="failure",
        primary_untouched=False,
        note="with plain-HTTP Vault (the package's tlsDisable) the sidecar denies with 403 'RBAC: access denied'",
        needs=("network-policy", "mesh", "vault-package"),
    ),
    TroubleshootingCase(
        "missing-vault-ingress-label",
        SEC_TRB_503,
        Change.SECOND_ESO_WITHOUT_LABEL,
        store="failure",
        pattern="unreachable",
        claim="TRB-2",
        claim_says="failure",
        needs_netpol=True,
        fix_claim="LBL-2",
        shared=False,  # its own ESO release and controller class in the test's namespace, as test_second_install
        note="second ESO install (controllerClass) without the label, fixed by the doc's upstream.podLabels "
             "snippet (a helm upgrade of that release); primary untouched",
    ),
    TroubleshootingCase(
        "network-policies-disabled",
        SEC_TRB_503,
        Change.NETWORK_POLICIES_DISABLED,
        store="ready",
        pattern=None,
        claim="TRB-3",
        claim_says="failure",
        doc_wording=None,
        needs_netpol=True,
        note="no ESO NetworkPolicy means no egress restriction at all",
    ),
)


# --------------------------------------------------------------------------------------------------
# prerequisites and lifecycle (ids only; the checks are in the suites)


@dataclass(frozen=True)
class PrerequisiteCase:
    id: str
    section: str
    claim: str


PREREQUISITE_CASES: tuple[PrerequisiteCase, ...] = (
    PrerequisiteCase("eso-pods-vault-ingress-label", SEC_TRB_503, "LBL-1"),
    PrerequisiteCase("allow-egress-vault", SEC_NETWORK, "NET-1"),
    PrerequisiteCase("vault-ingress-networkpolicy", SEC_NETWORK, "VLT-NP-1"),
    PrerequisiteCase("vault-allow-authorization-policy", SEC_NETWORK, "VLT-AP-1"),
    PrerequisiteCase("eso-reaches-vault-through-mesh", SEC_NETWORK, "MESH-1"),
)

ALL_CLAIMS_USED: frozenset[str] = frozenset(
    [c for s in SYNC_CASES for c in s.claims]
    + [c.claim for c in FAILURE_CASES if c.claim]
    + [c.claim for c in TROUBLESHOOTING_CASES]
    + [c.claim for c in PREREQUISITE_CASES]
)


def ids(cases: Iterable[Any]) -> list[str]:
    return [c.id for c in cases]
