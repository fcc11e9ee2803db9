"""Scenario verbs on the fake platform: waits, holds (fake clock), resyncs, the upgrade sampler."""

from __future__ import annotations

import itertools
import json
import threading

import pytest
from fakes import FakeClock, FakePlatform

from esoconf.config import PROJECT_ROOT
from esoconf.live.cases import Breakage, Change, DocShapes
from esoconf.live.expectations import Stage
from esoconf.live.scenario import Sample, Scenario, judge_samples, sample_while
from esoconf.live.scenario.core import FORCE_SYNC_ANNOTATION, RefusedByApiServer
from esoconf.live.scenario.observe import NUDGE_SECONDS
from esoconf.wait import StateChanged, TerminalState, WaitTimeout, hold

SHAPES = DocShapes.load(PROJECT_ROOT / "tests" / "fixtures" / "docs" / "VAULT_INTEGRATION.md")


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def scene(platform: FakePlatform) -> Scenario:
    return Scenario(platform, "e2e-unit-abc12", SHAPES)


def test_names_are_unique_dns_labels(scene: Scenario) -> None:
    long = Scenario(scene.platform, "e2e-" + "x" * 60, SHAPES).unique("vault-secrets")
    assert len(long) <= 63 and long != Scenario(scene.platform, "e2e-" + "x" * 59, SHAPES).unique(
        "vault-secrets"
    )
    assert scene.unique("eso-role", "w2") == "eso-role-w2-e2e-unit-abc12-r1"


def test_two_worlds_in_one_namespace_do_not_collide(scene: Scenario) -> None:
    first, second = scene.arrange("token"), scene.arrange("token")
    assert first.store.name != second.store.name and first.target != second.target
    assert first.vault_key != second.vault_key and first.token_secret != second.token_secret


def test_negative_hold_passes_for_the_whole_window(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token", breakage=Breakage.TOKEN_TRAILING_NEWLINE)
    start = platform.clock.t
    scene.assert_never_ready(world.store, duration=15)
    assert platform.clock.t - start >= 15 and platform.eso.reconciles >= 15


def test_negative_hold_fails_when_the_store_turns_ready_mid_window(
    scene: Scenario, platform: FakePlatform
) -> None:
    world = scene.arrange("token", breakage=Breakage.TOKEN_TRAILING_NEWLINE)
    scene.expect_store_failure(world.store, Stage.VALIDATE, "non-printable")
    fixed_at = platform.clock.t + 5
    platform.clock.listeners.insert(
        0,
        lambda: platform.clock.t >= fixed_at and scene.recreate_token_secret(world, world.raw_token.strip()),
    )
    with pytest.raises(StateChanged, match="never becomes Ready: did not hold"):
        scene.assert_never_ready(world.store, duration=15)


def test_one_window_holds_the_broken_store_and_the_untouched_primary(scene: Scenario, platform: FakePlatform) -> None:
    primary = scene.arrange("token")
    scene.wait_store_ready(primary.store)
    broken = scene.arrange("token", breakage=Breakage.TOKEN_TRAILING_NEWLINE)
    start = platform.clock.t
    scene.assert_never_ready(broken.store, duration=15, beside=(primary.store,))
    assert 15 <= platform.clock.t - start < 30  # one window for both, not two in a row
    breaks_at = platform.clock.t + 5  # mutant: the primary's store stops being Ready mid-window
    broke: list[bool] = []

    def break_primary() -> None:
        if platform.clock.t >= breaks_at and not broke:
            broke.append(True)
            scene.recreate_token_secret(primary, primary.raw_token + "\n")
            scene.force_sync(primary.store)

    platform.clock.listeners.insert(0, break_primary)
    with pytest.raises(StateChanged, match="while .* stay Ready: did not hold"):
        scene.assert_never_ready(broken.store, duration=15, beside=(primary.store,))


def test_no_secret_hold_fails_when_a_secret_appears(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token", breakage=Breakage.VAULT_KEY_MISSING, refresh=True)
    scene.wait_store_ready(world.store)
    scene.apply_es(world)
    scene.assert_no_secret(world.target, world.es, duration=5)
    platform.vault.write_secret(world.vault_key, world.vault_data)
    with pytest.raises(StateChanged, match="no Secret .* is created"):
        scene.assert_no_secret(world.target, world.es, duration=5)


def test_expected_failure_gives_up_early_when_ready(scene: Scenario) -> None:
    world = scene.arrange("token")
    with pytest.raises(TerminalState, match="Ready=True"):
        scene.expect_store_failure(world.store, Stage.VALIDATE, "non-printable")


def test_wrong_detail_times_out_showing_what_was_seen(scene: Scenario) -> None:
    world = scene.arrange("token", breakage=Breakage.TOKEN_KEY_MISSING)
    with pytest.raises(
        WaitTimeout, match=r"(?s)detail /token-secret-missing/.*cannot find secret data for key"
    ):
        scene.expect_store_failure(world.store, Stage.CLIENT, "token-secret-missing")


def test_a_store_that_never_gets_ready_names_the_cause_from_its_event_in_the_first_line(
    scene: Scenario, platform: FakePlatform
) -> None:
    """ESO >= v0.20: the condition says only "unable to create client"; the cause is in the store's Event
    (namespace `default` for a ClusterSecretStore). The first line of the failure is the report's evidence."""
    world = scene.arrange("token", breakage=Breakage.TOKEN_KEY_MISSING)
    with pytest.raises(WaitTimeout) as info:
        scene.wait_store_ready(world.store)
    first = str(info.value).splitlines()[0]
    assert first.startswith(f"{world.store} Ready=True (reason Valid): not reached within")
    assert "store Event: InvalidProviderConfig:" in first and "cannot find secret data for key" in first
    assert {e["metadata"]["namespace"] for e in platform.kube.event_list} == {"default"}


def test_a_reason_of_another_eso_version_is_not_accepted() -> None:
    platform = FakePlatform(eso_version="v0.18.0")
    scene = Scenario(platform, "e2e-old", SHAPES)
    world = scene.arrange("token", breakage=Breakage.TOKEN_CARRIAGE_RETURN)
    seen = scene.expect_store_failure(world.store, Stage.VALIDATE, "non-printable")
    assert seen.condition["reason"] == "ValidationFailed" and seen.matched.startswith(
        "unable to validate store: "
    )


def test_secret_data_must_match_exactly(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.synced("token", "data")
    assert set(world.expected) == {"username", "password"}
    with pytest.raises(WaitTimeout, match=r"missing keys \['extra'\]"):
        scene.assert_secret_data(world.target, world.vault_data, timeout=3)
    scene.assert_owned_by(world.target, world.es)


def test_owner_must_be_the_external_secret(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.synced("token", "dataFrom")
    platform.kube.objects[("Secret", scene.namespace, world.target)]["metadata"]["ownerReferences"] = []
    with pytest.raises(AssertionError, match="ownerReferences"):
        scene.assert_owned_by(world.target, world.es)


def test_force_sync_bumps_an_annotation(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token")
    scene.force_sync(world.store)
    first = platform.kube.get(world.store.kind, world.store.name)["metadata"]["annotations"][
        FORCE_SYNC_ANNOTATION
    ]
    scene.now = lambda: 2e9
    scene.force_sync(world.store)
    assert (
        platform.kube.get(world.store.kind, world.store.name)["metadata"]["annotations"][
            FORCE_SYNC_ANNOTATION
        ]
        != first
    )


def test_recovery_nudges_with_force_sync(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token", breakage=Breakage.TOKEN_TRAILING_NEWLINE)
    scene.expect_store_failure(world.store, Stage.VALIDATE, "non-printable")
    platform.kube.calls.clear()
    scene.recreate_token_secret(world, world.raw_token.strip())
    scene.wait_recovered(world)
    assert ("apply", "ExternalSecret", scene.namespace, world.es.name) in platform.kube.calls


def test_cleanup_removes_cluster_scoped_store_and_vault_objects(
    scene: Scenario, platform: FakePlatform
) -> None:
    world = scene.arrange("kubernetes")
    scene.cleanup()
    assert platform.kube.get(world.store.kind, world.store.name) is None
    assert world.role not in platform.vault.roles and world.policy not in platform.vault.policies


def test_sampler_samples_until_the_action_returns() -> None:
    clock, release = FakeClock(), threading.Event()
    count = itertools.count()
    clock.listeners.append(lambda: release.set() if clock.t > 1010 else None)
    samples = sample_while(
        lambda: release.wait(5),
        lambda: Sample(clock.t, {"es": next(count) >= 0}, {}),
        interval=1,
        clock=clock,
    )
    assert len(samples) >= 10 and samples[-1].at >= samples[0].at + 10


def test_sampler_reraises_the_action_error() -> None:
    def boom() -> None:
        raise RuntimeError("helm upgrade failed")

    with pytest.raises(RuntimeError, match="helm upgrade failed"):
        sample_while(boom, lambda: Sample(0, {}, {}), interval=0.01)


def test_judge_samples_names_each_violation() -> None:
    samples = [
        Sample(0, {"es1": True}, {"s1": "d1"}),
        Sample(1.5, {"es1": False}, {"s1": ""}),
        Sample(3, {"es1": True}, {"s1": "d2"}),
    ]
    assert judge_samples(samples, {"s1": "d1"}) == [
        "t=1.5s ExternalSecret es1 not Ready",
        "t=1.5s Secret s1 data changed or missing",
        "t=3.0s Secret s1 data changed or missing",
    ]
    assert judge_samples(samples[:1], {"s1": "d1"}) == []


# --- reviewed against ESO v1.3.1: where Events live, back-off, shared-state changes -----------------


def test_cluster_store_events_are_found_in_the_default_namespace(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token", breakage=Breakage.TOKEN_TRAILING_NEWLINE)
    seen = scene.expect_store_failure(world.store, Stage.VALIDATE, "non-printable")
    assert platform.kube.events(scene.namespace, world.store.kind, world.store.name) == []
    assert {e["metadata"]["namespace"] for e in platform.kube.events(None, world.store.kind, world.store.name)} == {
        "default"
    }
    assert "non-printable" in (seen.matched or "")


def test_events_of_a_deleted_store_with_the_same_name_are_ignored(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token", breakage=Breakage.TOKEN_TRAILING_NEWLINE)
    scene.expect_store_failure(world.store, Stage.VALIDATE, "non-printable")
    platform.kube.delete(world.store.kind, world.store.name)
    scene.recreate_token_secret(world, world.raw_token.strip())
    platform.kube.apply({**world.store_manifest, "metadata": dict(world.store_manifest["metadata"])})
    scene.wait_store_ready(world.store)
    assert not scene.observe_store(world.store, "non-printable").matched  # the old store's Event stays behind


@pytest.mark.parametrize("verb", ["never-ready", "no-secret"])
def test_a_hold_over_an_object_that_does_not_exist_fails(scene: Scenario, verb: str) -> None:
    world = scene.arrange("token", breakage=Breakage.VAULT_KEY_MISSING, apply_store=False)
    with pytest.raises(StateChanged, match="exists"):
        if verb == "never-ready":
            scene.assert_never_ready(world.store, duration=5)
        else:
            scene.assert_no_secret(world.target, world.es, duration=5)


def test_after_a_fix_only_a_forced_resync_beats_the_back_off(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token", breakage=Breakage.TOKEN_TRAILING_NEWLINE)
    scene.expect_store_failure(world.store, Stage.VALIDATE, "non-printable")
    scene.assert_never_ready(world.store, duration=40)  # failures back off: 1, 2, 4 ... 32 s
    scene.recreate_token_secret(world, world.raw_token.strip())  # ESO does not watch Secrets
    started = platform.clock.t
    scene.wait_store_ready(world.store, nudge=True)
    assert platform.clock.t - started <= 2 * NUDGE_SECONDS


def test_a_fix_is_not_seen_without_a_resync_while_backing_off(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token", breakage=Breakage.TOKEN_TRAILING_NEWLINE)
    scene.expect_store_failure(world.store, Stage.VALIDATE, "non-printable")
    scene.assert_never_ready(world.store, duration=40)
    scene.recreate_token_secret(world, world.raw_token.strip())
    status = lambda: scene._ready_status(world.store)  # noqa: E731 - no forced resync here
    hold(status, lambda s: s == "False", duration=10, what="not Ready yet", clock=platform.clock)


def test_an_authorization_policy_change_takes_a_moment_to_apply(scene: Scenario, platform: FakePlatform) -> None:
    platform.eso.propagation = 4.0
    scene.synced("token", "data")  # the sidecars know the policy
    with scene.changed(Change.REMOVE_AUTHZ_POLICY):
        first = scene.arrange("token")
        assert scene.store_outcome(first.store, Stage.VALIDATE, "istio-rbac-denied").ready  # too early to tell
        second = scene.arrange("token")
        seen = scene.store_settles(second.store, Stage.VALIDATE, "istio-rbac-denied")
    assert not seen.ready and "RBAC: access denied" in (seen.matched or "")


def test_a_store_settles_ready_only_after_a_window_of_revalidations(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token")
    started = platform.clock.t
    assert scene.store_settles(world.store, Stage.VALIDATE, "istio-rbac-denied").ready
    assert platform.clock.t - started >= platform.timeouts.negative_hold
    assert sum(c[:2] == ("patch", "ClusterSecretStore") for c in platform.kube.calls) >= 2  # forced resyncs


def test_the_authorization_policy_change_is_verified_and_restored(scene: Scenario, platform: FakePlatform) -> None:
    eso = platform.eso_namespace
    with scene.changed(Change.REMOVE_AUTHZ_POLICY) as change:
        assert scene.vault_admits(eso) == [] and change.controller is None
    assert scene.vault_admits(eso) == ["allow-external-secrets"]


def test_second_eso_is_isolated_unlabelled_and_labelled_on_undo(scene: Scenario, platform: FakePlatform) -> None:
    with scene.changed(Change.SECOND_ESO_WITHOUT_LABEL) as change:
        install = platform.eso_installs[-1]
        upstream = install["values"]["upstream"]
        assert install["namespace"] == scene.namespace and change.controller == upstream["controllerClass"]
        assert upstream["podLabels"] is None and upstream["scopedNamespace"] == scene.namespace
        world = scene.arrange("token", store_kind="SecretStore", controller=change.controller)
        assert not scene.store_settles(world.store, Stage.VALIDATE, "unreachable").ready
        change.undo()
        scene.wait_store_ready(world.store, nudge=True)
        pods = scene.second_eso_pods(change.controller or "")
        assert [p["metadata"]["labels"].get("vault-ingress") for p in pods] == ["true"]
    assert scene.second_eso_pods(change.controller or "") == []  # uninstalled on the way out
    assert scene.vault_admits(scene.namespace)  # the extra ALLOW policy goes with the test's cleanup
    scene.cleanup()
    assert not scene.vault_admits(scene.namespace)


def test_cleanup_removes_the_vault_data_of_the_test(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token")
    assert ("kv", world.vault_key) in platform.vault.kv
    scene.cleanup()
    assert ("kv", world.vault_key) not in platform.vault.kv


def test_an_object_the_api_server_refuses_is_named_with_its_reason(
    scene: Scenario, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chart that drops a field its CRD requires: the case says which field, in the API server's words."""
    message = 'ClusterSecretStore.external-secrets.io "s" is invalid: spec.provider.vault.auth.kubernetes.role: ' \
              "Required value"

    class Refused(Exception):
        status, body = 422, json.dumps({"message": message})

    def refuse(obj: dict) -> dict:
        raise Refused()

    monkeypatch.setattr(platform.kube, "apply", refuse)
    with pytest.raises(RefusedByApiServer, match="refused ClusterSecretStore/s: .*role: Required value"):
        scene.apply({"kind": "ClusterSecretStore", "metadata": {"name": "s"}})
