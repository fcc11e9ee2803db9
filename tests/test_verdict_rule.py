"""The one verdict rule (issue 15): a claim is verified only when every tier that tests it reached a verdict on a
platform able to show it; "conforms" only when every claim of the doc was. One table: claim verdicts per tier x
mode -> exit code, banner, reasons."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from esoconf import gate
from esoconf import report as rep
from esoconf.report import ClaimInfo, Exit, RunInfo, TestResult

# a doc of three claims: one tested by render and e2e, one by render only, one by e2e only
CATALOG = {"NET-1": ClaimInfo("egress policy", "Prerequisites", ("render", "e2e")),
           "SCH-1": ClaimInfo("schemas", "all", ("render",)),
           "TRB-4": ClaimInfo("non-printable token", "Troubleshooting", ("e2e",))}


@dataclass(frozen=True)
class Row:
    id: str
    verdicts: dict[str, str]  # "CLAIM/tier" -> test verdict ("-/e2e" for a test with no claim)
    code: Exit
    banner: str
    reasons: tuple[str, ...] = ()  # each must start one of the reasons, in order
    mode: str = "standard"
    scope: str = ""
    fallback: str = ""
    problem: tuple[str, str] = ("", "")


ALL_PASS = {"NET-1/render": "pass", "NET-1/e2e": "pass", "SCH-1/render": "pass", "TRB-4/e2e": "pass"}
LOCAL_SKIP = {**ALL_PASS, "NET-1/e2e": "skip"}

TABLE = [
    Row("every-claim-verified-conforms", ALL_PASS, Exit.CONFORMS, "conforms"),
    Row("known-defect-conforms-and-is-listed", {**ALL_PASS, "TRB-4/e2e": "xfail"}, Exit.CONFORMS, "conforms"),
    Row("render-pass-live-skip-under-gate", LOCAL_SKIP, Exit.ENVIRONMENT, "not verified",
        ("not verified under --gate: 1 claim(s): NET-1 (e2e: not verified on platform local",
         "skipped under --gate: 1 test(s)"), mode="gate"),
    Row("render-pass-live-skip-in-the-conformance-run", LOCAL_SKIP, Exit.ENVIRONMENT, "not verified",
        ("not verified in the conformance run: 1 claim(s): NET-1",)),
    Row("scoped-platform-local-holds-n-of-m", LOCAL_SKIP, Exit.CONFORMS,
        "holds on what was checked here: 2 of 3 claims; not verified: NET-1",
        ("not verified in this scoped run (--platform local): 1 claim(s): NET-1",), scope="--platform local"),
    Row("scoped-render-only-never-conforms", {"NET-1/render": "pass", "SCH-1/render": "pass"}, Exit.CONFORMS,
        "holds on what was checked here: 1 of 3 claims; not verified: NET-1, TRB-4",
        ("not verified in this scoped run (tiers run: render): 1 claim(s): NET-1 (e2e not run)",),
        scope="tiers run: render"),
    Row("skipped-unclaimed-test-under-gate", {**ALL_PASS, "-/e2e": "skip"}, Exit.ENVIRONMENT, "not verified",
        ("skipped under --gate: 1 test(s): t.py::test_-_e2e (e.g. not verified on platform local",), mode="gate"),
    Row("known-defect-fixed-xpass-fails", {**ALL_PASS, "TRB-4/e2e": "xpass"}, Exit.CLAIM_FAILED, "claim failed",
        ("TRB-4 (t.py::test_TRB-4_e2e): xpass: a known defect no longer fails: fixed? update "
         "manifests/known-defects.yaml",)),
    Row("render-fail-and-live-skip-is-a-failure", {**LOCAL_SKIP, "NET-1/render": "fail"}, Exit.CLAIM_FAILED,
        "claim failed", ("NET-1 (t.py::test_NET-1_render): fail",)),
    Row("fallback-to-local-exits-2", LOCAL_SKIP, Exit.ENVIRONMENT, "not verified",
        ("platform fallback: the live cases ran on platform local, not kind", "not verified in the conformance run"),
        fallback="the live cases ran on platform local, not kind (kind cannot run here: no docker)"),
    Row("environment-blocked", {**ALL_PASS, "TRB-4/e2e": "blocked"}, Exit.ENVIRONMENT, "environment not ready",
        ("1 test(s) blocked by the environment",)),
    Row("bring-up-stop-of-the-chart", {"TRB-4/e2e": "blocked"}, Exit.CLAIM_FAILED, "claim failed",
        ("chart failure: chart defect: the chart's RBAC",), problem=("chart", "chart defect: the chart's RBAC")),
    Row("bring-up-stop-of-the-environment", {"SCH-1/render": "pass", "TRB-4/e2e": "blocked"}, Exit.ENVIRONMENT,
        "environment not ready", ("environment not ready: eso-controller exited",),
        problem=("environment", "eso-controller exited")),
    Row("interrupted", {"SCH-1/render": "pass"}, Exit.INTERRUPTED, "interrupted", ("Ctrl-C",),
        problem=("interrupted", "Ctrl-C")),
]


def _tests(verdicts: dict[str, str]) -> list[TestResult]:
    out = []
    for key, verdict in verdicts.items():
        claim, tier = key.split("/")
        out.append(TestResult(f"t.py::test_{claim}_{tier}", tier, verdict, [] if claim == "-" else [claim],
                              evidence="not verified on platform local: no enforcer" if verdict == "skip" else "ev",
                              platform="local" if tier == "e2e" else ""))
    return out


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.id)
def test_verdict_table(row: Row) -> None:
    run = RunInfo(mode=row.mode, scope=row.scope, fallback=row.fallback, problem=row.problem[0],
                  problem_detail=row.problem[1])
    report = rep.build_report(run, _tests(row.verdicts), CATALOG)

    assert (report.exit_code, report.headline) == (row.code, row.banner), report.reasons
    assert len(report.reasons) >= len(row.reasons), report.reasons
    for want, got in zip(row.reasons, report.reasons, strict=False):
        assert got.startswith(want), (want, report.reasons)
    if report.headline != "conforms":
        assert "conforms" not in rep.to_markdown(report).split("\n")[2]


def test_a_claim_is_verified_only_when_every_tier_that_tests_it_reached_a_verdict() -> None:
    report = rep.build_report(RunInfo(scope="x"), _tests(LOCAL_SKIP), CATALOG)
    rows = {c.id: c for c in report.claims}

    assert rows["NET-1"].verdict == "skip"  # never the render tier's pass
    assert rows["NET-1"].status == rep.NOT_VERIFIED
    assert rows["NET-1"].unverified() == {"e2e": "not verified on platform local: no enforcer"}
    assert (rows["SCH-1"].status, rows["TRB-4"].status) == (rep.PASS, rep.PASS)
    markdown = rep.to_markdown(report)
    assert "### Not verified (why, and where it could be verified)" in markdown
    assert "- **NET-1** [e2e] not verified on platform local: no enforcer" in markdown


def test_a_run_that_verifies_no_claim_does_not_replace_the_top_level_report(tmp_path: Path) -> None:
    """The quick vault tier (its tests claim nothing) writes its own run folder only."""
    claimed = rep.build_report(RunInfo(), _tests({"SCH-1/render": "fail"}), CATALOG)
    rep.write_run(claimed, tmp_path, "run-1")
    vault = rep.build_report(RunInfo(), [TestResult("suites/vault/t.py::test_seed", "e2e", "pass")], CATALOG)

    shown = rep.write_run(vault, tmp_path, "run-2")

    assert not vault.complete and shown["report"] == tmp_path / "runs" / "run-2" / "report.html"
    assert json.loads((tmp_path / "report.json").read_text())["outcome"] == "claim failed"


FALLBACK_TESTS = """
import pytest

@pytest.mark.render
@pytest.mark.claim("NET-1")
def test_policy_renders():
    pass

@pytest.mark.e2e
@pytest.mark.claim("NET-1")
@pytest.mark.needs("network-policy")
def test_policy_enforced():
    pass
"""


def test_no_silent_fallback_first_lines_name_the_platform_and_the_claims_and_exit_2(
        suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_tool: object) -> None:
    """kind cannot run, nobody chose a platform: the live cases run on local, the first lines say so and which
    claims local cannot show, and the run exits 2 (outside --gate too)."""
    from esoconf.platforms.local import doctor as local_doctor

    monkeypatch.setenv("ESOCONF_HELM", str(fake_tool("helm", "v3.17.2")))  # type: ignore[operator]
    monkeypatch.setattr(gate, "e2e_blockers", lambda config: "docker: engine unreachable")
    monkeypatch.setattr(local_doctor, "local_blockers", lambda config: "")
    suite.makepyfile(FALLBACK_TESTS)

    result = suite.runpytest_inprocess("-m", "e2e or render")

    assert result.ret == Exit.ENVIRONMENT
    lines = result.stdout.lines
    first = next(i for i, line in enumerate(lines) if line.startswith("WARNING: the live cases ran on"))
    assert lines[first] == ("WARNING: the live cases ran on platform local, not kind (kind cannot run here: "
                            "docker: engine unreachable)")
    assert lines[first + 1].startswith("WARNING: platform local cannot show: NET-1 (needs network-policy)")
    report = json.loads((suite.path / "artifacts" / "report.json").read_text())
    assert report["reasons"][0].startswith("platform fallback: the live cases ran on platform local")
    assert report["outcome"] == "not verified"


COLLECT_CLAIM_TIERS = """
import json, sys, pytest

class Tiers:
    found = {}
    def pytest_collection_modifyitems(self, items):
        for item in items:
            tier = "render" if item.get_closest_marker("render") else "e2e"
            if item.get_closest_marker("vault"):
                continue
            for claim in (c for m in item.iter_markers("claim") for c in m.args):
                self.found.setdefault(claim, set()).add(tier)

plugin = Tiers()
pytest.main(["suites", "-m", "render or e2e", "--collect-only", "-q", "-p", "no:cacheprovider",
             "--chart", sys.argv[1], "--doc", sys.argv[2]], plugins=[plugin])
print("CLAIM-TIERS " + json.dumps({c: sorted(t) for c, t in plugin.found.items()}))
"""


def test_the_catalogue_names_every_tier_that_tests_each_claim() -> None:
    """claims.yaml `tiers` (default render) and claims-live.yaml (default e2e) agree with the suites' claim
    marks: a claim whose live test is not in the catalogue would be called verified by its render pass."""
    import subprocess
    import sys

    from esoconf.config import PROJECT_ROOT
    from esoconf.live.verdicts import all_claims

    chart = PROJECT_ROOT / "tests" / "fixtures" / "charts" / "external-secrets"
    doc = PROJECT_ROOT / "tests" / "fixtures" / "docs" / "VAULT_INTEGRATION.md"
    done = subprocess.run([sys.executable, "-c", COLLECT_CLAIM_TIERS, str(chart), str(doc)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    line = next(x for x in done.stdout.splitlines() if x.startswith("CLAIM-TIERS "))
    marked = json.loads(line.removeprefix("CLAIM-TIERS "))

    assert {cid: sorted(c.tiers) for cid, c in all_claims().items()} == marked


KNOWN_DEFECT_TESTS = """
import pytest
from esoconf.known_defects import known_defect
from esoconf.render.helm import RenderError

@pytest.mark.claim("ES-VAR-1")
@known_defect("ES-VAR-1")
@pytest.mark.parametrize("what", ["the-defect", "fixed", "key-error", "helm-error"])
def test_both_render(what):
    if what == "the-defect":
        assert False, "dataFrom dropped"
    if what == "key-error":
        {}["data"]
    if what == "helm-error":
        raise RenderError("helm template: error converting YAML to JSON")
"""


def test_known_defects_come_from_the_catalogue_and_raise_only_their_exception(suite: pytest.Pytester) -> None:
    """The defect itself is a known defect (listed in the report); a fixed one (XPASS), a KeyError and a helm
    render error fail the run as what they are."""
    suite.makepyfile(KNOWN_DEFECT_TESTS)

    result = suite.runpytest_inprocess("-k", "test_both_render")

    assert result.ret == Exit.CLAIM_FAILED
    report = json.loads((suite.path / "artifacts" / "report.json").read_text())
    verdicts = {t["nodeid"].rsplit("[", 1)[1].rstrip("]"): t["verdict"] for t in report["tests"]}
    assert verdicts == {"the-defect": "xfail", "fixed": "xpass", "key-error": "fail", "helm-error": "fail"}
    helm = next(t for t in report["tests"] if t["nodeid"].endswith("[helm-error]"))
    assert helm["evidence"].startswith("a helm render error is not the known defect")
    markdown = (suite.path / "artifacts" / "report.md").read_text()
    assert "### Known defects" in markdown
    assert "`the-defect`: ES-VAR-1: known chart defect: with both data and dataFrom only data renders" in markdown


def test_the_environment_shows_what_ran_not_the_pins() -> None:
    from esoconf.report_plugin import observed_environment

    env = {"platform": "kind", "kubernetes_version": "v1.33.4", "chart": "c"}
    observed_environment(env, {"platform": "local", "kube_apiserver": "v1.34.4 (/version of https://x)"}, live=True)
    assert env == {"platform": "local", "kubernetes_version (pinned, not what ran)": "v1.33.4", "chart": "c",
                   "kube_apiserver": "v1.34.4 (/version of https://x)"}
    vault_tier = {"platform": "kind", "kubernetes_version": "v1.33.4"}
    observed_environment(vault_tier, {}, live=False)  # no live platform ran: none is named
    assert vault_tier == {"kubernetes_version": "v1.33.4"}


def test_the_controller_version_is_read_from_the_binarys_build_info(tmp_path: Path) -> None:
    from esoconf.platforms.local.eso_controller import build_info

    go = tmp_path / "go"
    go.write_text("#!/bin/sh\nprintf '%s\\n' \"$3: go1.24.2\" '\tpath\twrapper' "
                  "'\tdep\tgithub.com/external-secrets/external-secrets\tv0.16.2\th1:x='\n")
    go.chmod(0o755)
    assert build_info(Path("/bin/eso"), go=str(go)) == "github.com/external-secrets/external-secrets v0.16.2"
    assert build_info(Path("/bin/eso"), go=str(tmp_path / "no-go")) == ""
