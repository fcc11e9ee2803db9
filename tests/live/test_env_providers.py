"""The cluster providers under the in-cluster platform: which one a configuration chooses, what each says it can
show, and what the platform's teardown does with each (releases uninstalled or not, a kind cluster deleted by the
xdist controller from its plan, leftovers named). Not a live run: every cluster is a fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from esoconf import platforms
from esoconf.config import ConfigError, resolve
from esoconf.live.platform import Phases
from esoconf.platforms.existing.provider import ExistingProvider
from esoconf.platforms.incluster import setup as incluster_setup
from esoconf.platforms.incluster.provider import provider_name
from esoconf.platforms.kind import cluster as kind_cluster
from esoconf.platforms.kind.cluster import ClusterDecision, KindEnvironment
from esoconf.platforms.kind.provider import KindProvider


@pytest.mark.parametrize("settings, provider", [
    pytest.param({}, "kind", id="default-kind"),
    pytest.param({"kubeconfig": "/k"}, "existing", id="kubeconfig-existing"),
    pytest.param({"platform": "kind", "kubeconfig": "/k"}, "existing", id="kind-with-kubeconfig-existing"),
    pytest.param({"platform": "node"}, "node", id="node"),
])
def test_the_configuration_chooses_one_provider(settings: dict[str, str], provider: str) -> None:
    assert provider_name(resolve(settings, env={})) == provider


def test_every_cluster_platform_registers_a_provider_and_local_none() -> None:
    entries = platforms.registered()
    assert {name for name, entry in entries.items() if entry.provider is not None} == {"kind", "existing", "node"}
    assert entries["kind"].teardown is not None and entries["existing"].teardown is None


def kind_provider(tmp_path: Path, *, created: bool) -> KindProvider:
    env = KindEnvironment("esoconf", Path("/bin/kind"), Path("/bin/kubectl"), "kindest/node@sha256:0", tmp_path)
    env.decision = ClusterDecision(created, created, "test")
    return KindProvider(env, Phases())


def test_the_kind_cluster_a_worker_created_is_deleted_from_its_plan(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(kind_cluster, "run", lambda cmd, **kw: ran.append(list(cmd)))
    plan = {"provider": "kind", "plan": kind_provider(tmp_path, created=True).teardown_plan()}
    assert incluster_setup.teardown_from_plan(plan)
    assert ran == [["/bin/kind", "delete", "cluster", "--name", "esoconf", "--kubeconfig",
                    str(tmp_path / "kubeconfig")]]
    reused = {"provider": "kind", "plan": kind_provider(tmp_path, created=False).teardown_plan()}
    assert not incluster_setup.teardown_from_plan(reused) and len(ran) == 1
    assert not incluster_setup.teardown_from_plan({"provider": "existing", "plan": None})


class FakeComponent:
    def __init__(self, name: str, uninstalled: list[str]) -> None:
        self.name, self.uninstalled = name, uninstalled

    def uninstall(self, env: Any) -> None:
        self.uninstalled.append(self.name)


class FakeProvider:
    def __init__(self, name: str, keeps_releases: bool, left: list[str] | None = None) -> None:
        self.name, self.keeps_releases, self.left, self.downs = name, keeps_releases, left or [], 0

    def down(self) -> list[str]:
        self.downs += 1
        return self.left


class FakePortForward:
    def close(self) -> None:
        pass


class FakePlatform:
    env = object()


def close(provider: FakeProvider, *, keep: bool = False) -> list[str]:
    uninstalled: list[str] = []
    components = [FakeComponent(name, uninstalled) for name in ("vault", "eso")]
    session = incluster_setup.Session(FakePlatform(), provider, FakePortForward(), components,  # type: ignore[arg-type]
                                      keep=keep)
    session.close()
    return uninstalled


def test_teardown_uninstalls_what_this_run_added_unless_the_releases_stay_with_the_cluster() -> None:
    existing = FakeProvider("existing", keeps_releases=False)
    assert close(existing) == ["eso", "vault"] and existing.downs == 1
    assert close(FakeProvider("existing", keeps_releases=False), keep=True) == []
    kind = FakeProvider("kind", keeps_releases=True)
    assert close(kind) == [] and kind.downs == 1


def test_what_a_provider_leaves_behind_is_an_environment_failure_naming_it() -> None:
    with pytest.raises(incluster_setup.PlatformUnavailable, match=r"^node platform teardown left: netns x; mount y$"):
        close(FakeProvider("node", keeps_releases=False, left=["netns x", "mount y"]))


def test_an_existing_cluster_is_reached_never_made_and_loads_no_archives(tmp_path: Path) -> None:
    provider = ExistingProvider(tmp_path / "kubeconfig", "ctx")
    assert provider.up() == tmp_path / "kubeconfig" and provider.context == "ctx"
    assert provider.mesh and not provider.local_images and not provider.keeps_releases
    with pytest.raises(ConfigError, match="with --kubeconfig preload the images"):
        provider.load_archives(tmp_path)
    assert provider.down() == [] and provider.teardown_plan() is None
