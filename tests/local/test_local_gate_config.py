"""Capabilities (esoconf.live.capabilities, checked in esoconf.gate before any fixture) and the --platform
setting."""

from __future__ import annotations

import pytest

from esoconf import config as cfg
from esoconf.live import capabilities as caps
from esoconf.report import Exit

NEEDS_MESH = """
import pathlib
import pytest

@pytest.fixture
def platform():
    pathlib.Path("fixture-ran").touch()
    return object()

@pytest.mark.needs("mesh")
def test_needs_mesh(platform):
    pathlib.Path("test-ran").touch()

def test_needs_nothing(platform):
    pass
"""


def test_a_case_needing_a_missing_capability_is_skipped_before_any_fixture(suite: pytest.Pytester) -> None:
    suite.makepyfile(NEEDS_MESH)

    result = suite.runpytest_inprocess("--platform", "local", "-rs", "-k", "needs_mesh")

    result.assert_outcomes(skipped=1, deselected=1)
    result.stdout.fnmatch_lines([f"SKIPPED*not verified on platform local: {caps.GAPS['local'][caps.MESH]}; "
                                 "could be verified on: kind*"])
    assert not (suite.path / "fixture-ran").exists()
    assert not (suite.path / "test-ran").exists()


def test_the_same_case_runs_on_kind(suite: pytest.Pytester) -> None:
    suite.makepyfile(NEEDS_MESH)

    result = suite.runpytest_inprocess("--platform", "kind")

    result.assert_outcomes(passed=2)
    assert (suite.path / "test-ran").exists()


def test_an_unknown_capability_is_an_error(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        import pytest

        @pytest.mark.needs("teleport")
        def test_x():
            pass
        """)

    result = suite.runpytest_inprocess("--platform", "kind")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ValueError: unknown capability teleport; known: network-policy, mesh, *"])


def test_not_verified_joins_every_missing_capability_in_one_line() -> None:
    reason = caps.not_verified("local", [caps.MESH, caps.NETWORK_POLICY])

    assert reason == (f"not verified on platform local: {caps.GAPS['local'][caps.MESH]}; "
                      f"{caps.GAPS['local'][caps.NETWORK_POLICY]}; could be verified on: kind, existing")
    assert caps.not_verified("kind", caps.KNOWN) == ""
    assert caps.capabilities_of("local") == frozenset()
    assert caps.capabilities_of("existing") == frozenset(caps.KNOWN)


def test_platform_existing_without_kubeconfig_is_one_usage_line(suite: pytest.Pytester) -> None:
    suite.makepyfile("def test_x():\n    pass\n")

    result = suite.runpytest_inprocess("--platform", "existing")

    assert result.ret == Exit.USAGE
    result.stderr.fnmatch_lines(["ERROR: --platform existing needs --kubeconfig (the cluster to test in)"])
    assert [line for line in result.stderr.lines if line.strip()] == [
        "ERROR: --platform existing needs --kubeconfig (the cluster to test in)"]


@pytest.mark.parametrize(("cli", "env", "platform"), [
    pytest.param({}, {}, "kind", id="default-kind"),
    pytest.param({"kubeconfig": "/home/me/.kube/config"}, {}, "existing", id="kubeconfig-means-existing"),
    pytest.param({}, {"ESOCONF_KUBECONFIG": "/k"}, "existing", id="kubeconfig-from-env"),
    pytest.param({"kubeconfig": "/k", "platform": "kind"}, {}, "kind", id="explicit-wins"),
    pytest.param({}, {"ESOCONF_PLATFORM": "local"}, "local", id="local-from-env"),
])
def test_platform_default(cli: dict[str, str], env: dict[str, str], platform: str) -> None:
    assert cfg.resolve(cli, env=env).platform == platform


def test_an_unknown_platform_is_one_line() -> None:
    with pytest.raises(cfg.ConfigError, match=r"^--platform: .*kind.*local.*existing"):
        cfg.resolve({"platform": "docker"}, env={})
