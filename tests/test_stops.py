"""A stop is never a pass (esoconf.stops): a bring-up that fails, a gate that stops, a controller the chart keeps
from running end the run with the cause in one line and exit 2 (environment), 1 (the chart's defect) or 3
(usage), the same with and without pytest-xdist workers, and never an xdist INTERNALERROR."""

from __future__ import annotations

import configparser
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from esoconf.config import PROJECT_ROOT
from esoconf.platforms.local.bringup import LocalChartFailed, LocalUnavailable, controller_failure
from esoconf.platforms.local.processes import ProcessDied
from esoconf.report import Exit

CHART = PROJECT_ROOT / "tests" / "fixtures" / "charts" / "external-secrets"
DOC = PROJECT_ROOT / "tests" / "fixtures" / "docs" / "VAULT_INTEGRATION.md"

# a platform fixture that stops the way suites/e2e/conftest.py's does (one bring-up, told to every worker)
STOPPING_PLATFORM = """
import pytest
from esoconf.stops import RunStopped, read_stop, write_stop

@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    stop_file = tmp_path_factory.getbasetemp().parent / "bring-up.stop"
    stopped = read_stop(stop_file)
    if stopped is not None:
        raise stopped
    stop = RunStopped({kind!r}, {cause!r})
    write_stop(stop_file, stop)
    raise stop

@pytest.mark.e2e
@pytest.mark.claim("TOK-1")
@pytest.mark.parametrize("case", range(6))
def test_live(platform, case):
    pass
"""

# this machine can run the live tier (the platform fixture above is what stops)
CAN_RUN_HERE = """
from esoconf import gate
gate.live_blockers = lambda resolved, tiers: {}
"""


STOP_TABLE = [
    pytest.param("environment", "eso-controller exited with code 1 (log x): ", Exit.ENVIRONMENT,
                 "environment not ready: eso-controller exited with code 1", id="environment"),
    pytest.param("chart", "chart defect: the chart's RBAC keeps the ESO controller from running", Exit.CLAIM_FAILED,
                 "chart failure: chart defect: the chart's RBAC keeps the ESO controller from running", id="chart"),
    pytest.param("usage", "--platform local needs the chart under test", Exit.USAGE,
                 "--platform local needs the chart under test", id="usage"),
]


@pytest.mark.integration  # a pytest subprocess, with and without xdist workers
@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize(("kind", "cause", "code", "reason"), STOP_TABLE)
def test_a_bring_up_stop_is_one_line_and_never_a_pass(suite: pytest.Pytester, workers: str, kind: str, cause: str,
                                                      code: Exit, reason: str) -> None:
    suite.makepyfile(STOPPING_PLATFORM.format(kind=kind, cause=cause))
    suite.makeconftest(CAN_RUN_HERE)

    result = suite.runpytest_subprocess("-m", "e2e", "-n", workers, "-p", "xdist")

    output = result.stdout.str() + result.stderr.str()
    assert result.ret == code, output[-3000:]
    assert "INTERNALERROR" not in output and "Traceback" not in output and "crashed" not in output
    summary = output[output.index("- conformance:"):].splitlines()
    assert summary[1].strip().startswith(reason), summary[:3]
    report = json.loads((suite.path / "artifacts" / "runs").joinpath(
        next((suite.path / "artifacts" / "runs").iterdir()).name, "report.json").read_text())
    assert report["exit_code"] == code and {t["verdict"] for t in report["tests"]} == {"blocked"}
    assert "conforms" not in report["outcome"]


def _local_tox_command(workers: str) -> list[str]:
    """The pytest command `scripts/tox -e local` runs (tox.ini), with ``workers`` for its -n."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(PROJECT_ROOT / "tox.ini")
    command = ini["testenv:local"]["commands"].strip().replace("{env:ESOCONF_LOCAL_WORKERS:3}", workers)
    argv = shlex.split(command.replace("{posargs}", ""))
    assert argv[0] == "pytest"
    return [sys.executable, "-m", *argv]


@pytest.mark.integration  # the local env's pytest command, with and without xdist workers
@pytest.mark.parametrize("workers", ["0", "3"])
def test_local_tox_env_without_the_charts_controller_binary_says_so_in_one_line(tmp_path: Path,
                                                                                workers: str) -> None:
    """Item 8 of issue 15: the local env (-n 3 by default) on a chart whose controller binary is missing was an
    xdist INTERNALERROR (IndexError / crashitem assertion, exit 3); it is one line naming the binary, exit 2."""
    missing = tmp_path / "no-such-eso-controller"
    argv = [*_local_tox_command(workers), "-p", "no:cacheprovider", "--chart", str(CHART), "--doc", str(DOC),
            "--eso-version", "v0.16.2", "--eso-bin", str(missing), "--artifacts-dir", str(tmp_path / "artifacts")]

    done = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)

    output = done.stdout + done.stderr
    assert done.returncode == Exit.ENVIRONMENT, output[-3000:]
    assert "INTERNALERROR" not in output and "Traceback" not in output
    summary = output[output.index("conformance: environment not ready (exit 2)"):].splitlines()
    assert summary[1].strip().startswith("environment not ready: e2e tier cannot run here:"), summary[:3]
    assert f"eso (--eso-bin {missing} is not an executable file)" in summary[1]
    assert "\n" not in summary[1]


CONTROLLER_FAILURES = [
    pytest.param('eso exited with code 1 (log l): E1204 reflector.go: "pushsecrets.external-secrets.io is forbidden: '
                 'User \\"system:serviceaccount:external-secrets:eso\\" cannot list resource \\"pushsecrets\\" in API '
                 'group \\"external-secrets.io\\" at the cluster scope"', LocalChartFailed,
                 "chart defect: the chart's RBAC keeps the ESO controller from running: its ServiceAccount cannot "
                 "list pushsecrets", id="rbac"),
    pytest.param("eso exited with code 1 (log l): Error: unknown flag: --no-such-flag", LocalChartFailed,
                 "chart defect: the ESO controller refuses the arguments the chart renders: unknown flag: "
                 "--no-such-flag", id="args"),
    pytest.param("eso exited with code 1 (log l): ", LocalUnavailable, "the ESO controller /bin/false did not run",
                 id="bin-false"),
    pytest.param("eso: cannot start /nope: No such file or directory", LocalUnavailable,
                 "the ESO controller /bin/false did not run", id="missing-binary"),
]


@pytest.mark.parametrize(("log", "kind", "starts"), CONTROLLER_FAILURES)
def test_a_controller_that_does_not_run_is_the_charts_defect_only_when_its_log_says_so(
        log: str, kind: type, starts: str) -> None:
    failure = controller_failure(ProcessDied(log), Path("/bin/false"))

    assert type(failure) is kind
    assert str(failure).startswith(starts), str(failure)


def test_the_rbac_gap_is_found_in_the_whole_log_not_only_its_tail(tmp_path: Path) -> None:
    """Seen with ESO v0.16.2 on the local platform: the forbidden lists are logged first, the process exits
    minutes later on a cache-sync timeout; the tail alone would blame the environment."""
    log = tmp_path / "eso.log"
    log.write_text('W1204 reflector.go:569] failed to list *v1alpha1.PushSecret: pushsecrets.external-secrets.io is '
                   'forbidden: User "system:serviceaccount:external-secrets:external-secrets" cannot list resource '
                   '"pushsecrets" in API group "external-secrets.io" at the cluster scope\n'
                   + "W1204 watch of *v1.Namespace ended\n" * 40
                   + '{"level":"error","msg":"problem running manager","error":"failed to wait for secretstore caches '
                     'to sync kind source: *v1.SecretStore: timed out waiting for cache to be synced"}\n')
    tail = ProcessDied(f"eso exited with code 1 (log {log}): " + "W1204 watch of *v1.Namespace ended | " * 20)

    failure = controller_failure(tail, Path("/eso"), log)

    assert isinstance(failure, LocalChartFailed)
    assert str(failure) == (f"chart defect: the chart's RBAC keeps the ESO controller from running: its "
                            f"ServiceAccount cannot list pushsecrets (eso exited with code 1 (log {log}))")
    assert isinstance(controller_failure(tail, Path("/eso")), LocalUnavailable)  # the tail alone says nothing


RENDER_CHART_STOP = """
import pytest
from esoconf.report_plugin import stop_for_chart_failure

@pytest.fixture(scope="session", autouse=True)
def _prefetch(request):
    stop_for_chart_failure(request.config, "helm cannot render chart: parse error at (templates/x.yaml:13)")

@pytest.mark.render
@pytest.mark.claim("TOK-1")
@pytest.mark.parametrize("case", range(6))
def test_render(case):
    pass
"""


@pytest.mark.integration  # a pytest subprocess, with and without xdist workers
@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_chart_that_does_not_render_is_one_chart_failure_with_and_without_workers(suite: pytest.Pytester,
                                                                                   workers: str) -> None:
    suite.makepyfile(RENDER_CHART_STOP)
    suite.makeconftest(CAN_RUN_HERE)

    result = suite.runpytest_subprocess("-m", "render", "-n", workers, "-p", "xdist")

    output = result.stdout.str() + result.stderr.str()
    assert result.ret == Exit.CLAIM_FAILED, output[-3000:]
    assert "INTERNALERROR" not in output and "crashed" not in output
    summary = output[output.index("- conformance:"):].splitlines()
    assert summary[1].strip() == "chart failure: helm cannot render chart: parse error at (templates/x.yaml:13)"
