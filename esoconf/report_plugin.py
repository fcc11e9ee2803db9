"""Reporting plugin: the conformance report (JSON, Markdown, HTML) in --artifacts-dir, JUnit by default
beside it, redaction of everything pytest prints or writes, rerun-once for nightly runs, and the exit code.

Exit codes (see :mod:`esoconf.report`): 0 conforms, 1 a claim failed, 2 the environment could not be
brought up, 3 usage or configuration error (pytest's own usage error 4 and "no tests collected" 5 map to 3),
130 interrupted (SIGINT, SIGTERM, SIGHUP).

Modes:
* ``--gate``: no reruns, every error is a failure, a skipped claim is "not verified" and fails the gate.
* nightly (``--reruns 1``): a failed test is run once more; if it then passes it is reported as ``flaky``
  (terminal, JUnit property, report), never as a plain pass. Environment failures are never rerun.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _pytest import junitxml
from _pytest.runner import runtestprotocol

from . import config as cfg
from .evidence import one_line
from .gate import TOOLS_KEY, fallback_of
from .known_defects import not_the_known_defect
from .live.controller import SKEW_PROPERTY
from .redact import REDACT, RedactingStream, install_log_redaction, redact_report, uninstall_log_redaction
from .report.model import (
    HOLDS_HERE,
    REASON_MAX,
    RUNS_DIR,
    EnvironmentNotReady,
    Exit,
    Report,
    RunInfo,
    TestResult,
    build_report,
    chart_identity,
)
from .report.store import (
    default_catalog,
    diagnostics_dir,
    list_diagnostics,
    read_fidelity,
    read_phases,
    write_claim_records,
    write_run,
)
from .stops import CHART, ENVIRONMENT_STOP, RunStopped, mark_report, stop_of, worst_stop
from .tools import kubectl_skew

XPASS_STRICT = "[XPASS(strict)]"
JUNIT_FILE = "junit.xml"
SELF_TESTS_DIR = "self-tests"  # the self-tests' JUnit: apart from the conformance reports


@dataclass
class _State:
    artifacts_dir: Path
    reruns: int
    mode: str
    started: float = field(default_factory=time.time)
    reports: dict[str, list[pytest.TestReport]] = field(default_factory=dict)
    interrupted: tuple[str, int | None, str] | None = None  # kind, returncode, message
    collect_errors: int = 0
    run_id: str = ""
    scratch: list[Path] = field(default_factory=list)  # removed when the run ends, kept when it failed
    report: Report | None = None
    written: dict[str, Path] = field(default_factory=dict)
    write_error: str = ""


STATE_KEY = pytest.StashKey[_State]()
RECORDER = "esoconf-report-recorder"


# ------------------------------------------------------------------------ usage errors -> exit 3


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, Any, Any]:
    """Usage errors raised while configuring or collecting (pytest would exit 4) exit 3 here."""
    try:
        return (yield)
    except pytest.UsageError as exc:
        for line in exc.args:
            print(f"ERROR: {REDACT(str(line))}", file=sys.stderr)
        environment = bool(getattr(exc, ENVIRONMENT_STOP, False))
        _record_early_usage_error(config, " ".join(str(a) for a in exc.args), environment)
        return int(Exit.ENVIRONMENT if environment else Exit.USAGE)


def _record_early_usage_error(config: pytest.Config, message: str, environment: bool = False) -> None:
    """A usage error before the session started (a bad setting): this run's folder says why, like every run's;
    the last complete report stays. Best effort: the artifacts folder may be the bad input itself."""
    state = config.stash.get(STATE_KEY, None)
    if (state is not None and state.report is not None) or config.option.collectonly or hasattr(config,
                                                                                                "workerinput"):
        return  # the session's own report says it
    folder = state.artifacts_dir if state is not None else Path(
        config.getoption("esoconf_artifacts_dir", None) or os.environ.get("ESOCONF_ARTIFACTS_DIR") or "artifacts")
    run_id = state.run_id if state is not None else _new_run_id()
    problem = "environment" if environment else "usage"
    run = RunInfo(problem=problem, problem_detail=one_line(f"{problem} error: {message}" if not environment else
                                                           message, REASON_MAX),
                  started=datetime.now(UTC).isoformat(timespec="seconds"))
    with contextlib.suppress(OSError):
        write_run(build_report(run, [], default_catalog()), folder, run_id)


def _new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ") + f"-{os.getpid()}"


# -------------------------------------------------------------------------- configure/unconfigure


def pytest_configure(config: pytest.Config) -> None:
    # runs after esoconf.plugin's (tryfirst) configure resolved the settings, before junitxml's
    from .plugin import get_config

    resolved = get_config(config)
    gate = bool(resolved.gate)
    reruns = 0 if gate else int(resolved.reruns or 0)
    mode = "gate" if gate else ("nightly" if reruns else "standard")
    artifacts = Path(resolved.artifacts_dir or "artifacts")
    run_id = _new_run_id()
    config.stash[STATE_KEY] = state = _State(artifacts_dir=artifacts, reruns=reruns, mode=mode, run_id=run_id)
    config.pluginmanager.register(_Recorder(state), RECORDER)
    if config.option.xmlpath is None and not config.option.collectonly and not hasattr(config, "workerinput"):
        # into this run's folder; copied beside the last complete report when the run completes
        config.option.xmlpath = str(artifacts / RUNS_DIR / run_id / JUNIT_FILE)
    install_log_redaction()
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    writer = getattr(terminal, "_tw", None)
    if writer is not None and not isinstance(getattr(writer, "_file", None), RedactingStream):
        writer._file = RedactingStream(writer._file)


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall_log_redaction()
    recorder = config.pluginmanager.get_plugin(RECORDER)
    if recorder is not None:
        config.pluginmanager.unregister(recorder)


# ---------------------------------------------------------------------------------- test reports


def _tier(item: pytest.Item) -> str:
    return next((t for t in ("e2e", "render") if item.get_closest_marker(t)), "unit")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    redact_report(report)
    # plain attributes travel with the report through xdist's serialization
    report.esoconf_claims = [c for m in item.iter_markers("claim") for c in m.args]  # type: ignore[attr-defined]
    report.esoconf_tier = _tier(item)  # type: ignore[attr-defined]
    if call.excinfo is not None and call.excinfo.errisinstance(EnvironmentNotReady):
        report.esoconf_environment = True  # type: ignore[attr-defined]
    mark_report(report, call.excinfo)
    wrong = not_the_known_defect(call.excinfo) if hasattr(report, "wasxfail") else ""
    if wrong:  # the xfail's exception type matched, but this is not the catalogued defect: a failure
        del report.wasxfail
        report.outcome, report.longrepr = "failed", wrong
    return report


def pytest_collectreport(report: pytest.CollectReport) -> None:
    redact_report(report)


def _failed(reports: list[pytest.TestReport]) -> pytest.TestReport | None:
    return next((r for r in reports if r.failed), None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Nightly mode: run a failed test once more; report the final attempt and mark it flaky."""
    state = item.config.stash[STATE_KEY]
    if state.reruns <= 0:
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    attempts, first_failure = 1, ""
    while (failed := _failed(reports)) and not getattr(failed, "esoconf_environment", False) \
            and attempts <= state.reruns:
        first_failure = first_failure or _evidence(failed)
        item._report_sections = []  # captured output of the failed attempt
        attempts += 1
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
    for report in reports:
        if attempts > 1:
            report.esoconf_attempts = attempts  # type: ignore[attr-defined]
            report.esoconf_first_failure = first_failure  # type: ignore[attr-defined]
            # JUnit takes a test's properties from its teardown report: put it on each
            report.user_properties.append(("flaky" if not failed else "failed_attempts", str(attempts)))
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    if report.when == "call" and report.passed and getattr(report, "esoconf_attempts", 1) > 1:
        return "flaky", "R", ("FLAKY", {"yellow": True})
    return None


class _Recorder:
    """Per-run hooks that need the run's state but get no config (registered in pytest_configure)."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def pytest_sessionstart(self) -> None:
        self.state.started = time.time()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # on the xdist controller too: the report is built where the reports arrive
        self.state.reports.setdefault(report.nodeid, []).append(report)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        value = excinfo.value
        if "stopping after" in str(value):  # -x / --maxfail (xdist raises it as an interrupt): the tests decide
            return
        if isinstance(value, pytest.exit.Exception):
            self.state.interrupted = ("exit", value.returncode, str(value.msg))
        elif "during collection" in str(value):
            self.state.interrupted = ("collection", None, str(value))
        else:
            self.state.interrupted = ("interrupted", None, str(value) or "interrupted (Ctrl-C)")


# ------------------------------------------------------------------------- results and the report


def _evidence(report: pytest.TestReport) -> str:
    from .plugin import _evidence as plugin_evidence

    return one_line(plugin_evidence(report))


def result_of(nodeid: str, reports: list[pytest.TestReport], artifacts_dir: Path) -> TestResult:
    """One test's verdict from its setup/call/teardown reports."""
    by_when = {r.when: r for r in reports}
    main = by_when.get("call") or by_when.get("setup") or reports[0]
    failed = next((r for r in reports if r.failed), None)
    decisive = failed or main
    stop = next((s for s in map(stop_of, reports) if s), None)
    if stop is not None or any(getattr(r, "esoconf_environment", False) for r in reports):
        verdict = "blocked"
    elif failed is not None:
        verdict = "xpass" if str(failed.longrepr or "").startswith(XPASS_STRICT) else (
            "fail" if failed.when == "call" else "error")
    elif hasattr(main, "wasxfail"):
        verdict = "xfail" if main.skipped else "xpass"
    elif main.skipped:
        verdict = "skip"
    else:
        verdict = "flaky" if getattr(main, "esoconf_attempts", 1) > 1 else "pass"
    attempts = getattr(main, "esoconf_attempts", 1)
    first_failure = getattr(main, "esoconf_first_failure", "")
    evidence = f"not verified: {stop[1]}" if stop else _evidence(decisive)
    if verdict == "flaky":
        evidence = f"passed on attempt {attempts}; attempt 1 failed: {first_failure}"
    skew = _property(reports, SKEW_PROPERTY)
    if skew:  # a live verdict on another controller than the chart deploys says so
        evidence = f"{skew}: {evidence}"
    diag_dir = diagnostics_dir(artifacts_dir, nodeid)
    found = sorted(diag_dir.rglob("*")) if diag_dir.is_dir() else []
    diagnostics = [p.relative_to(artifacts_dir).as_posix() for p in found if p.is_file()]
    return TestResult(
        nodeid=nodeid, tier=getattr(main, "esoconf_tier", "unit"), verdict=verdict,
        claims=list(getattr(main, "esoconf_claims", [])), evidence=one_line(evidence),
        duration=round(sum(r.duration for r in reports), 3), when=decisive.when or "call",
        attempts=attempts, first_failure=first_failure,
        diagnostics=diagnostics, platform=_platform(reports))


RAN = "ran:"  # user-property prefix: what really ran (the live platform's Vault server, ESO controller, ...)


def ran_facts(all_reports: Iterable[list[pytest.TestReport]]) -> dict[str, str]:
    """``ran:<name>`` user properties of the tests, for the report's environment: it then says what ran (e.g.
    OpenBao 2.7.2 as a local process), beside the pins, also under xdist (the properties travel with the reports)."""
    return {name[len(RAN):]: REDACT(str(value)) for reports in all_reports for report in reports
            for name, value in report.user_properties if name.startswith(RAN)}


def _property(reports: list[pytest.TestReport], wanted: str) -> str:
    for report in reports:
        for name, value in report.user_properties:
            if name == wanted:
                return str(value)
    return ""


def _platform(reports: list[pytest.TestReport]) -> str:
    """The live platform a test recorded (user property ``platform``), "" for the other tiers."""
    return _property(reports, "platform")


REWRITE_PROPERTY = "rewrite"  # esoconf.live.scenario: one rewrite of the chart's rendered objects


def rewritten_fields(all_reports: Iterable[list[pytest.TestReport]]) -> dict[str, list[str]]:
    """platform -> the fields of the chart's rendered objects the live cases rewrote to run them (each test's
    own ``field: before → after`` lines are its ``rewrite`` properties)."""
    found: dict[str, list[str]] = {}
    for reports in all_reports:
        platform = _platform(reports)
        for report in reports:
            for name, value in report.user_properties:
                field_ = str(value).split(":", 1)[0]
                if name == REWRITE_PROPERTY and platform and field_ not in found.setdefault(platform, []):
                    found[platform].append(field_)
    return found


def tool_versions(config: pytest.Config, resolved: cfg.Config) -> dict[str, str]:
    """The tools this run really uses, each with where it came from and the pin when it differs (a registry
    package may ship another version than manifests/versions.yaml pins)."""
    shown = {}
    for name, tool in sorted(config.stash.get(TOOLS_KEY, {}).items()):
        pinned = str(resolved.versions.get("tools", {}).get(name, {}).get("version", ""))
        note = f", pinned {pinned}" if pinned and pinned != tool.version_str else ""
        shown[name] = f"{tool.version_str} ({tool.source}{note})"
    return shown


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    from .plugin import get_config

    if config.option.collectonly or STATE_KEY not in config.stash:
        return []
    resolved = get_config(config)
    tools = tool_versions(config, resolved)
    lines = [f"tools used: {', '.join(f'{n} {v}' for n, v in tools.items())}"] if tools else []
    kubectl = config.stash.get(TOOLS_KEY, {}).get("kubectl")
    # kind runs the pinned Kubernetes version; an existing cluster's own version is the doctor's to check
    skew = "" if resolved.kubeconfig else kubectl_skew(kubectl.version if kubectl else None,
                                                        resolved.kubernetes_version)
    if skew:
        lines.append(f"WARNING: {skew}")
    xml = config.stash.get(junitxml.xml_key, None)
    for name, shown in tools.items():
        if xml is not None:
            xml.add_global_property(f"{name}_version", shown)
    return lines


def _environment(config: pytest.Config, resolved: cfg.Config) -> dict[str, str]:
    env = {k: v for k, v in resolved.junit_properties().items() if v != "-"}
    env["profile"] = str(resolved.profile)
    env["images"] = str(resolved.images)
    env.update(tool_versions(config, resolved))
    env["python"] = platform.python_version()
    env["pytest"] = pytest.__version__
    return {k: REDACT(v) for k, v in env.items()}


def _problem(state: _State, exitstatus: int) -> tuple[str, str]:
    if exitstatus == pytest.ExitCode.USAGE_ERROR:
        # sessionfinish runs while the UsageError that stopped the session propagates
        error = sys.exc_info()[1]
        message = str(error) if isinstance(error, pytest.UsageError) else ""
        return "usage", f"usage error: {message}" if message else "usage error (see the ERROR line)"
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        return "usage", ("no tests were collected: check the paths and the -m/-k selection (the live tier "
                          "is deselected unless asked for: -m e2e)")
    if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        return "usage", "pytest internal error (see the traceback above)"
    if state.interrupted:
        kind, code, message = state.interrupted
        if kind == "exit" and code == Exit.CLAIM_FAILED:  # a stop is never a pass: the chart's, one line
            return "chart", message
        if kind == "exit" and code != Exit.USAGE:
            return "environment", message
        return ("collection" if kind == "collection" else "interrupted"), message
    return "", ""


PINS = ("kubernetes_version", "eso_image", "vault_version", "istio_version")  # what kind would install


def observed_environment(environment: dict[str, str], facts: dict[str, str], live: bool) -> None:
    """The environment shows what ran (observed by the live platform), never a pin as if it had: without a live
    test there is no platform; on a platform that did not install the pins they are labelled as pins."""
    if not live:
        environment.pop("platform", None)
    if facts.get("platform", "kind") not in ("kind", "existing"):
        for pin in PINS:
            if pin in environment:
                environment[f"{pin} (pinned, not what ran)"] = environment.pop(pin)
    environment.update(facts)


def run_scope(config: pytest.Config, resolved: cfg.Config, tests: list[TestResult]) -> str:
    """How the user narrowed this run ("" for the full conformance run: the render and live tiers, on a
    platform nobody chose or one that lacks no capability, no -k): a scoped run is judged on its own scope."""
    from .live.capabilities import GAPS

    narrowed = []
    tiers = {t.tier for t in tests}
    if "e2e" in tiers and resolved.platform in GAPS and GAPS[resolved.platform] and not fallback_of(resolved) \
            and resolved.source("platform") != "default":
        narrowed.append(f"--platform {resolved.platform}")
    if not {"render", "e2e"} <= tiers and not fallback_of(resolved):
        narrowed.append(f"tiers run: {', '.join(sorted(tiers)) or 'none'}")
    if config.option.keyword:
        narrowed.append(f"-k {config.option.keyword}")
    return "; ".join(narrowed)


def build_session_report(session: pytest.Session, exitstatus: int) -> Report:
    from .plugin import get_config

    config = session.config
    state = config.stash[STATE_KEY]
    resolved = get_config(config)
    problem, detail = _problem(state, int(exitstatus))
    if CHART_FAILURE in config.stash:
        problem, detail = "chart", config.stash[CHART_FAILURE]
    stop = worst_stop([s for reports in state.reports.values() for s in map(stop_of, reports) if s])
    if stop and not problem:  # the worst stop decides: usage, then the chart's, then the environment's
        problem, detail = stop
    chart = chart_identity(resolved.chart, resolved.chart_version)
    if resolved.note:  # `--chart reference`: said beside the chart in every report
        chart["note"] = resolved.note
    run = RunInfo(
        chart=chart, mode=state.mode,
        environment=_environment(config, resolved), phases=read_phases(state.artifacts_dir),
        started=datetime.fromtimestamp(state.started, UTC).isoformat(timespec="seconds"),
        duration=round(time.time() - state.started, 2), pytest_exit=int(exitstatus), problem=problem,
        problem_detail=one_line(detail, REASON_MAX), diagnostics=list_diagnostics(state.artifacts_dir))
    run.fidelity, skew = read_fidelity(state.artifacts_dir)
    run.controller_skew = skew or next((s for r in state.reports.values() if (s := _property(r, SKEW_PROPERTY))), "")
    run.skew_allowed = bool(resolved.allow_controller_skew)
    for name, fields in rewritten_fields(state.reports.values()).items():
        run.fidelity.setdefault(name, []).append(
            f"changed to run each case, in the values given to the chart or on its rendered objects (before → after "
            f"in each test's `rewrite` properties): {', '.join(fields)}")
    tests = [result_of(nodeid, reports, state.artifacts_dir) for nodeid, reports in state.reports.items()]
    observed_environment(run.environment, ran_facts(state.reports.values()), live=any(t.platform for t in tests))
    run.scope, run.fallback = run_scope(config, resolved, tests), fallback_of(resolved)
    return build_report(run, tests, default_catalog())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput") or STATE_KEY not in config.stash:
        return
    state = config.stash[STATE_KEY]
    if config.option.collectonly:
        return
    run_dir = state.artifacts_dir / RUNS_DIR / state.run_id
    junit = run_dir / JUNIT_FILE
    # kept only where a check failed (its files reproduce it); a usage error or a passing run leaves nothing
    _clean_scratch(state, failed=session.testsfailed > 0 or CHART_FAILURE in config.stash)
    if not _checks_claims(session, state) and exitstatus in (0, 1):
        # the suite's own self-tests: no conformance verdict to give, and the last report stays whole
        if junit.is_file():
            (state.artifacts_dir / SELF_TESTS_DIR).mkdir(parents=True, exist_ok=True)
            shutil.move(junit, state.artifacts_dir / SELF_TESTS_DIR / JUNIT_FILE)
            _remove_if_empty(run_dir)
        return
    report = build_session_report(session, exitstatus)
    state.report = report
    try:
        state.written = write_run(report, state.artifacts_dir, state.run_id, extra=[junit])
        from .plugin import get_config

        claims_json = get_config(config).report_json
    except OSError as exc:
        state.write_error = f"cannot write the report into {state.artifacts_dir}: {exc.strerror}"
        session.exitstatus = int(Exit.USAGE)
        return
    if claims_json:
        try:
            state.written["claims"] = write_claim_records(report, Path(claims_json))
        except OSError as exc:
            state.write_error = f"--report-json {claims_json}: cannot write it ({exc.strerror})"
            session.exitstatus = int(Exit.USAGE)
            return
    session.exitstatus = int(report.exit_code)


def _checks_claims(session: pytest.Session, state: _State) -> bool:
    """A conformance run (render/e2e/claim tests selected), not the suite's self-tests. Under xdist the
    controller has no items: the reports that reached it say."""
    if any(item.get_closest_marker(m) for item in session.items for m in ("render", "e2e", "claim")):
        return True
    return any(getattr(r, "esoconf_claims", None) or getattr(r, "esoconf_tier", "unit") != "unit"
               for reports in state.reports.values() for r in reports)


CHART_FAILURE = pytest.StashKey[str]()


def stop_for_chart_failure(config: pytest.Config, cause: str | None) -> None:
    """Stop the run before any test when the chart under test cannot be rendered at all (``cause``: one line,
    helm's own): a chart failure (exit 1) reported once, with no claim verdict (nothing was checked)."""
    if cause:
        config.stash[CHART_FAILURE] = cause
        if hasattr(config, "workerinput"):  # under xdist pytest.exit crashes the worker: each test says it instead
            raise RunStopped(CHART, cause)
        pytest.exit("the chart under test does not render (the conformance summary above says why)",
                    returncode=int(Exit.CLAIM_FAILED))


def scratch_folder(config: pytest.Config, folder: Path) -> Path:
    """``folder`` is this run's scratch space (e.g. the render tier's values files): removed when the run
    ends, so runs do not pile folders up; kept when the run failed (its files help reproduce the failure;
    the next passing run does not remove them)."""
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.scratch.append(folder)
    return folder


def _clean_scratch(state: _State, failed: bool) -> None:
    for folder in state.scratch:
        if not failed:
            shutil.rmtree(folder, ignore_errors=True)
            _remove_if_empty(folder.parent)


def _remove_if_empty(folder: Path) -> None:
    for path in (folder, folder.parent):
        try:
            path.rmdir()
        except OSError:
            return


TERMINAL_COLOURS = {Exit.CONFORMS: "green", Exit.CLAIM_FAILED: "red", Exit.ENVIRONMENT: "yellow"}


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.report is None and not state.write_error:
        return
    write = terminalreporter.write_line
    if state.write_error:
        write(f"conformance report: {state.write_error}", red=True)
        return
    report = state.report
    assert report is not None
    flaky = [t for t in report.tests if t.verdict == "flaky"]
    if flaky:
        terminalreporter.write_sep("=", "flaky tests (failed, then passed on rerun)", yellow=True)
        for test in flaky:
            write(f"FLAKY {test.nodeid} - first attempt: {test.first_failure}")
    colour = "cyan" if report.outcome == HOLDS_HERE else TERMINAL_COLOURS.get(report.exit_code)
    note = f" ({report.run.chart['note']})" if report.run.chart.get("note") else ""
    terminalreporter.write_sep("-", f"conformance: {report.headline} (exit {int(report.exit_code)}){note}",
                               **({colour: True} if colour else {}))
    # a usage error pytest stopped on is said by its one ERROR line (printed once); a stop the tests raised is not
    if not (report.run.problem == "usage" and report.run.problem_detail.startswith("usage error")):
        for reason in report.reasons[:10]:
            write(f"  {reason}")
    write(f"  report: {state.written.get('report', '')} (this run: {state.written.get('run', '')})")
    if not report.complete:
        write("  (no verdict was reached: the last complete report in the artifacts folder is kept)")
    if "claims" in state.written:
        write(f"  claim records: {state.written['claims']}")
