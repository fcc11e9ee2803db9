"""Scenario verbs on the fake platform: waits, holds (fake clock), resyncs, the upgrade sampler."""

from __future__ import annotations

import itertools
import threading

import pytest
from fakes import FakeClock, FakePlatform

from esoconf.config import PROJECT_ROOT
from esoconf.live.cases import Breakage, DocShapes
from esoconf.live.expectations import Stage
from esoconf.live.scenario import FORCE_SYNC_ANNOTATION, Sample, Scenario, judge_samples, sample_while
from esoconf.wait import StateChanged, TerminalState, WaitTimeout

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


def test_no_secret_hold_fails_when_a_secret_appears(scene: Scenario, platform: FakePlatform) -> None:
    world = scene.arrange("token", breakage=Breakage.VAULT_KEY_MISSING)
    scene.wait_store_ready(world.store)
    scene.apply_es(world)
    scene.assert_no_secret(world.target, duration=5)
    platform.vault.write_secret(world.vault_key, world.vault_data)
    with pytest.raises(StateChanged, match="no Secret .* is created"):
        scene.assert_no_secret(world.target, duration=5)


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
