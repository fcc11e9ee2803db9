"""Fixtures of the live tier: ``platform`` (session), ``namespace`` (per test), ``run_id``.

The platform is built once per run: under pytest-xdist the first worker builds it behind a file lock, the
others attach to it (same run id, fingerprints match, seeding read back). A failed test gets its
diagnostics collected right after its call phase, before any fixture cleans up, plus a short section in
the pytest report. The kind cluster a run created is deleted at the very end (by the xdist controller
when there are workers), unless --keep-cluster.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from esoconf.config import ConfigError
from esoconf.live import workers
from esoconf.live.controller import SKEW_PROPERTY
from esoconf.live.diagnostics import safe_name
from esoconf.live.naming import namespace_manifest, namespace_name, new_run_id
from esoconf.platforms.incluster import setup as live
from esoconf.plugin import get_config, item_failed
from esoconf.report import EnvironmentNotReady
from esoconf.report_plugin import RAN
from esoconf.stops import CHART, ENVIRONMENT, USAGE, RunStopped, read_stop, write_stop
from esoconf.wait import Timeouts

PHASES_KEY = pytest.StashKey[dict[str, float]]()
FAILED_KEY = pytest.StashKey[bool]()
NAMESPACE_KEY = pytest.StashKey[str]()
SECTION = "eso-conformance diagnostics"
REWRITES_SECTION = "rewrites of the chart's rendered objects (field: before → after)"


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _artifacts(config: pytest.Config) -> Path:
    return Path(get_config(config).artifacts_dir).resolve()


@pytest.fixture(scope="session")
def run_id() -> str:
    """Short id of this run (shared by xdist workers); cluster-scoped objects carry it in their names."""
    return new_run_id()


@pytest.fixture(scope="session")
def platform(
    pytestconfig: pytest.Config, run_id: str, timeouts: Timeouts, record_testsuite_property: Any
) -> Iterator[Any]:
    """The live platform of this run: kind or an existing cluster (``live.setup``), or local processes."""
    config = get_config(pytestconfig)
    if config.platform == "local":
        for local in _local_platform(pytestconfig, config, run_id, timeouts):
            for name, value in local.properties().items():
                record_testsuite_property(name, value)
            yield local
        return
    shared = workers.shared_dir(pytestconfig)
    ready = shared / f"eso-conformance-{run_id}.json"
    stop_file = ready.with_name(f"{ready.name}.stop")
    with FileLock(str(shared / f"eso-conformance-{run_id}.lock")), _stop_told_to_every_worker(
            stop_file, (live.ChartUnderTestFailed,)):
        attach = ready.exists()
        plan = json.loads(ready.read_text(encoding="utf-8")) if attach else {}
        session = live.setup(config, run_id, timeouts, _artifacts(pytestconfig), attach=attach,
                             attach_plan=plan.get("attach"))
        if not attach:
            ready.write_text(json.dumps(session.teardown_plan()), encoding="utf-8")
            ready.chmod(0o600)
    pytestconfig.stash[PHASES_KEY] = dict(session.platform.phases.durations)
    yield session.platform
    # a node is its builder's processes: that worker takes it down, once every other worker is done with it
    owner = session.provider.lives_in_worker and not attach
    if owner and _is_worker(pytestconfig):
        workers.wait_for_others(shared, pytestconfig.workerinput["workerid"],  # type: ignore[attr-defined]
                                timeout=timeouts.workers_done)
    session.close(deferred=_is_worker(pytestconfig) and not owner)
    if not _is_worker(pytestconfig):  # without workers these files sit beside every run's basetemp: remove them
        for path in (ready, shared / f"eso-conformance-{run_id}.lock", stop_file):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def _stop_told_to_every_worker(stop_file: Path, chart_failures: tuple[type[Exception], ...]) -> Iterator[None]:
    """A bring-up that stops is one line and never a pass (exit 2 the environment, 1 the chart under test, 3 a bad
    input), and it is told to every xdist worker of the run: they raise the same stop instead of trying again."""
    stopped = read_stop(stop_file)
    if stopped is not None:
        raise stopped
    try:
        yield
    except (EnvironmentNotReady, ConfigError, *chart_failures) as exc:
        stop = RunStopped(CHART if isinstance(exc, chart_failures) else
                          ENVIRONMENT if isinstance(exc, EnvironmentNotReady) else USAGE, str(exc))
        write_stop(stop_file, stop)
        raise stop from None


def _local_platform(pytestconfig: pytest.Config, config: Any, run_id: str, timeouts: Timeouts) -> Iterator[Any]:
    """One local platform per run: the first xdist worker builds it and hands its processes over to the run,
    the others attach (esoconf.platforms.local.shared); the xdist controller stops them at the end."""
    from esoconf.platforms.local import shared
    from esoconf.platforms.local.bringup import LocalChartFailed, setup_local

    plan_file = workers.shared_dir(pytestconfig) / shared.plan_name(run_id)
    stop_file = plan_file.with_name(f"{plan_file.name}.stop")
    with FileLock(f"{plan_file}.lock"), _stop_told_to_every_worker(stop_file, (LocalChartFailed,)):
        if plan_file.exists():
            local = shared.attach(json.loads(plan_file.read_text(encoding="utf-8")), run_id, timeouts)
        else:
            local = setup_local(config, run_id, timeouts, _artifacts(pytestconfig))
            if _is_worker(pytestconfig):
                shared.write_plan(plan_file, shared.hand_over(local))
    pytestconfig.stash[PHASES_KEY] = dict(local.phases.durations)
    try:
        yield local
    finally:
        local.close()
        if not _is_worker(pytestconfig):  # without workers these files sit beside every run's basetemp
            for path in (Path(f"{plan_file}.lock"), stop_file):
                path.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _platform_alive(request: pytest.FixtureRequest) -> None:
    """A platform process that died fails the test as the environment's fault, naming the process (the
    capabilities a case needs are checked before any fixture, in esoconf.gate)."""
    if "platform" in request.fixturenames:
        platform = request.getfixturevalue("platform")
        request.node.user_properties.append(("platform", getattr(platform, "name", "kind")))
        for name, value in getattr(platform, "properties", dict)().items():  # what really ran, for the report
            request.node.user_properties.append((f"{RAN}{name}", value))
        skew = getattr(platform, "controller_skew", "")
        if skew:  # every live verdict of the run reads it
            request.node.user_properties.append((SKEW_PROPERTY, skew))
        check = getattr(platform, "check_alive", None)
        if check is not None:
            check()


@pytest.fixture
def namespace(request: pytest.FixtureRequest, platform: Any, run_id: str) -> Iterator[str]:
    """``e2e-<case>-<random>``, labelled with the run id, Istio injection on; deleted after the test unless
    it failed and --keep-on-failure is set."""
    name = namespace_name(request.node.originalname or request.node.name)
    platform.kube.apply(namespace_manifest(name, run_id))
    if platform.env is not None:
        platform.env.ensure_pull_secret(name)
    request.node.stash[NAMESPACE_KEY] = name
    yield name
    keep = get_config(request.config).keep_on_failure and item_failed(request.node)
    if not keep:
        platform.kube.delete("Namespace", name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    item.config.stash[FAILED_KEY] = True
    funcargs = getattr(item, "funcargs", {})
    rewrites = getattr(funcargs.get("scenario"), "rewrites", None)
    if rewrites:  # what the case changed in the chart's rendered objects to run them here
        report.sections.append((REWRITES_SECTION, "\n".join(rewrites)))
    platform = funcargs.get("platform")
    if not hasattr(platform, "collect_diagnostics"):
        return
    test_namespace = item.stash.get(NAMESPACE_KEY, None)
    dest = _artifacts(item.config) / "diagnostics" / safe_name(item.nodeid)
    try:
        text = platform.collect_diagnostics(test_namespace, dest)
    except Exception as exc:  # diagnostics never replace the test's own failure
        text = f"diagnostics not collected: {type(exc).__name__}: {exc}"
    report.sections.append((SECTION, text))
