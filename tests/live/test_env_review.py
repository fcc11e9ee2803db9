"""Fixes from the live-environment review, each checked with fakes: the chart an upgrade installs,
--clean-start leftovers, the NetworkPolicy canary's baseline, and the quick `vault` tier's gate."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest
from fakes import bare_platform

from esoconf import doctor, gate
from esoconf.config import ConfigError, load_versions, resolve
from esoconf.live.images import image_set
from esoconf.live.kube import RUN_LABEL
from esoconf.live.platform import NetpolNotShown
from esoconf.platforms.incluster import canary
from esoconf.platforms.incluster.canary import NETPOL_UNVERIFIED, PROBE_BLOCKED, PROBE_CONNECTED, run_canary
from esoconf.platforms.incluster.cluster import ChartRef, Env
from esoconf.platforms.incluster.eso import EsoComponent
from esoconf.platforms.incluster.leftovers import clean_start, leftovers
from esoconf.platforms.incluster.platform import ChartSources, Platform
from esoconf.wait import Timeouts

PINNED = "https://repo1.dso.mil/big-bang/product/packages/external-secrets.git"
OCI = "oci://registry.example/charts/external-secrets"


def sources(configured: str | None, fetched: list[tuple[str, str | None]]) -> ChartSources:
    def fetch(ref: str, version: str | None) -> Path:
        fetched.append((ref, version))
        return Path(f"/cache/{version}/chart")

    return ChartSources(configured, PINNED, fetch)


@pytest.mark.parametrize(
    ("configured", "chart", "version", "expected"),
    [
        (None, None, "1.2.0-bb.0", (PINNED, "1.2.0-bb.0")),
        ("/src/eso/chart", None, "1.2.0-bb.0", (PINNED, "1.2.0-bb.0")),
        (OCI, None, "1.2.0-bb.0", (OCI, "1.2.0-bb.0")),
        (None, OCI, "1.1.0-bb.3", (OCI, "1.1.0-bb.3")),
        (None, "/src/old/chart", None, ("/src/old/chart", None)),
    ],
    ids=["version-alone-pinned-git", "local-candidate-pinned-git", "remote-candidate", "remote-chart", "local"],
)
def test_upgrade_source_resolves_version_alone_to_a_package_release(
    configured: str | None, chart: str | None, version: str | None, expected: tuple[str, str | None]
) -> None:
    assert sources(configured, []).source(chart, version) == expected


@pytest.mark.parametrize(
    ("chart", "version", "message"),
    [
        (None, None, "give version="),
        (OCI, None, "is remote: also give version="),
        ("/src/old/chart", "1.0.0", "is a local chart"),
    ],
    ids=["nothing", "remote-without-version", "local-with-version"],
)
def test_upgrade_source_rejects_ambiguous_requests(chart: str | None, version: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sources(None, []).source(chart, version)


class RecordingEso(EsoComponent):
    """The ESO component with helm and the pod wait replaced by a record of the chart installed."""

    installed: list[ChartRef]

    def helm_install(self, env: Any, release: str, chart: ChartRef, values: Any) -> None:
        self.installed.append(chart)

    def ready(self, env: Any) -> None:
        pass


def platform_with(component: RecordingEso, charts: ChartSources) -> Platform:
    env: Any = Env(None, None, Timeouts(), image_set("upstream", load_versions()), Path("/tmp"), "r1")  # type: ignore[arg-type]
    return Platform(
        kube=None,  # type: ignore[arg-type]
        vault=None,  # type: ignore[arg-type]
        vault_url="",
        eso_namespace="external-secrets",
        eso_release="external-secrets-external-secrets",
        eso_version="v1.3.1",
        run_id="r1",
        timeouts=Timeouts(),
        env=env,
        eso_component=component,
        charts=charts,
    )


def test_upgrade_eso_with_version_alone_installs_that_release_then_the_candidate_again() -> None:
    fetched: list[tuple[str, str | None]] = []
    component = RecordingEso(chart_ref=ChartRef("/candidate/chart"))
    component.installed = []
    platform = platform_with(component, sources(None, fetched))

    platform.upgrade_eso(version="1.2.0-bb.0")
    platform.upgrade_eso()

    assert fetched == [(PINNED, "1.2.0-bb.0")]
    assert component.installed == [ChartRef("/cache/1.2.0-bb.0/chart"), ChartRef("/candidate/chart")]


def ns(name: str, run: str | None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {RUN_LABEL: run} if run else {}}}


def obj(name: str, run: str | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, **({"labels": {RUN_LABEL: run}} if run else {})}}


def test_leftovers_cover_cluster_scoped_objects_and_extra_vault_policies_of_earlier_runs() -> None:
    namespaces = [ns("e2e-sync-a1b2c3", "old1"), ns("e2e-sync-d4e5f6", "now"), ns("kube-system", None)]
    objects = {
        ("ClusterSecretStore", None): [
            obj("vault-secrets-e2e-sync-a1b2c3-old1"),  # contains a leftover namespace
            obj("vault-secrets-e2e-gone-0a0b0c-old0"),  # ends with the run the ConfigMap recorded
            obj("vault-secrets-e2e-sync-d4e5f6-now"),  # this run: kept
            obj("labelled", "old2"),  # another run's label
            obj("users-own-store"),  # not ours: kept
        ],
        ("ClusterRole", None): [obj("eso-nolabel-e2e-sync-a1b2c3-old1-servicebindings"), obj("admin")],
        ("AuthorizationPolicy", "vault"): [obj("allow-e2e-e2e-sync-a1b2c3-old1"), obj("allow-external-secrets")],
    }

    found = leftovers(namespaces, objects, "now", previous_runs=("old0", "now"))

    assert sorted(found, key=str) == sorted(
        [
            ("Namespace", "e2e-sync-a1b2c3", None),
            ("ClusterSecretStore", "vault-secrets-e2e-sync-a1b2c3-old1", None),
            ("ClusterSecretStore", "vault-secrets-e2e-gone-0a0b0c-old0", None),
            ("ClusterSecretStore", "labelled", None),
            ("ClusterRole", "eso-nolabel-e2e-sync-a1b2c3-old1-servicebindings", None),
            ("AuthorizationPolicy", "allow-e2e-e2e-sync-a1b2c3-old1", "vault"),
        ],
        key=str,
    )


class ResourceNotFoundError(Exception):
    """Stands in for kubernetes.dynamic.exceptions.ResourceNotFoundError (kind not served yet)."""


class CleanKube:
    def __init__(self) -> None:
        self.deleted: list[tuple[str, str, str | None]] = []

    def list(self, kind: str, namespace: str | None = None, labels: Any = None) -> list[dict[str, Any]]:
        if kind == "Namespace":
            return [ns("eso-canary-old1", "old1")]
        raise ResourceNotFoundError(kind)

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        self.deleted.append((kind, name, namespace))


def test_clean_start_on_a_fresh_cluster_skips_kinds_not_served_yet() -> None:
    kube = CleanKube()
    assert clean_start(kube, "now", None) == [("Namespace", "eso-canary-old1", None)]  # type: ignore[arg-type]
    assert kube.deleted == [("Namespace", "eso-canary-old1", None)]


class CanaryKube:
    """Two Ready canary pods; ``exec`` answers the probe from a script of outputs."""

    def __init__(self, outputs: list[str]) -> None:
        self.outputs = outputs
        self.applied: list[str] = []

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.applied.append(obj["kind"])
        return obj

    def list(self, kind: str, namespace: str | None = None, labels: Any = None) -> list[dict[str, Any]]:
        ready = {"phase": "Running", "podIP": "10.0.0.9", "conditions": [{"type": "Ready", "status": "True"}]}
        return [{"metadata": {"name": n}, "status": ready} for n in ("canary-client", "canary-server")]

    def exec(self, namespace: str, pod: str, command: builtins.list[str], container: str | None = None) -> str:
        return self.outputs.pop(0)

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        pass


def test_canary_retries_a_baseline_that_collided_with_the_servers_single_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(canary.time, "sleep", lambda seconds: None)
    kube = CanaryKube([PROBE_BLOCKED, PROBE_CONNECTED, PROBE_BLOCKED, PROBE_CONNECTED])
    verdict = run_canary(kube, "busybox", "r1", Timeouts())  # type: ignore[arg-type]
    assert verdict.enforced, verdict.detail
    assert kube.applied.count("NetworkPolicy") == 2  # the deny, then the allow that reopens


class PullFailingCanaryKube(CanaryKube):
    """The canary's busybox cannot be pulled; deleting the namespace fails too."""

    def list(self, kind: str, namespace: str | None = None, labels: Any = None) -> list[dict[str, Any]]:
        waiting = {"reason": "ImagePullBackOff", "message": "Back-off pulling image busybox"}
        container = {"name": "c", "image": "busybox", "state": {"waiting": waiting}}
        status = {"phase": "Pending", "containerStatuses": [container]}
        return [{"metadata": {"name": n}, "status": status} for n in ("canary-client", "canary-server")]

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        raise ConnectionError("API server went away")


def test_a_canary_that_cannot_run_is_inconclusive_not_a_platform_failure() -> None:
    kube = PullFailingCanaryKube([])
    verdict = run_canary(kube, "busybox", "r1", Timeouts())  # type: ignore[arg-type]
    assert not verdict.enforced
    assert verdict.detail.startswith("canary inconclusive: TerminalState: canary pods Ready: gave up early")
    assert verdict.detail.endswith("ImagePullBackOff for image busybox: Back-off pulling image busybox")
    platform = bare_platform(netpol_enforced=verdict.enforced, netpol_detail=verdict.detail)
    with pytest.raises(NetpolNotShown) as info:  # the tests that need NetworkPolicy say why (exit 2)
        platform.require_netpol_enforcement()
    assert str(info.value) == f"{NETPOL_UNVERIFIED}: {verdict.detail}"


def test_vault_blockers_need_a_docker_engine_even_with_a_kubeconfig(tmp_path: Path) -> None:
    config = resolve({"kubeconfig": str(tmp_path / "kubeconfig")})
    reason = doctor.vault_blockers(config, doctor.Probes(which=lambda name: None))
    assert reason.startswith("docker: no docker CLI on PATH")


VAULT_AND_LIVE_TESTS = """
import pathlib
import pytest

@pytest.mark.e2e
@pytest.mark.vault
def test_vault_tier():
    pathlib.Path("vault-test-ran").touch()

@pytest.mark.e2e
def test_live():
    pathlib.Path("live-test-ran").touch()

def test_unit():
    pass
"""


def doctors(monkeypatch: pytest.MonkeyPatch, *, e2e: str, vault: str) -> list[str]:
    asked: list[str] = []

    def answer(tier: str, reason: str) -> Any:
        def blockers(config: object) -> str:
            asked.append(tier)
            return reason

        return blockers

    monkeypatch.setattr(gate, "e2e_blockers", answer("e2e", e2e))
    monkeypatch.setattr(gate, "vault_blockers", answer("vault", vault))
    return asked


def test_vault_tier_needs_only_docker_and_no_helm(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    suite.makepyfile(VAULT_AND_LIVE_TESTS)
    asked = doctors(monkeypatch, e2e="kind: not found", vault="")
    monkeypatch.setattr(gate, "require_tool", lambda config, name: asked.append(name))

    result = suite.runpytest_inprocess("-m", "vault")

    result.assert_outcomes(passed=1, deselected=2)
    assert asked == ["vault"]


def test_vault_tier_without_docker_stops_with_the_reason(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(VAULT_AND_LIVE_TESTS)
    doctors(monkeypatch, e2e="", vault="docker: docker CLI found, engine unreachable")

    result = suite.runpytest_inprocess("-m", "vault")

    assert result.ret == gate.E2E_EXIT_CODE, result.stdout.str()
    result.stdout.fnmatch_lines(["*vault tier cannot run here: docker: docker CLI found, engine unreachable*"])
    assert not (suite.path / "vault-test-ran").exists()


def test_default_run_deselects_the_vault_tier(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    suite.makepyfile(VAULT_AND_LIVE_TESTS)
    asked = doctors(monkeypatch, e2e="kind: not found", vault="docker: unreachable")

    result = suite.runpytest_inprocess("-m", "not e2e")

    result.assert_outcomes(passed=1, deselected=2)
    assert asked == []
