"""Arrange: seed Vault, render the chart under test with the case's values (isolated and broken as the case says)
and apply the ClusterSecretStore it renders; every change made to run it is recorded in ``World.rewrites``."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping
from typing import Any

from esoconf.adapter import deep_merge
from esoconf.eso_objects import (
    CSS,
    ES,
    SS,
    CaseIsolation,
    Ref,
    Rewrites,
    StoreChange,
    case_values,
    change_external_secret,
    change_store,
    describe_store,
    expected_data,
    external_secrets_writing,
    stores_named,
)
from esoconf.redact import REDACT

from ..cases import Auth, Breakage, Fetch, role_list
from .core import SHORT_ES_REFRESH, SHORT_STORE_REFRESH_SECONDS, ScenarioCore, World
from .manifests import random_value, secret_manifest

EXTRA_VAULT_KEY = "extra"  # a key the doc's `data` example does not pick, so data and dataFrom differ


class ChartRenderedNothing(AssertionError):
    """The chart under test did not render the store or ExternalSecret the case's values ask for."""


class Arranging(ScenarioCore):
    """Arrange the doc's setup for one case: Vault data and policy, the token Secret or role, the store."""

    # ---- the chart's objects for a case -----------------------------------------------------------
    def case_values(self, auth: Auth, fetch: Fetch, breakage: Breakage, how: CaseIsolation, rewrites: Rewrites,
                    mount: str | None = None) -> dict[str, Any]:
        """The values the chart under test renders a case's store and ExternalSecret from: the release's values
        plus the doc's store (``auth``) and ExternalSecret (``fetch``), broken as ``breakage`` says, with
        ``mount`` as the kubernetes auth mountPath when the case varies it, isolated as ``how`` says."""
        store: dict[str, Any] = {"name": self.shapes.store_names[auth],
                                 "source": copy.deepcopy(self.shapes.sources[auth])}
        item = copy.deepcopy(self.shapes.items[fetch])
        if mount:
            rewrites.set(store, "source.auth.mountPath", mount, add=True,
                         where="values (the case's own) clusterSecretStoreConfiguration.clusterSecretStoreList[0]")
        if breakage is Breakage.REFERENT_BAD_TOKEN:
            store["source"].get("auth", {}).pop("namespace", None)
        if breakage is Breakage.PROPERTY_MISSING:
            item["secrets"]["data"][0]["remoteRef"]["property"] = "no-such-property"
        return deep_merge(self.platform.eso_values(), case_values(store, item, how, rewrites))

    def rendered_pair(self, values: Mapping[str, Any], store_name: str, target: str) -> tuple[dict[str, Any],
                                                                                          dict[str, Any]]:
        """The store and the ExternalSecret (writing ``target`` in the test's namespace) the chart renders."""
        __tracebackhide__ = True
        objects = self.platform.render_eso(dict(values))
        stores = stores_named(objects, store_name)
        found = external_secrets_writing(objects, target, self.namespace)
        if len(stores) != 1 or len(found) != 1:
            shown = sorted(f"{o.get('kind')}/{(o.get('metadata') or {}).get('name')}" for o in objects
                           if o.get("kind") in (CSS, SS, ES))
            raise ChartRenderedNothing(
                f"from the case's values the chart under test rendered {len(stores)} ClusterSecretStore "
                f"{store_name!r} and {len(found)} ExternalSecret writing {self.namespace}/{target} (ESO objects "
                f"rendered: {', '.join(shown) or 'none'})")
        return stores[0], found[0]

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
        refresh: bool = False,
        mount: str | None = None,
    ) -> World:
        """Seed Vault, render the chart with the doc's values for ``auth``/``fetch`` (isolated for this test,
        broken as ``breakage`` says) and apply the rendered store.

        ``refresh``: the case waits for a refresh, so the ExternalSecret refreshes on a short interval (a value)
        and the store revalidates (the rendered store; the chart renders no interval). The ExternalSecret is
        applied by :meth:`apply_es` once the store is Ready (applied earlier, it fails on the flood gate and
        ESO backs off)."""
        self.arranged += 1
        tag = "" if self.arranged == 1 else f"w{self.arranged}"  # several worlds in one namespace
        prefix = f"{self.namespace}/{tag}" if tag else self.namespace
        item = self.shapes.items[fetch]
        vault_key = f"{prefix}/{_first_key(item)}"
        vault_data = self._vault_values(item)
        if breakage is not Breakage.VAULT_KEY_MISSING:
            self.vault.write_secret(vault_key, vault_data, mount=self.mount)
        kv = self.mount
        self.cleanups.append(lambda: self.vault.delete_secret(vault_key, mount=kv))  # a fix may write it
        policy = self.unique("eso-read", tag)
        self.vault.write_policy(policy, self.policy_hcl(self.mount, f"{prefix}/*"))
        self.cleanups.append(lambda: self.vault.delete_policy(policy))

        source = self.shapes.sources[auth]
        world_token: Ref | None = None
        raw_token = ""
        role = None
        secret_name = None
        if auth == "token":
            secret_name = f"{source['auth']['secretName']}-{tag}" if tag else str(source["auth"]["secretName"])
            world_token, raw_token = self._token_secret(source, secret_name, [policy], breakage)
        else:
            role = self._role(policy, breakage, tag, mount)
        name = self.unique(self.shapes.store_names[auth], tag)
        target = f"{(item.get('secrets') or {}).get('targetName') or 'default-k8s'}{'-' + tag if tag else ''}"
        rewrites = Rewrites()
        how = CaseIsolation(store_name=name, server=self.platform.vault_url, namespace=self.namespace,
                            key_prefix=prefix, token_secret=secret_name, role=role, tag=tag,
                            es_refresh=SHORT_ES_REFRESH if refresh else None)
        values = self.case_values(auth, fetch, breakage, how, rewrites, mount)
        rendered_store, rendered_es = self.rendered_pair(values, name, target)
        namespace = self.namespace if store_kind == SS else None
        store = Ref(store_kind, name, namespace)
        manifest = change_store(rendered_store, StoreChange(
            kind=store_kind, namespace=namespace, controller=controller,
            refresh_interval=SHORT_STORE_REFRESH_SECONDS if refresh else None), rewrites)
        if apply_store:
            self.apply(manifest)
        es_manifest = change_external_secret(rendered_es, store, rewrites)
        expected = expected_data(item.get("secrets") or {}, vault_data)  # what the doc promises
        es = Ref(ES, es_manifest["metadata"]["name"], self.namespace)
        self.rewrites.extend(rewrites.lines)
        self.notes.append(f"applied {describe_store(manifest)}")
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
            rewrites.lines,
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
        self, source: Mapping[str, Any], name: str, policies: list[str], breakage: Breakage
    ) -> tuple[Ref | None, str]:
        """The doc's ``vault-token`` Secret, made as ``name`` in the test's namespace (the values name it)."""
        auth = source["auth"]
        if breakage is Breakage.REFERENT_BAD_TOKEN:
            token = f"hvs.{secrets.token_hex(14)}"  # well-formed, unknown to Vault
            REDACT.add(token)
        else:
            token = self.vault.create_token(policies)
        raw = token + _TOKEN_SUFFIX.get(breakage, "")
        if breakage is Breakage.TOKEN_SECRET_MISSING:
            return None, raw  # the store names a Secret nobody created
        key = auth["key"] if breakage is not Breakage.TOKEN_KEY_MISSING else f"not-{auth['key']}"
        self.apply(secret_manifest(name, self.namespace, {key: raw}))
        return Ref("Secret", name, self.namespace), raw

    def _role(self, policy: str, breakage: Breakage, tag: str, mount: str | None = None) -> str:
        """The doc's ``vault write auth/<mount>/role/<name>``, under a per-test name (the values name it),
        binding the doc's service accounts and namespaces."""
        doc_role = self.shapes.role
        params = doc_role["params"]
        name = self.unique(doc_role["name"], tag)
        at = mount or doc_role["mount"]
        sa_names = role_list(params.get("bound_service_account_names", ""))
        if breakage is Breakage.ROLE_NOT_BOUND:
            sa_names = [f"not-{n}" for n in sa_names]
        policies = role_list(params.get("policies", "default"))
        if breakage is not Breakage.DEFAULT_POLICY_ONLY:
            policies = [*policies, policy]
        self.vault.write_role(
            name,
            mount=at,
            sa_names=sa_names,
            sa_namespaces=role_list(params.get("bound_service_account_namespaces", "")),
            policies=policies,
            audience=None,
            ttl=params.get("ttl", "1h"),
        )
        self.cleanups.append(lambda: self.vault.delete_role(name, mount=at))
        return name


def _first_key(item: Mapping[str, Any]) -> str:
    secrets_ = item.get("secrets") or {}
    for entry in secrets_.get("data") or []:
        return str(entry["remoteRef"]["key"])
    for entry in secrets_.get("dataFrom") or []:
        return str(entry["extract"]["key"])
    raise ValueError("doc ExternalSecret item has neither data nor dataFrom.extract")


_TOKEN_SUFFIX = {Breakage.TOKEN_TRAILING_NEWLINE: "\n", Breakage.TOKEN_CARRIAGE_RETURN: "\r\n"}
