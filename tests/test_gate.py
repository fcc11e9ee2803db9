"""The tier gate stops a run whose selected tier cannot run here, before any test runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from esoconf import gate, tools
from esoconf.report import Exit

LIVE_TESTS = """
import pathlib
import pytest

@pytest.mark.e2e
def test_live():
    pathlib.Path("live-test-ran").touch()

@pytest.mark.render
def test_static():
    pathlib.Path("render-test-ran").touch()
"""


def fake_doctor(reason: str) -> Callable[..., str]:
    calls: list[object] = []

    def e2e_blockers(config: object) -> str:
        calls.append(config)
        return reason

    e2e_blockers.calls = calls  # type: ignore[attr-defined]
    return e2e_blockers


@pytest.fixture
def usable_helm(monkeypatch: pytest.MonkeyPatch, fake_tool: Callable[..., Path]) -> Path:
    helm = fake_tool("helm", "v3.17.2")
    monkeypatch.setenv("ESOCONF_HELM", str(helm))
    return helm


@pytest.fixture(autouse=True)
def no_local_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests fake the kind platform's verdict; the local fallback (its own tests below) stays out."""
    monkeypatch.setattr(gate, "fall_back_to_local", lambda resolved, reason: reason)


def test_kind_blocked_falls_back_to_local_when_it_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from esoconf import config as cfg
    from esoconf.platforms.local import doctor as local_doctor

    monkeypatch.undo()
    resolved = cfg.resolve({}, env={})
    monkeypatch.setattr(local_doctor, "local_blockers", lambda config: "")
    assert gate.fall_back_to_local(resolved, "docker: engine unreachable") == ""
    assert resolved.platform == "local" and resolved.source("platform").startswith("fallback")


def test_kind_blocked_and_local_blocked_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    from esoconf import config as cfg
    from esoconf.platforms.local import doctor as local_doctor

    monkeypatch.undo()
    resolved = cfg.resolve({}, env={})
    monkeypatch.setattr(local_doctor, "local_blockers", lambda config: "binaries missing")
    reason = gate.fall_back_to_local(resolved, "docker: engine unreachable")
    assert reason == "docker: engine unreachable; and the local platform cannot run either: binaries missing"
    assert resolved.platform == "kind"


def test_e2e_selected_where_it_cannot_run_exits_with_reason_and_runs_nothing(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, usable_helm: Path
) -> None:
    suite.makepyfile(LIVE_TESTS)
    monkeypatch.setattr(gate, "e2e_blockers", fake_doctor("docker: engine unreachable"))

    result = suite.runpytest_inprocess("-m", "e2e")

    assert result.ret == gate.E2E_EXIT_CODE
    result.stdout.fnmatch_lines(
        ["*e2e tier cannot run here: docker: engine unreachable (run `scripts/tox -e doctor`)*"]
    )
    assert not (suite.path / "live-test-ran").exists()


LIVE_AND_RENDER_CLAIMS = """
import pathlib
import pytest

@pytest.mark.e2e
@pytest.mark.claim("NET-1")
def test_live():
    pathlib.Path("live-test-ran").touch()

@pytest.mark.render
@pytest.mark.claim("NET-1")
def test_static():
    pathlib.Path("render-test-ran").touch()
"""


def test_conformance_where_live_cannot_run_keeps_the_render_verdicts(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, usable_helm: Path
) -> None:
    """render + e2e selected (tox -e conformance) without Docker: render runs, e2e is not verified with the
    reason, exit 2 (the environment), never a green run."""
    import json

    suite.makepyfile(LIVE_AND_RENDER_CLAIMS)
    monkeypatch.setattr(gate, "e2e_blockers", fake_doctor("docker: engine unreachable"))

    result = suite.runpytest_inprocess("-m", "e2e or render")

    assert result.ret == gate.E2E_EXIT_CODE
    assert (suite.path / "render-test-ran").exists() and not (suite.path / "live-test-ran").exists()
    report = json.loads((suite.path / "artifacts" / "report.json").read_text())
    claim = next(c for c in report["claims"] if c["id"] == "NET-1")
    assert claim["verdicts"] == {"render": "pass", "e2e": "blocked"}
    assert claim["evidence"]["e2e"] == ("not verified: e2e tier cannot run here: docker: engine unreachable "
                                        "(run `scripts/tox -e doctor`)")
    assert any("e2e tier cannot run here: docker: engine unreachable" in r for r in report["reasons"])


def test_e2e_selected_where_it_can_run_runs(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, usable_helm: Path
) -> None:
    suite.makepyfile(LIVE_TESTS)
    monkeypatch.setattr(gate, "e2e_blockers", fake_doctor(""))

    result = suite.runpytest_inprocess("-m", "e2e")

    result.assert_outcomes(passed=1, deselected=1)
    assert (suite.path / "live-test-ran").exists()


def test_collect_only_collects_without_asking_the_doctor(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(LIVE_TESTS)
    doctor = fake_doctor("docker: engine unreachable")
    monkeypatch.setattr(gate, "e2e_blockers", doctor)

    result = suite.runpytest_inprocess("-m", "e2e", "--collect-only", "-q")

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*::test_live", "1/2 tests collected (1 deselected)*"])
    assert doctor.calls == []  # type: ignore[attr-defined]


def test_deselected_e2e_does_not_ask_the_doctor(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, usable_helm: Path
) -> None:
    suite.makepyfile(LIVE_TESTS)
    doctor = fake_doctor("docker: engine unreachable")
    monkeypatch.setattr(gate, "e2e_blockers", doctor)

    result = suite.runpytest_inprocess("-m", "not e2e")

    result.assert_outcomes(passed=1, deselected=1)
    assert doctor.calls == []  # type: ignore[attr-defined]


def test_render_selected_with_too_old_helm_on_path_is_usage_error(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_tool: Callable[..., Path], tmp_path: Path
) -> None:
    suite.makepyfile(LIVE_TESTS)
    old = fake_tool("helm", "v3.9.0", folder="old")
    monkeypatch.setenv("PATH", str(old.parent))
    monkeypatch.setattr(gate, "find_tool", partial(tools.find_tool, tools_dir=tmp_path / "empty"))

    result = suite.runpytest_inprocess("-m", "render")

    assert result.ret == Exit.USAGE
    result.stderr.fnmatch_lines(
        ["ERROR: helm v3.14.0+ is needed: */old/helm is v3.9.0, older than the minimum*"]
    )
    assert not (suite.path / "render-test-ran").exists()


def test_e2e_with_a_kubernetes_version_without_node_image_is_a_usage_error(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, usable_helm: Path
) -> None:
    suite.makepyfile(LIVE_TESTS)
    monkeypatch.setattr(gate, "e2e_blockers", fake_doctor(""))

    result = suite.runpytest_inprocess("-m", "e2e", "--kubernetes-version", "v1.20.0")

    assert result.ret == Exit.USAGE
    result.stderr.fnmatch_lines(["ERROR: --kubernetes-version v1.20.0: no kind node image pinned for it; pinned: *"])
    assert not (suite.path / "live-test-ran").exists()


SERIAL_TESTS = """
import json, os, time
import pytest

def _record(name):
    start = time.monotonic()
    time.sleep({pause})
    with open(os.path.join({folder!r}, name + ".json"), "w") as out:
        json.dump([start, time.monotonic()], out)

@pytest.mark.serial
def test_changes_shared_state():
    _record("serial-1")

@pytest.mark.serial
def test_changes_shared_state_too():
    _record("serial-2")

def test_independent():
    pass
"""


@pytest.mark.integration  # a pytest run with xdist workers
def test_serial_tests_under_xdist_never_overlap(suite: pytest.Pytester) -> None:
    suite.makepyfile(SERIAL_TESTS.replace("{folder!r}", repr(str(suite.path))).replace("{pause}", "1.0"))

    result = suite.runpytest_subprocess("-n", "2", "-p", "no:pytest-kind")

    result.assert_outcomes(passed=3)
    (a_start, a_end), (b_start, b_end) = (json.loads((suite.path / f"serial-{n}.json").read_text()) for n in (1, 2))
    assert a_end <= b_start or b_end <= a_start, "two serial tests ran at the same time"


def test_serial_tests_run_in_their_own_pass(suite: pytest.Pytester) -> None:
    suite.makepyfile(SERIAL_TESTS.replace("{folder!r}", repr(str(suite.path))).replace("{pause}", "0"))

    result = suite.runpytest_inprocess()

    result.assert_outcomes(passed=3)



@pytest.mark.parametrize("args, says", [
    pytest.param(["--images", "registry1"], "ERROR: --images registry1 needs REGISTRY1_USERNAME and *",
                 id="registry1-without-credentials"),
    pytest.param(["--images", "airgap"], "ERROR: --images airgap needs --image-archive-dir*",
                 id="airgap-without-archives"),
])
def test_live_inputs_are_checked_before_anything_runs(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, usable_helm: Path, args: list[str], says: str
) -> None:
    suite.makepyfile(LIVE_TESTS)
    monkeypatch.setattr(gate, "e2e_blockers", fake_doctor(""))
    for name in ("REGISTRY1_USERNAME", "REGISTRY1_PASSWORD"):
        monkeypatch.delenv(name, raising=False)

    result = suite.runpytest_inprocess("-m", "e2e", *args)

    assert result.ret == Exit.USAGE
    result.stderr.fnmatch_lines([says])
    assert not (suite.path / "live-test-ran").exists()


def test_live_run_names_the_kubectl_it_uses_and_warns_of_skew(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, usable_helm: Path, fake_tool: Callable[..., Path]
) -> None:
    suite.makepyfile(LIVE_TESTS)
    monkeypatch.setattr(gate, "e2e_blockers", fake_doctor(""))
    monkeypatch.setenv("ESOCONF_KUBECTL", str(fake_tool("kubectl", "v1.37.1", folder="registry")))

    result = suite.runpytest_inprocess("-m", "e2e", "--kubernetes-version", "v1.33.4")

    result.stdout.fnmatch_lines(["tools used: helm v3.17.2 (env), kubectl v1.37.1 (env, pinned v1.33.4)",
                                 "WARNING: kubectl v1.37.1 is more than one minor version from Kubernetes v1.33.4*"])
