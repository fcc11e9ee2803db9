"""Fix: the documented fixes of a failure case, a new Vault value, and the shared-state changes of the serial
Troubleshooting cases (the Vault AuthorizationPolicy, the ESO release), each verified in effect and restored."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from esoconf.adapter import deep_merge
from esoconf.config import is_remote_chart
from esoconf.eso_objects import expected_data
from esoconf.match import Contains, matches
from esoconf.redact import REDACT
from esoconf.runner import run
from esoconf.wait import wait_for

from ..capabilities import MESH
from ..cases import Change, Fix, role_list
from .core import TRANSIENT, ScenarioCore, World
from .manifests import HELM_RELEASE_MAX, allow_policy_manifest, random_value, second_eso_values, secret_manifest
from .observe import has_sidecar

VAULT_INGRESS_LABEL = "vault-ingress"  # the pod label Vault's ingress NetworkPolicy admits
ESO_EGRESS_POLICY = "allow-egress-vault"  # the package's egress NetworkPolicy the doc names
ESO_DENY_ALL_POLICY = "default-deny-all"  # the package's deny-all (networkPolicies.enabled)


class Fixing(ScenarioCore):
    """Fixes and changes: the doc's fixes, a new Vault value, shared-state changes verified and restored."""

    def fix(self, world: World, fix: Fix) -> None:
        """Apply the fix, then force a resync of what it repairs."""
        if fix is Fix.STRIP_TOKEN:
            self.recreate_token_secret(world, doc_token_clean(world.raw_token, self.shapes.token_clean))
            self.force_sync(world.store)
        elif fix is Fix.BIND_READ_POLICY:
            params = self.shapes.role["params"]
            self.vault.write_role(
                world.role or "",
                mount=self.shapes.role["mount"],
                sa_names=role_list(params.get("bound_service_account_names", "")),
                sa_namespaces=role_list(params.get("bound_service_account_namespaces", "")),
                policies=[*role_list(params.get("policies", "default")), world.policy],
                audience=None,
                ttl=params.get("ttl", "1h"),
            )
            self.force_sync(world.es)
        elif fix is Fix.WRITE_VAULT_KEY:
            self.vault.write_secret(world.vault_key, world.vault_data, mount=self.mount)
            self.force_sync(world.es)

    def recreate_token_secret(self, world: World, token: str) -> None:
        """The doc's fix: delete the Secret and create it again with the cleaned token."""
        assert world.token_secret is not None, "this case has no token Secret"
        ref = world.token_secret
        key = self.shapes.sources["token"]["auth"]["key"]
        self.kube.delete("Secret", ref.name, ref.namespace, wait=True)
        self.apply(secret_manifest(ref.name, self.namespace, {key: token}))

    def change_vault_value(self, world: World) -> dict[str, str]:
        """Write new values to the same Vault key; returns what the Secret must now hold."""
        world.vault_data = {k: random_value() for k in world.vault_data}
        REDACT.add(*world.vault_data.values())
        self.vault.write_secret(world.vault_key, world.vault_data, mount=self.mount)
        world.expected = expected_data(self.shapes.items[world.fetch].get("secrets") or {}, world.vault_data)
        return world.expected

    # ---- shared-state changes (serial tests) ------------------------------------------------------
    @contextlib.contextmanager
    def previous_release(self, chart: str, version: str) -> Iterator[Callable[[], None]]:
        """Install ``chart`` at ``version`` over the candidate; yields ``upgrade()`` back to the candidate.
        The candidate is restored on the way out if the test did not get that far."""
        self.platform.upgrade_eso(chart=chart, version=version)
        done: list[bool] = []

        def upgrade() -> None:
            done.append(True)
            self.platform.upgrade_eso()

        try:
            yield upgrade
        finally:
            if not done:
                self.platform.upgrade_eso()

    def changed(self, change: Change) -> contextlib.AbstractContextManager[SharedChange]:
        """The shared-state change of a Troubleshooting case, verified in effect on entry and verified
        restored on exit; yields a :class:`SharedChange` (controller class, ``undo()`` in place)."""
        return {
            Change.REMOVE_AUTHZ_POLICY: self.authz_policy_removed,
            Change.NETWORK_POLICIES_DISABLED: self.network_policies_disabled,
            Change.SECOND_ESO_WITHOUT_LABEL: self.second_eso_without_label,
        }[change]()

    @contextlib.contextmanager
    def _while(
        self, change: Callable[[], None], restore: Callable[[], None], controller: str | None = None
    ) -> Iterator[SharedChange]:
        change()
        handle = SharedChange(controller, restore)
        try:
            yield handle
        finally:
            handle.undo()

    def vault_admits(self, source_namespace: str) -> list[str]:
        """Names of the ALLOW AuthorizationPolicies in Vault's namespace that admit ``source_namespace``
        on port 8200 (the doc's Prerequisites shape)."""
        wanted = {
            "spec": {
                "action": "ALLOW",
                "rules": [
                    {
                        "from": [{"source": {"namespaces": Contains(source_namespace)}}],
                        "to": [{"operation": {"ports": Contains("8200")}}],
                    }
                ],
            }
        }
        found = self.kube.list("AuthorizationPolicy", self.vault_namespace())
        return [p["metadata"]["name"] for p in found if matches(p, wanted)]

    def _until(self, fetch: Callable[[], Any], until: Callable[[Any], bool], what: str) -> None:
        __tracebackhide__ = True
        wait_for(
            fetch,
            until,
            timeout=self.timeouts.delete,
            what=what,
            interval=self.interval,
            transient=TRANSIENT,
            clock=self.clock,
        )

    def authz_policy_removed(self) -> contextlib.AbstractContextManager[SharedChange]:
        """The doc's ALLOW AuthorizationPolicy on Vault is removed (verified: no policy admits ESO's
        namespace any more), then restored (verified: one does again)."""
        set_policy = self.platform.set_vault_authorization_policy
        eso = self.platform.eso_namespace

        def remove() -> None:
            set_policy(False)
            self._until(lambda: self.vault_admits(eso), lambda n: not n, f"no Vault ALLOW policy admits {eso}")

        def restore() -> None:
            set_policy(True)
            self._until(lambda: self.vault_admits(eso), bool, f"a Vault ALLOW policy admits {eso} again")

        return self._while(remove, restore)

    def _eso_network_policies(self) -> list[str]:
        return [p["metadata"]["name"] for p in self.kube.list("NetworkPolicy", self.platform.eso_namespace)]

    def network_policies_disabled(self) -> contextlib.AbstractContextManager[SharedChange]:
        """ESO upgraded with ``networkPolicies.enabled: false`` (verified: the package's egress and
        deny-all policies are gone, else a Ready store would prove nothing), then back to the doc's
        values (verified: ``allow-egress-vault`` is back)."""
        upgrade = self.platform.upgrade_eso
        gone = {ESO_EGRESS_POLICY, ESO_DENY_ALL_POLICY}

        def disable() -> None:
            upgrade({"networkPolicies": {"enabled": False}})
            self._until(
                self._eso_network_policies,
                lambda names: not gone & set(names),
                f"NetworkPolicies {sorted(gone)} removed from {self.platform.eso_namespace}",
            )

        def restore() -> None:
            upgrade(None)
            self._until(
                self._eso_network_policies,
                lambda names: gone <= set(names),
                f"NetworkPolicies {sorted(gone)} restored in {self.platform.eso_namespace}",
            )

        return self._while(disable, restore)

    @contextlib.contextmanager
    def second_eso(self) -> Iterator[str]:
        """A second ESO release in this test's namespace with its own controller class, labelled like the
        primary (on a mesh, Vault admits the namespace through an extra ALLOW policy); yields the class and
        uninstalls it on the way out."""
        fullname = self.unique("eso-second", limit=HELM_RELEASE_MAX)
        values = second_eso_values(
            self.platform.eso_values(), fullname=fullname, controller_class=fullname, namespace=self.namespace
        )
        values = deep_merge(values, {"upstream": {"podLabels": {VAULT_INGRESS_LABEL: "true"}}})
        if MESH in getattr(self.platform, "capabilities", {MESH}):
            self.apply(
                allow_policy_manifest(
                    self.shapes.authz_policy,
                    name=self.unique("allow-e2e"),
                    namespace=self.vault_namespace(),
                    source_namespace=self.namespace,
                )
            )
        self.platform.install_eso(fullname, values, namespace=self.namespace)
        try:
            yield fullname
        finally:
            self.platform.uninstall_eso(fullname, namespace=self.namespace)

    def second_eso_pods(self, release: str) -> list[dict[str, Any]]:
        return self.kube.list("Pod", self.namespace, {"app.kubernetes.io/instance": release})

    def pod_labels_of(self, release: str) -> list[str | None]:
        """The ``vault-ingress`` label of each pod of ``release`` that is not on its way out."""
        pods = self.second_eso_pods(release)
        return [_label(p, VAULT_INGRESS_LABEL) for p in pods if not p["metadata"].get("deletionTimestamp")]

    @contextlib.contextmanager
    def second_eso_without_label(self) -> Iterator[SharedChange]:
        """A second ESO in this test's namespace, without the label (verified on its pods); yields its
        controller class, and ``undo()`` applies the doc's own fix, its Troubleshooting ``upstream.podLabels``
        snippet, as a user does: a helm upgrade of that release with the snippet merged into its values. On a
        mesh, Vault admits this namespace through an extra ALLOW policy, so only the missing label can block it."""
        fullname = self.unique("eso-nolabel", limit=HELM_RELEASE_MAX)
        values = second_eso_values(
            self.platform.eso_values(), fullname=fullname, controller_class=fullname, namespace=self.namespace
        )
        mesh = MESH in getattr(self.platform, "capabilities", {MESH})
        if mesh:  # without a mesh there is no AuthorizationPolicy to open: only the NetworkPolicies decide
            self.apply(allow_policy_manifest(
                self.shapes.authz_policy,
                name=self.unique("allow-e2e"),
                namespace=self.vault_namespace(),
                source_namespace=self.namespace,
            ))
        self.platform.install_eso(fullname, values, namespace=self.namespace)
        try:
            pods = self.second_eso_pods(fullname)
            labelled = [p["metadata"]["name"] for p in pods if _label(p, VAULT_INGRESS_LABEL) == "true"]
            assert pods and not labelled, (
                f"second ESO {fullname}: expected its pods without {VAULT_INGRESS_LABEL}=true, "
                f"found {len(pods)} pod(s), labelled: {labelled}"
            )
            assert not mesh or all(has_sidecar(p) for p in pods), f"second ESO {fullname} runs without istio-proxy"

            def doc_fix() -> None:
                fixed = deep_merge(values, self.shapes.pod_labels)
                self.platform.install_eso(fullname, fixed, namespace=self.namespace)

            yield SharedChange(fullname, doc_fix)
        finally:
            self.platform.uninstall_eso(fullname, namespace=self.namespace)


@dataclass
class SharedChange:
    """A Troubleshooting change in effect: the controller class its stores must name (None: the
    primary's), and ``undo()``, which removes the cause in place (once)."""

    controller: str | None
    revert: Callable[[], None] = field(repr=False)
    undone: bool = False

    def undo(self) -> None:
        if not self.undone:
            self.undone = True
            self.revert()


def previous_chart(chart: str | None, versions: Mapping[str, Any]) -> str:
    """Where the previous release comes from: a remote --chart itself, else the package repo pinned in
    manifests/versions.yaml (a local chart directory has no other versions)."""
    if chart and is_remote_chart(chart):
        return chart
    return str(versions["charts"]["external_secrets"]["git"])


def doc_token_clean(raw: str, argv: tuple[str, ...]) -> str:
    """Run the doc's own clean-up (``tr -d '\\r\\n'``) on the token, through the runner."""
    return run(list(argv), input=raw, timeout=10).stdout


def _label(obj: Mapping[str, Any], key: str) -> str | None:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(key)
