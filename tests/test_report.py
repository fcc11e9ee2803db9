"""The conformance report: rendering from recorded results, JSON schema stability, Markdown, the diff,
and the exit codes a gate acts on (environment failures never counted as chart failures, nor the reverse)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from esoconf import report as rep
from esoconf.report import Exit, RunInfo, TestResult

RECORDED = Path(__file__).parent / "fixtures" / "recorded-report"
OLD, NEW = RECORDED / "nightly-1.3.1-bb.1.json", RECORDED / "nightly-1.3.2-bb.0.json"


def result(verdict: str, claims: tuple[str, ...] = ("NET-1",), tier: str = "render") -> TestResult:
    return TestResult(nodeid=f"t.py::test_{verdict}_{'_'.join(claims)}_{tier}", tier=tier, verdict=verdict,
                      claims=list(claims), evidence=f"evidence of {verdict}")


# ------------------------------------------------------------------------------------ exit codes


@dataclass(frozen=True)
class ExitCase:
    id: str
    verdicts: tuple[str, ...]
    expected: Exit
    mode: str = "standard"
    problem: str = ""
    scope: str = ""


EXIT_CASES = [
    ExitCase("all-pass", ("pass", "pass"), Exit.CONFORMS),
    ExitCase("known-defect-is-not-a-failure", ("pass", "xfail"), Exit.CONFORMS),
    ExitCase("flaky-is-shown-not-failed", ("pass", "flaky"), Exit.CONFORMS),
    ExitCase("claim-failed", ("pass", "fail"), Exit.CLAIM_FAILED),
    ExitCase("fixture-error-is-a-failure", ("pass", "error"), Exit.CLAIM_FAILED),
    ExitCase("strict-xpass-is-a-failure", ("xpass",), Exit.CLAIM_FAILED),
    ExitCase("environment-only", ("pass", "blocked"), Exit.ENVIRONMENT),
    ExitCase("chart-failure-wins-over-environment", ("fail", "blocked"), Exit.CLAIM_FAILED),
    ExitCase("skip-is-not-verified-in-the-conformance-run", ("pass", "skip"), Exit.ENVIRONMENT),
    ExitCase("skip-is-said-in-a-scoped-run", ("pass", "skip"), Exit.CONFORMS, scope="-k x"),
    ExitCase("skip-fails-the-gate", ("pass", "skip"), Exit.ENVIRONMENT, mode="gate"),
    ExitCase("gate-stopped-before-tests", (), Exit.ENVIRONMENT, problem="environment"),
    ExitCase("usage-error", (), Exit.USAGE, problem="usage"),
    ExitCase("collection-error", ("pass",), Exit.USAGE, problem="collection"),
]


@pytest.mark.parametrize("case", EXIT_CASES, ids=lambda c: c.id)
def test_exit_code_decision(case: ExitCase) -> None:
    tests = [result(v, (f"C-{i}",)) for i, v in enumerate(case.verdicts)]
    report = rep.build_report(RunInfo(mode=case.mode, problem=case.problem, problem_detail="why", scope=case.scope),
                              tests)
    assert report.exit_code == case.expected, report.reasons
    assert (report.reasons == []) == (report.outcome == "conforms")


def test_environment_failure_is_never_listed_as_a_claim_failure() -> None:
    report = rep.build_report(RunInfo(), [result("blocked", ("SYNC-1",), "e2e"), result("pass")])
    assert report.exit_code == Exit.ENVIRONMENT
    assert not any("fail" in reason.split(":")[1] for reason in report.reasons if reason.count(":") > 1)
    assert report.claims[-1].verdicts == {"render": "not run", "e2e": "blocked"}


# ------------------------------------------------------------------------- matrix from recordings


@pytest.mark.parametrize(("claim", "tier", "verdict"), [
    ("NET-1", "render", "pass"),
    ("NET-1", "e2e", "pass"),
    ("NET-2", "render", "fail"),
    ("DATA-1", "render", "pass"),
    ("DATA-1", "e2e", "fail"),       # one test checks two claims: both fail with it
    ("SYNC-1", "render", "not run"),
    ("DATA-2", "render", "xfail"),
], ids=lambda v: str(v))
def test_matrix_from_recorded_results(claim: str, tier: str, verdict: str) -> None:
    rows = {c.id: c for c in rep.load_report(NEW).claims}
    assert rows[claim].verdicts[tier] == verdict


def test_worst_verdict_of_a_claims_tests_decides_and_its_evidence_is_shown() -> None:
    report = rep.build_report(RunInfo(), [result("pass"), result("flaky"), result("xfail")])
    (row,) = report.claims
    assert row.verdicts == {"render": "flaky"}
    assert row.evidence["render"] == "evidence of flaky"


# ------------------------------------------------------------------------------------------ JSON


STABLE_TOP_KEYS = {"schema_version", "outcome", "exit_code", "reasons", "run", "summary", "tiers", "claims",
                   "tests"}
# `platform` (tests) and `platforms` (claims) were added, optional and additive, for the live platforms
STABLE_TEST_KEYS = {"nodeid", "tier", "verdict", "claims", "evidence", "duration", "when", "attempts",
                    "first_failure", "diagnostics", "platform"}
# `status`, `not_verified` and `testing_tiers` (issue 15: one verdict rule), additive
STABLE_CLAIM_KEYS = {"id", "title", "section", "verdicts", "evidence", "tests", "verdict", "platforms", "status",
                     "not_verified", "testing_tiers"}


def test_json_report_keeps_its_schema_version_1_shape() -> None:
    """Changing these keys is a schema change: bump SCHEMA_VERSION and say so in the changelog."""
    data = json.loads(rep.to_json(rep.load_report(NEW)))
    jsonschema.validate(data, rep.REPORT_SCHEMA)
    assert data["schema_version"] == rep.SCHEMA_VERSION == 1
    assert set(data) == STABLE_TOP_KEYS
    assert {k for t in data["tests"] for k in t} == STABLE_TEST_KEYS
    assert {k for c in data["claims"] for k in c} == STABLE_CLAIM_KEYS
    assert (data["outcome"], data["exit_code"]) == ("claim failed", 1)


def test_json_report_round_trips(tmp_path: Path) -> None:
    first = rep.load_report(NEW)
    path = tmp_path / "report.json"
    path.write_text(rep.to_json(first))
    assert rep.load_report(path).to_dict() == first.to_dict()


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not JSON"),
    ('{"schema_version": 99, "run": {}, "tests": []}', "schema_version 99 is not 1"),
    ('{"schema_version": 1, "run": {}, "tests": [{"nodeid": "x", "tier": "render", "verdict": "great"}]}',
     "at tests/0/verdict"),
], ids=["not-json", "future-schema", "unknown-verdict"])
def test_bad_report_file_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(rep.ReportError, match=message) as caught:
        rep.load_report(path)
    assert "\n" not in str(caught.value)


def test_claim_records_one_per_claim_and_tier_with_chart() -> None:
    records = rep.load_report(NEW).claim_records()
    net2 = [r for r in records if r["id"] == "NET-2"]
    assert net2 == [{"id": "NET-2", "title": 'ESO controller pods carry vault-ingress: "true"',
                     "section": "Prerequisites", "tier": "render", "verdict": "fail",
                     "evidence": net2[0]["evidence"], "platform": "",
                     "chart": {"name": "external-secrets", "version": "1.3.2-bb.0"}}]
    assert "vault-ingress" in net2[0]["evidence"]


# -------------------------------------------------------------------------------------- Markdown


def test_markdown_headline_matrix_and_evidence() -> None:
    text = rep.to_markdown(rep.load_report(NEW))
    assert text.startswith("## ESO ↔ Vault conformance: external-secrets 1.3.2-bb.0\n")
    assert "**❌ claim failed** (exit 1, mode `nightly`)" in text
    assert '| NET-2 | ESO controller pods carry vault-ingress: "true" | Prerequisites | ❌ fail | – |' in text
    assert "- **DATA-2** [render] xfail: chart defect: data silently wins over dataFrom" in text
    assert ("`suites/e2e/test_upgrade.py::test_upgrade_keeps_secret` blocked: "
            "esoconf.report.EnvironmentNotReady") in text
    assert "Phases: cluster 47.9s" in text


def test_markdown_escapes_table_pipes() -> None:
    report = rep.build_report(RunInfo(), [result("pass")], {"NET-1": rep.ClaimInfo("a | b", "s")})
    assert "| NET-1 | a \\| b | s | ✅ pass |" in rep.to_markdown(report)


# ------------------------------------------------------------------------------------------ diff


def test_diff_lists_only_changed_verdicts() -> None:
    changes = rep.diff(rep.load_report(OLD), rep.load_report(NEW))
    assert [(c.claim, c.tier, c.old, c.new, c.kind) for c in changes] == [
        ("DATA-1", "e2e", "pass", "fail", "regressed"),
        ("NET-1", "e2e", "flaky", "pass", "changed"),
        ("NET-2", "render", "pass", "fail", "regressed"),
        ("SYNC-1", "e2e", "pass", "fail", "regressed"),
    ]


@pytest.mark.parametrize(("old", "new", "code", "expected"), [
    (OLD, NEW, 1, "regressed NET-2   [render]  pass -> fail"),
    (NEW, OLD, 0, "fixed     NET-2   [render]  fail -> pass"),
    (OLD, OLD, 0, "no claim changed its verdict"),
], ids=["regression-exits-1", "fix-exits-0", "same-run"])
def test_report_diff_cli(old: Path, new: Path, code: int, expected: str,
                         capsys: pytest.CaptureFixture[str]) -> None:
    assert rep.main(["diff", str(old), str(new)]) == code
    assert expected in capsys.readouterr().out


def test_report_diff_markdown_format(capsys: pytest.CaptureFixture[str]) -> None:
    rep.main(["diff", str(OLD), str(NEW), "--format", "markdown"])
    assert "| NET-2 | render | ✅ pass | ❌ fail | regressed |" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["diff", "missing.json", str(NEW)], ["render"], ["frobnicate"]],
                         ids=["missing-file", "missing-argument", "unknown-command"])
def test_report_cli_usage_errors_exit_3(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert rep.main(argv) == Exit.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)


def test_report_render_writes_html(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert rep.main(["render", str(NEW), "--format", "html", "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


# ------------------------------------------------------------------------------ plugin, end to end


PLUGIN_TESTS = """
import pytest
from esoconf.report import EnvironmentNotReady

ATTEMPTS = []

@pytest.fixture
def platform():
    raise EnvironmentNotReady("kind cluster did not come up: no Docker engine")

@pytest.mark.claim("NET-1")
def test_ok():
    pass

@pytest.mark.claim("NET-2")
def test_chart():
    labels = {"app.kubernetes.io/name": "external-secrets"}
    assert "vault-ingress" in labels, "pod template has no vault-ingress label"

@pytest.mark.claim("SYNC-1")
def test_env(platform):
    pass

@pytest.mark.claim("NET-3")
def test_flaky():
    ATTEMPTS.append(1)
    assert len(ATTEMPTS) > 1, "transient: first attempt"

@pytest.mark.claim("NET-4")
def test_skipped():
    pytest.skip("needs --vault-chart")
"""


@dataclass(frozen=True)
class RunCase:
    id: str
    args: tuple[str, ...]
    code: int
    verdicts: dict[str, str]


RUN_CASES = [
    RunCase("conforms", ("-k", "test_ok"), 0, {"NET-1": "pass"}),
    RunCase("chart-failure", ("-k", "test_ok or test_chart"), 1, {"NET-1": "pass", "NET-2": "fail"}),
    RunCase("environment", ("-k", "test_ok or test_env"), 2, {"SYNC-1": "blocked"}),
    RunCase("both-chart-wins", ("-k", "test_chart or test_env"), 1, {"NET-2": "fail", "SYNC-1": "blocked"}),
    RunCase("nightly-rerun-flaky", ("-k", "test_flaky", "--reruns", "1"), 0, {"NET-3": "flaky"}),
    RunCase("no-rerun-without-flag", ("-k", "test_flaky"), 1, {"NET-3": "fail"}),
    RunCase("gate-never-reruns", ("-k", "test_flaky", "--reruns", "1", "--gate"), 1, {"NET-3": "fail"}),
    RunCase("gate-fails-skipped-claims", ("-k", "test_ok or test_skipped", "--gate"), 2, {"NET-4": "skip"}),
    RunCase("skip-outside-gate", ("-k", "test_ok or test_skipped"), 0, {"NET-4": "skip"}),
    RunCase("no-tests-is-usage", ("-k", "nothing_matches"), 3, {}),
    RunCase("bad-profile-is-usage", ("--profile", "nope"), 3, {}),
    RunCase("missing-path-is-usage", ("does/not/exist.py",), 3, {}),
]


@pytest.mark.parametrize("case", RUN_CASES, ids=lambda c: c.id)
def test_plugin_exit_code_and_report(suite: pytest.Pytester, case: RunCase) -> None:
    suite.makepyfile(test_plugin=PLUGIN_TESTS)
    result = suite.runpytest("-p", "no:randomly", *case.args)
    assert result.ret == case.code, result.stdout.str()[-2000:]
    if not case.verdicts:
        return
    data = json.loads((suite.path / "artifacts" / "report.json").read_text())
    assert {c["id"]: c["verdict"] for c in data["claims"] if c["id"] in case.verdicts} == case.verdicts
    assert data["exit_code"] == case.code
    assert {"report.md", "report.html", "junit.xml"} <= {p.name for p in (suite.path / "artifacts").iterdir()}


def test_flaky_test_is_visible_in_terminal_junit_and_report(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_plugin=PLUGIN_TESTS)
    result = suite.runpytest("-k", "test_flaky", "--reruns", "1")
    result.stdout.fnmatch_lines(["*FLAKY test_plugin.py::test_flaky - first attempt: AssertionError: "
                                 "transient*", "*1 flaky*"])
    junit = (suite.path / "artifacts" / "junit.xml").read_text()
    assert '<property name="flaky" value="2"' in junit
    test = json.loads((suite.path / "artifacts" / "report.json").read_text())["tests"][0]
    assert (test["verdict"], test["attempts"]) == ("flaky", 2)


def test_report_json_option_writes_claim_records(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_plugin=PLUGIN_TESTS)
    suite.runpytest("-k", "test_ok or test_chart", "--report-json", "claims.json")
    records = json.loads((suite.path / "claims.json").read_text())
    assert [(r["id"], r["tier"], r["verdict"]) for r in records] == [("NET-1", "unit", "pass"),
                                                                    ("NET-2", "unit", "fail")]
    assert records[1]["evidence"].startswith("AssertionError: pod template has no vault-ingress label")


def test_phases_and_diagnostics_are_linked(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_plugin=PLUGIN_TESTS)
    artifacts = suite.path / "artifacts"
    diag = rep.diagnostics_dir(artifacts, "test_plugin.py::test_chart")
    diag.mkdir(parents=True)
    (diag / "events.txt").write_text("events")
    (artifacts / "phases.json").write_text(json.dumps({"phases": {"cluster": 41.5, "vault": 12.0}}))
    suite.runpytest("-k", "test_chart")
    data = json.loads((artifacts / "report.json").read_text())
    assert data["run"]["phases"] == {"cluster": 41.5, "vault": 12.0}
    assert data["tests"][0]["diagnostics"] == ["diagnostics/test_plugin.py_test_chart/events.txt"]


BREAKING_CONFTEST = """
import os
import pytest

def pytest_collection_modifyitems(config, items):
    if os.environ.get("BREAK_COLLECTION"):
        raise pytest.UsageError("--doc nowhere.md: cannot read it (No such file or directory)")
"""


def _table_rows_are_whole(markdown: str) -> None:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    cells = {line.count("|") for line in rows}
    assert len(cells) <= 1, f"a Markdown table whose rows have different cell counts: {rows[:2]}"


def test_each_run_has_its_folder_and_a_failed_run_keeps_the_last_complete_report(
        suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    suite.makepyfile(test_plugin=PLUGIN_TESTS)
    suite.makeconftest(BREAKING_CONFTEST)
    artifacts = suite.path / "artifacts"
    assert suite.runpytest("-k", "test_ok").ret == 0
    complete = (artifacts / "report.json").read_text()
    first_run = (artifacts / "latest").resolve()
    assert json.loads((first_run / "report.json").read_text())["exit_code"] == 0
    assert (artifacts / "junit.xml").is_file() and (first_run / "junit.xml").is_file()

    # environment only: nothing was checked, so the last complete report stays
    assert suite.runpytest("-k", "test_env").ret == 2
    env_run = (artifacts / "latest").resolve()
    assert env_run != first_run and json.loads((env_run / "report.json").read_text())["exit_code"] == 2
    assert (artifacts / "report.json").read_text() == complete

    # a usage error at collection: its own folder says why, in words, with a table that renders
    monkeypatch.setenv("BREAK_COLLECTION", "1")
    result = suite.runpytest("-k", "test_ok")
    assert result.ret == 3
    usage_run = (artifacts / "latest").resolve()
    data = json.loads((usage_run / "report.json").read_text())
    assert data["exit_code"] == 3
    assert data["reasons"] == ["usage error: --doc nowhere.md: cannot read it (No such file or directory)"]
    markdown = (usage_run / "report.md").read_text()
    assert "--doc nowhere.md: cannot read it" in markdown
    _table_rows_are_whole(markdown)
    assert (artifacts / "report.json").read_text() == complete
    assert sorted(p.name for p in (artifacts / "runs").iterdir()) == sorted(
        p.name for p in (first_run, env_run, usage_run))
    result.stdout.fnmatch_lines(["*no verdict was reached: the last complete report*is kept*"])


def test_old_run_folders_are_pruned(tmp_path: Path) -> None:
    report = rep.build_report(rep.RunInfo(), [rep.TestResult("t::a", "render", "pass", ["NET-1"])])
    for n in range(rep.KEEP_RUNS + 3):
        rep.write_run(report, tmp_path, f"2026{n:04d}")
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == rep.KEEP_RUNS and runs[-1] == f"2026{rep.KEEP_RUNS + 2:04d}"
    assert (tmp_path / "latest").resolve().name == runs[-1]


def test_markdown_tables_render_with_and_without_tiers() -> None:
    for tests in ([], [rep.TestResult("t::a", "render", "pass", ["NET-1"])]):
        _table_rows_are_whole(rep.to_markdown(rep.build_report(rep.RunInfo(), tests, rep.default_catalog())))


SCRATCH_CONFTEST = """
import pathlib
import pytest
from esoconf.report_plugin import scratch_folder

def pytest_sessionstart(session):
    folder = pathlib.Path("artifacts/render/session-x")
    folder.mkdir(parents=True)
    (folder / "values.yaml").write_text("a: 1")
    scratch_folder(session.config, folder)
"""


@pytest.mark.parametrize(("selection", "usage_error", "kept"), [("test_ok", False, False), ("test_chart", False, True),
                                                              ("test_chart", True, False)],
                         ids=["pass", "fail", "usage-error"])
def test_run_scratch_folders_are_removed_unless_a_check_failed(suite: pytest.Pytester, selection: str,
                                                               usage_error: bool, kept: bool,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    suite.makepyfile(test_plugin=PLUGIN_TESTS)
    suite.makeconftest(SCRATCH_CONFTEST + BREAKING_CONFTEST)
    if usage_error:
        monkeypatch.setenv("BREAK_COLLECTION", "1")
    assert suite.runpytest("-k", selection).ret == (3 if usage_error else 1 if kept else 0)
    assert (suite.path / "artifacts" / "render" / "session-x").exists() == kept


def test_render_tier_leaves_no_scratch(suite: pytest.Pytester, tmp_path: Path) -> None:
    from mutants import helm_binary, run_render_tier

    run = run_render_tier(suite, tmp_path, helm_binary())
    assert run.pytest.ret == 0
    assert not list((tmp_path / "artifacts").glob("render/session-*")), "the render tier left its values files"


def test_tools_really_used_are_in_the_header_report_and_junit(suite: pytest.Pytester, fake_tool: Any) -> None:
    """A registry package may ship another helm than versions.yaml pins: the run says which one it used."""
    suite.makepyfile("import pytest\n\n@pytest.mark.render\n@pytest.mark.claim('NET-1')\ndef test_r():\n    pass\n")
    helm = fake_tool("helm", "v4.1.4")
    result = suite.runpytest("--helm", str(helm))
    result.stdout.fnmatch_lines(["tools used: helm v4.1.4 (option, pinned v3.17.2)"])
    data = json.loads((suite.path / "artifacts" / "report.json").read_text())
    assert data["run"]["environment"]["helm"] == "v4.1.4 (option, pinned v3.17.2)"
    assert '<property name="helm_version" value="v4.1.4 (option, pinned v3.17.2)"' in (
        suite.path / "artifacts" / "junit.xml").read_text()


def test_a_known_defect_in_one_variation_does_not_read_as_the_docs_own_case_failing() -> None:
    tests = [TestResult("suites/render/test_stores.py::test_tok[doc]", "render", "pass", ["TOK-2"], "ok"),
             TestResult("suites/render/test_stores.py::test_tok[no-secret-namespace]", "render", "xfail", ["TOK-2"],
                        "a token store without auth.namespace is referent")]
    (row,) = rep.build_report(RunInfo(), tests).claims
    assert row.verdicts == {"render": "xfail"}
    assert row.evidence["render"] == ("1 of 2 checks pass (doc); xfail only in no-secret-namespace: a token store "
                                      "without auth.namespace is referent")


@pytest.mark.integration  # a pytest run with xdist workers
def test_report_is_written_under_xdist(suite: pytest.Pytester) -> None:
    """The xdist controller has no items of its own: the verdict comes from the reports that reach it."""
    suite.makepyfile(test_plugin=PLUGIN_TESTS)
    result = suite.runpytest("-n", "2", "-k", "test_ok or test_chart")
    assert result.ret == 1, result.stdout.str()[-2000:]
    data = json.loads((suite.path / "artifacts" / "report.json").read_text())
    assert {c["id"]: c["verdict"] for c in data["claims"] if c["id"] in ("NET-1", "NET-2")} == {
        "NET-1": "pass", "NET-2": "fail"}


def test_a_live_verdict_names_its_platform() -> None:
    tests = [rep.TestResult("suites/e2e/test_sync.py::test_sync[token-data]", "e2e", "pass", ["TOK-1"],
                            platform="local"),
             rep.TestResult("suites/e2e/test_prerequisites.py::test_mesh", "e2e", "skip", ["MESH-1"],
                            evidence="not verified on platform local: no mesh", platform="local")]
    report = rep.build_report(rep.RunInfo(), tests)
    rows = {c.id: c for c in report.claims}
    assert rows["TOK-1"].platforms == {"e2e": "local"} and rows["MESH-1"].verdicts == {"e2e": "skip"}
    assert {r["id"]: r["platform"] for r in report.claim_records()} == {"MESH-1": "local", "TOK-1": "local"}
    assert "pass (local)" in rep.to_markdown(report) or "(local)" in rep.to_markdown(report)
