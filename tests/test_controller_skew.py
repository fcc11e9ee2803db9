"""Which controller ran and whether the chart deploys it: the binary's own word (Go build info), the skew line every
live verdict then reads, the gate it fails unless --allow-controller-skew, and the "What differed from a cluster"
section the platforms' lists (merged over xdist workers) become."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from esoconf import report as rep
from esoconf.live.controller import (
    ControllerRun,
    choose_version,
    deployed_version,
    told_version,
    version_in_build_info,
)
from esoconf.report import Exit, RunInfo, TestResult

BUILD_INFO = """/x/external-secrets: go1.26.8
\tpath\tesoconf.local/eso
\tmod\tesoconf.local/eso\t(devel)\t
\tdep\tgithub.com/external-secrets/external-secrets\tv0.16.2\th1:abc=
"""


@pytest.mark.parametrize(("text", "expected"), [
    (BUILD_INFO, "v0.16.2"),  # the modules route: ESO is a dependency of the wrapper module
    ("\tmod\tgithub.com/external-secrets/external-secrets\tv1.3.1+dirty\t\n", "v1.3.1"),  # a checkout at its tag
    ("\tmod\tgithub.com/external-secrets/external-secrets\t(devel)\t\n", ""),  # a checkout without a tag
    ("\tdep\tgithub.com/external-secrets/external-secrets/apis\tv0.0.0-2026\t\n", ""),  # another module
    ("", ""),
])
def test_version_from_go_build_info(text: str, expected: str) -> None:
    assert version_in_build_info(text) == expected


def test_told_version_asks_go(tmp_path: Path) -> None:
    go = tmp_path / "go"
    go.write_text(f"#!/bin/sh\ncat <<'EOF'\n{BUILD_INFO}EOF\n")
    go.chmod(go.stat().st_mode | stat.S_IXUSR)
    assert told_version(tmp_path / "external-secrets", go=str(go)) == "v0.16.2"
    assert told_version(tmp_path / "external-secrets", go=str(tmp_path / "no-go")) == ""


def test_the_binarys_word_wins() -> None:
    assert choose_version("v0.16.2", "v1.3.1", "v1.3.1", "v1.3.1") == ("v0.16.2", "the binary's Go build info")
    assert choose_version("", None, "given", "v1.3.1")[0] == "v1.3.1"


def test_what_the_chart_deploys_is_its_controller_image_tag() -> None:
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
        {"image": "ghcr.io/external-secrets/external-secrets:v0.16.2@sha256:ab", "args": ["webhook"]},
        {"image": "registry1.dso.mil/ironbank/opensource/external-secrets/external-secrets:v1.3.1"}]}}}}
    assert deployed_version([deployment], "v9.9.9") == (
        "v1.3.1", "image registry1.dso.mil/ironbank/opensource/external-secrets/external-secrets:v1.3.1")
    assert deployed_version([], "v9.9.9") == ("v9.9.9", "appVersion")


def test_skew_is_said_and_listed() -> None:
    ran = ControllerRun(route="modules", version="v0.16.2", version_from="the binary's Go build info",
                        told="v0.16.2", digest="sha256:1", deployed="v1.3.1", deployed_from="appVersion")
    assert ran.skew == "observed on controller v0.16.2 (the chart deploys v1.3.1)"
    assert any(line.startswith("controller skew: observed on controller v0.16.2") for line in ran.differences())
    assert ControllerRun("modules", "v0.16.2", "x", deployed="0.16.2").skew == ""


@pytest.mark.parametrize(("mode", "allowed", "code"), [("gate", False, Exit.ENVIRONMENT), ("gate", True, Exit.CONFORMS),
                                                        ("standard", False, Exit.CONFORMS)])
def test_skew_fails_only_the_gate_unless_allowed(mode: str, allowed: bool, code: Exit) -> None:
    run = RunInfo(mode=mode, controller_skew="observed on controller v0.16.2 (the chart deploys v1.3.1)",
                  skew_allowed=allowed)
    report = rep.build_report(run, [TestResult("t.py::test_a", "e2e", "pass", ["TOK-1"])])
    assert report.exit_code == code
    markdown = rep.to_markdown(report)
    assert "controller skew: every live verdict was observed on controller v0.16.2 (the chart deploys v1.3.1)" \
        in markdown
    assert ("accepted with --allow-controller-skew" in markdown) is allowed


LIVE_TESTS = """
import pytest

@pytest.mark.claim("TOK-1")
def test_live(record_property):
    record_property("platform", "local")
    record_property("controller-skew", "observed on controller v0.16.2 (the chart deploys v1.3.1)")
    record_property("rewrite", "ClusterSecretStore metadata.name: vault-secrets → vault-secrets-e2e-x")
    record_property("rewrite", "ClusterSecretStore spec.provider.vault.server: https://vault.example.com:8200 → x")
"""


# under --gate TOK-1 is not verified here anyway (its render tier did not run: exit 2 either way); what
# --allow-controller-skew changes is whether the skew is one of the gate's reasons
@pytest.mark.parametrize(("args", "code"), [(("--gate",), 2), (("--gate", "--allow-controller-skew"), 2), ((), 0)])
def test_the_report_says_what_differed_and_every_live_verdict_reads_the_skew(
    suite: pytest.Pytester, args: tuple[str, ...], code: int
) -> None:
    suite.makepyfile(test_live=LIVE_TESTS)
    artifacts = suite.path / "artifacts"
    artifacts.mkdir()
    for worker, phases, extra in (("gw0", {"control-plane": 3.0}, "CRDs: 24 from ESO v0.16.2's bundle"),
                                  ("gw1", {"attach": 0.5}, "")):
        (artifacts / f"phases-{worker}.json").write_text(json.dumps({
            "phases": phases, "platform": "local", "skew": "observed on controller v0.16.2 (the chart deploys v1.3.1)",
            "differences": ["Vault: OpenBao 2.7.2 dev server", *([extra] if extra else [])]}))
    result = suite.runpytest(*args)
    assert result.ret == code, result.stdout.str()[-1500:]
    skew_fails_gate = "controller skew under --gate" in result.stdout.str()
    assert skew_fails_gate is (args == ("--gate",)), result.stdout.str()[-1500:]
    data = json.loads((artifacts / "report.json").read_text())
    assert data["run"]["phases"] == {"control-plane": 3.0, "attach": 0.5}  # both workers' bring-up phases
    assert data["run"]["fidelity"]["local"] == [
        "Vault: OpenBao 2.7.2 dev server", "CRDs: 24 from ESO v0.16.2's bundle",
        "changed to run each case, in the values given to the chart or on its rendered objects (before → after in "
        "each test's `rewrite` properties): ClusterSecretStore metadata.name, ClusterSecretStore "
        "spec.provider.vault.server"]
    (claim,) = [c for c in data["claims"] if c["id"] == "TOK-1"]
    assert claim["evidence"]["unit"].startswith("observed on controller v0.16.2 (the chart deploys v1.3.1): ")
    markdown = (artifacts / "report.md").read_text()
    assert "### What differed from a cluster (local)" in markdown and "controller skew" in markdown
    html = (artifacts / "report.html").read_text()
    assert 'id="controller-skew"' in html and 'data-platform="local"' in html
