"""pytest plugin (entry point ``esoconf.plugin``): options, configuration, markers, report header,
JUnit properties and one-line claim evidence; the gate and the reports are its sibling plugins."""

from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import config as cfg
from .cleanup import clean_start, install_signal_handlers, set_run_owner
from .doc import check_doc_file
from .live import workers
from .redact import REDACT
from .wait import Timeouts

# sibling plugins loaded with this one (each owns one concern)
pytest_plugins = ["esoconf.gate", "esoconf.report_plugin"]

CONFIG_KEY = pytest.StashKey[cfg.Config]()
LOCAL_PLATFORMS = frozenset({"local", "node"})  # their processes and run folders live on this machine

MARKERS = {
    "render": "static tier: helm template + schemas + documented contracts (no cluster)",
    "e2e": "live tier: needs Docker, kind, Istio, Vault (deselected by default; tox -e e2e)",
    "smoke": "fast subset proving the environment works",
    "sync": "a documented sync path (store Ready, Secret synced)",
    "store": "ClusterSecretStore behaviour",
    "failure": "a documented or likely failure mode",
    "upgrade": "chart upgrade from --from-chart-version",
    "slow": "takes more than a minute",
    "serial": "changes shared state; under xdist it holds the run's lock exclusively (beside no other live test)",
    "vault": "quick Vault tier: seeding against a testcontainers Vault (Docker only; also marked e2e)",
    "claim(id)": "the VAULT_INTEGRATION.md claim id this test checks (see manifests/claims.yaml)",
    "needs(*capabilities)": "live platform capabilities the case needs (network-policy, mesh, pods, "
    "vault-package, previous-release); a platform without one reports the case not verified, with the reason",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("eso-vault-conformance", "ESO/Vault conformance suite")
    for setting in cfg.SETTINGS:
        help_text = f"{setting.help} [env {setting.env}]"
        if setting.flag:
            group.addoption(setting.option, action="store_const", const=True, default=None,
                            dest=f"esoconf_{setting.name}", help=help_text)
        else:
            group.addoption(setting.option, default=None, dest=f"esoconf_{setting.name}", help=help_text)


def _cli_values(config: pytest.Config) -> dict[str, Any]:
    return {s.name: config.getoption(f"esoconf_{s.name}") for s in cfg.SETTINGS}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    install_signal_handlers()  # SIGTERM/SIGHUP unwind like Ctrl-C, every registered process stopped
    controller = not hasattr(config, "workerinput")
    set_run_owner(os.getpid() if controller else os.getppid())  # a worker's platform lives as long as the run
    try:
        resolved = cfg.resolve(_cli_values(config))
        for setting in ("chart", "vault_chart", "umbrella_chart"):
            if resolved.values[setting]:
                _check_chart(resolved, setting)
        if resolved.doc is None and resolved.chart:
            doc = cfg.default_doc_for(resolved.chart)
            if doc is not None:
                resolved.values["doc"] = str(doc)
                resolved.sources["doc"] = "chart repo"
        if resolved.kube_context and not resolved.kubeconfig:
            resolved.values["kubeconfig"] = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
            resolved.sources["kubeconfig"] = "KUBECONFIG" if os.environ.get("KUBECONFIG") else "~/.kube/config"
        if resolved.kubeconfig:
            check_kube_context(resolved.kubeconfig, resolved.kube_context, resolved.source("kubeconfig"))
        if resolved.doc:
            check_doc_file(resolved.doc, cfg.given("--doc", resolved.doc, resolved.source("doc")))
        if controller and not config.option.collectonly:  # outputs: checked before anything runs
            _check_writable_folder("--artifacts-dir", resolved.artifacts_dir, resolved.artifacts_dir)
            if resolved.report_json:
                _check_report_json(resolved.report_json)
    except cfg.ConfigError as exc:
        from .stops import usage_error

        raise usage_error(exc) from None
    config.stash[CONFIG_KEY] = resolved
    if controller:  # said once, at the top (the warnings summary at the end buries it)
        for warning in cfg.misspelled_env(os.environ):
            print(f"WARNING: {warning}", file=sys.stderr)
        if resolved.platform in LOCAL_PLATFORMS or resolved.clean_start:  # run folders of platforms on this machine
            for line in clean_start(remove=bool(resolved.clean_start)):
                print(line, file=sys.stderr)


@pytest.fixture(autouse=True)
def _serial_apart(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under pytest-xdist a `serial` test (it changes what every live test shares: the ESO release, the Vault
    AuthorizationPolicy) runs beside no other live test: it holds the run's lock exclusively, every other live
    (`e2e`) test holds it shared. A function-scoped fixture, so the lock is released before session fixtures end
    (a node's builder waits there for the other workers: holding the lock then would deadlock them)."""
    item = request.node
    serial = item.get_closest_marker("serial") is not None
    if not hasattr(item.config, "workerinput") or not (serial or item.get_closest_marker("e2e")):
        yield
        return
    with workers.exclusive(workers.shared_dir(item.config), serial=serial):
        yield


def _check_chart(resolved: cfg.Config, setting: str) -> None:
    """A chart setting's reference, and the version of a local chart: its Chart.yaml's (a version given
    for a local chart that contradicts it would be printed into the report title as if it were tested)."""
    option = f"--{setting.replace('_', '-')}"
    ref, version_key = resolved.values[setting], f"{setting}_version"
    version = resolved.values[version_key]
    cfg.check_chart_ref(ref, version, option, resolved.source(setting))
    if cfg.is_remote_chart(ref):
        return
    from .charts import chart_info

    actual = chart_info(Path(ref), option).version
    if version:
        where = Path(ref) / "Chart.yaml" if Path(ref).is_dir() else Path(ref)
        how = "contradicts" if str(version) != actual else "is not needed with"
        raise cfg.ConfigError(f"{cfg.given(option + '-version', version, resolved.source(version_key))} "
                              f"{how} {where} (version {actual}); a local chart's version is its "
                              f"Chart.yaml: drop {option}-version (it is for oci:// and git)")
    resolved.values[version_key] = actual  # for header, JUnit
    resolved.sources[version_key] = "Chart.yaml"


# the machine's fault, not the path's: exit 2 (a path that cannot be a folder is the input's: exit 3)
NOT_WRITABLE_HERE = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM})
PROBE_BYTES = 64 * 1024  # a report and its JUnit file need at least this much room


def _check_writable_folder(option: str, given: str, folder: str) -> None:
    """``folder`` exists (made if needed) and takes a file of :data:`PROBE_BYTES` (read-only or full: exit 2)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in NOT_WRITABLE_HERE:
            raise cfg.EnvironmentProblem(f"{option} {given}: cannot create {folder} ({exc.strerror}); make it "
                                         f"writable or pick another folder") from None
        raise cfg.ConfigError(f"{option} {given}: cannot create {folder} ({exc.strerror}); pick a writable "
                              f"folder") from None
    try:
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise cfg.EnvironmentProblem(f"{option} {given}: cannot write into {folder} ({exc.strerror}); free some "
                                     f"space, make it writable or pick another folder") from None


def _check_report_json(path: str) -> None:
    target = Path(path)
    if target.is_dir():
        raise cfg.ConfigError(f"--report-json {path}: is a directory; give a file path (e.g. {target / 'claims.json'})")
    if target.exists() and not target.is_file():
        raise cfg.ConfigError(f"--report-json {path}: not a regular file; give a file path")
    _check_writable_folder("--report-json", path, str(target.parent))


def check_kube_context(kubeconfig: str, context: str | None, source: str = "option") -> None:
    """--kubeconfig must be readable YAML (exit 3 up front, not a failed platform later) and name
    ``context`` when one is given."""
    import yaml

    shown = cfg.given("--kubeconfig", kubeconfig, source)
    try:
        with open(kubeconfig, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as exc:
        if source in ("option", "env", "profile"):
            raise cfg.ConfigError(f"{shown}: cannot read it ({exc.strerror})") from None
        raise cfg.ConfigError(f"--kube-context {context}: no --kubeconfig given and {kubeconfig} cannot be read "
                              f"({exc.strerror}); pass --kubeconfig") from None
    except yaml.YAMLError:
        raise cfg.ConfigError(f"{shown}: not valid YAML; pass a kubeconfig file") from None
    names = [c.get("name") for c in data.get("contexts") or []] if isinstance(data, dict) else []
    if context is not None and context not in names:
        raise cfg.ConfigError(f"--kube-context {context!r} is not in {kubeconfig} (contexts: "
                              f"{', '.join(map(str, names)) or 'none'}); see `kubectl config get-contexts`")


def get_config(config: pytest.Config) -> cfg.Config:
    return config.stash[CONFIG_KEY]


def pytest_report_header(config: pytest.Config) -> list[str]:
    resolved = config.stash.get(CONFIG_KEY, None)
    if resolved is None:
        return []
    shown = [(n, v, s) for n, v, s in resolved.table() if s != "default" or n in {"chart", "doc", "profile"}]
    width = max(len(n) for n, _, _ in shown)
    lines = ["eso-vault-conformance effective configuration (setting = value  [source]):"
             + (f"  {resolved.note.upper()}" if resolved.note else "")]
    lines += [f"  {n.ljust(width)} = {REDACT(v)}  [{s}]" for n, v, s in shown]
    return lines


@pytest.fixture(scope="session")
def conformance_config(pytestconfig: pytest.Config) -> cfg.Config:
    """The effective configuration (option > env > profile > default)."""
    return get_config(pytestconfig)


@pytest.fixture(scope="session")
def timeouts(conformance_config: cfg.Config) -> Timeouts:
    """Named timeouts scaled by --timeout-scale."""
    return Timeouts(conformance_config.timeout_scale)


@pytest.fixture(scope="session", autouse=True)
def _junit_properties(record_testsuite_property: Any, conformance_config: cfg.Config) -> None:
    for name, value in conformance_config.junit_properties().items():
        record_testsuite_property(name, REDACT(value))


def _evidence(report: pytest.TestReport) -> str:
    for key, value in report.user_properties:
        if key == "claim-verdict":  # recorded by esoconf.live.verdicts.settle: the observed evidence wins
            data = json.loads(str(value))
            return REDACT(f"{data['status']}: {data['evidence']}")[:300]
    if report.passed and not hasattr(report, "wasxfail"):
        return str(getattr(report, "evidence", "") or "ok")
    if hasattr(report, "wasxfail"):
        return REDACT(str(report.wasxfail) or "expected failure")
    if report.skipped and isinstance(report.longrepr, tuple):  # (path, line, "Skipped: reason"): the reason
        return REDACT(str(report.longrepr[2]).removeprefix("Skipped: "))[:300]
    text = report.longreprtext or ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("E "):
            return REDACT(stripped[2:].strip())[:300]
    return REDACT(text.strip().splitlines()[-1] if text.strip() else report.outcome)[:300]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    previous: dict[str, pytest.TestReport] = item.stash.get(_REPORTS, {})
    item.stash[_REPORTS] = {**previous, report.when: report}


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def item_failed(item: pytest.Item) -> bool:
    """True when the test's setup or call failed (for diagnostics collected before cleanup)."""
    reports = item.stash.get(_REPORTS, {})
    return any(r.failed for r in reports.values())
