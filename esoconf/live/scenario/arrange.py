"""Arrange: seed Vault and create the doc's store (broken as a case says) for one test."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping
from typing import Any

from esoconf.redact import REDACT

from ..cases import Auth, Breakage, Fetch, role_list
from .core import ScenarioCore, World
from .manifests import (
    CSS,
    ES,
    SS,
    Ref,
    expected_data,
    external_secret_manifest,
    random_value,
    secret_manifest,
    store_manifest,
)

EXTRA_VAULT_KEY = "extra"  # a key the doc's `data` example does not pick, so data and dataFrom differ


class Arranging(ScenarioCore):
    """Arrange the doc's setup for one case: Vault data and policy, the token Secret or role, the store."""

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
        expected = expected_data(es_manifest["spec"], vault_data)
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

