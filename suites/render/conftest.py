"""Render tier wiring: the chart(s) and doc under test, one renderer per session, evidence lines.

Usage errors (no --chart, no doc, a doc the suite cannot read, a --vault-chart that is not the Vault
package) stop the run with one line before any test runs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from esoconf.adapter import BB_COMMON, PackageValues, PolicyLayout, vault_policy_layout
from esoconf.charts import ChartInfo, chart_info, check_package, resolve_chart
from esoconf.config import ConfigError, default_doc_for
from esoconf.doc import VaultDoc, load_doc
from esoconf.gate import require_tool, usage_error
from esoconf.plugin import get_config
from esoconf.render.contracts import NamedItem, RenderCase, UmbrellaFlip
from esoconf.render.crds import ControllerSource, CrdSet, controller_source, installed_crds, warm
from esoconf.render.helm import Rendered, Renderer, RenderError
from esoconf.render.schema import SchemaSet, kubernetes_schema_dir
from esoconf.render.umbrella import UMBRELLA, UmbrellaError, UmbrellaRoute
from esoconf.report_plugin import scratch_folder, stop_for_chart_failure


@dataclass
class RenderTier:
    doc: VaultDoc
    charts: dict[str, ChartInfo]  # package -> chart
    renderer: Renderer
    kubernetes_version: str
    controller: ControllerSource
    umbrella: UmbrellaRoute | None = None  # --umbrella-chart: the umbrella hands the values, else the adapter
    _values: dict[str, PackageValues] = field(default_factory=dict)
    _schemas: dict[str, SchemaSet] = field(default_factory=dict)
    _controller_crds: list[CrdSet] = field(default_factory=list)

    def values(self, case: RenderCase) -> PackageValues:
        """The values the case's package gets: rendered by the umbrella (--umbrella-chart), else the adapter's; a case
        that passes the doc's values literally (``translate=False``: a direct install) never goes through it."""
        if case.id not in self._values:
            if self.umbrella is not None and case.translate:
                self._values[case.id] = self.umbrella.case_values(case, self.doc, self.renderer)
            else:
                self._values[case.id] = case.values(self.doc, self.vault_layout)
        return self._values[case.id]

    @property
    def values_source(self) -> str:
        return f"values from {self.umbrella.label}" if self.umbrella else "values from the suite's adapter"

    @property
    def vault_layout(self) -> PolicyLayout:
        """Where the Vault package under test reads custom AuthorizationPolicies (bb-common unless told)."""
        return vault_policy_layout(self.charts["vault"].values) if "vault" in self.charts else BB_COMMON

    def chart(self, package: str) -> ChartInfo:
        if package not in self.charts:
            pytest.skip(f"needs --vault-chart (the Big Bang {package} package) for this check")
        return self.charts[package]

    def render(self, case: RenderCase) -> Rendered:
        __tracebackhide__ = True
        return self.renderer.render(self.chart(case.package).path, case.package, self.values(case).values)

    def schemas(self, package: str) -> SchemaSet:
        if package not in self._schemas:
            self._schemas[package] = SchemaSet.for_chart(self.chart(package).path, self.kubernetes_version)
        return self._schemas[package]

    def installed_crds(self, case: RenderCase) -> CrdSet:
        """The CRDs the package installs with the case's values: its crds/ and the CRD templates they enable."""
        return installed_crds(self.chart(case.package), self.render(case).objects)

    def controller_crds(self) -> CrdSet:
        """The CRDs of the ESO controller the package deploys (skips, naming the fix, when none can be found)."""
        if self.controller.missing:
            pytest.skip(self.controller.missing)
        if not self._controller_crds:
            self._controller_crds.append(self.controller.crds(self.renderer))
        return self._controller_crds[0]

    def warm_up(self) -> None:
        """Python work that can overlap the helm renders: schema sets, and the CRDs both CRD claims read."""
        for package in self.charts:
            self.schemas(package)
        warm(CrdSet("", dict(self.schemas("external-secrets").crds)))
        if not self.controller.missing:
            try:
                warm(self.controller_crds())  # waits for the controller render (submitted first)
            except RenderError:
                self._controller_crds.clear()  # helm's error is reported by the CRD tests, not here

    def controller_schemas(self) -> SchemaSet:
        if "controller" not in self._schemas:
            self._schemas["controller"] = self.controller_crds().schemas(self.kubernetes_version)
        return self._schemas["controller"]


TIER_KEY = pytest.StashKey[RenderTier]()
EVIDENCE_KEY = pytest.StashKey[str]()


def _build_tier(config: pytest.Config) -> RenderTier:
    resolved = get_config(config)
    if not resolved.chart:
        raise ConfigError("the render tier needs --chart (the Big Bang ESO package: a chart directory, .tgz, "
                          "oci:// reference or git URL with --chart-version)")
    helm = require_tool(config, "helm")  # the session's helm, found once (one-line usage error if unusable)
    workdir = Path(resolved.artifacts_dir or "artifacts") / "render"
    workdir.mkdir(parents=True, exist_ok=True)
    renderer = Renderer(helm.path, scratch_folder(config, Path(tempfile.mkdtemp(prefix="session-", dir=workdir))))
    charts: dict[str, ChartInfo] = {}
    refs = {"external-secrets": ("--chart", resolved.chart, resolved.chart_version),
            "vault": ("--vault-chart", resolved.vault_chart, resolved.vault_chart_version),
            UMBRELLA: ("--umbrella-chart", resolved.umbrella_chart, resolved.umbrella_chart_version)}
    for package, (option, ref, version) in refs.items():
        if ref:
            path = resolve_chart(ref, version, cache_dir=workdir / "cache", helm=helm.path, helm_env=renderer.env,
                                 option=option)
            info = chart_info(path, option)
            check_package(info, option)
            charts[package] = info
    doc_path = resolved.doc or default_doc_for(str(charts["external-secrets"].path))  # e.g. in a git clone
    if not doc_path:
        raise ConfigError(f"the render tier needs --doc VAULT_INTEGRATION.md (none found next to --chart "
                          f"{resolved.chart}; it looks for docs/VAULT_INTEGRATION.md in the package repo)")
    doc = load_doc(doc_path)
    version = str(resolved.kubernetes_version or resolved.versions["kubernetes"]["version"])
    kubernetes_schema_dir(version)  # a version without schemas is a usage error, not a failed claim
    controller = controller_source(charts["external-secrets"], renderer.workdir)
    umbrella = UmbrellaRoute(charts.pop(UMBRELLA)) if UMBRELLA in charts else None
    return RenderTier(doc, charts, renderer, version, controller, umbrella)


def _explicitly_asked(config: pytest.Config) -> bool:
    """The user asked for the render tier by marker (-m render) or by path (suites/render)."""
    here = Path(__file__).parent.resolve()
    paths = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return "render" in (config.option.markexpr or "") or any(p == here or here in p.parents for p in paths)


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only what will run counts
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Build the tier once, and only when render tests are selected (collecting never needs a chart).

    A run that did not ask for the render tier (plain ``pytest``) and has no --chart deselects it,
    like the live tier; asking for it (``-m render``, ``suites/render``) without --chart is a usage error.
    """
    selected = [item for item in items if item.get_closest_marker("render")]
    if not selected or config.option.collectonly or TIER_KEY in config.stash:
        return
    if not get_config(config).chart and not _explicitly_asked(config):
        items[:] = [item for item in items if not item.get_closest_marker("render")]
        config.hook.pytest_deselected(items=selected)
        return
    try:
        config.stash[TIER_KEY] = tier = _build_tier(config)
    except ConfigError as exc:
        raise usage_error(exc) from None
    if tier.umbrella is not None:
        _deselect_foreign_switches(config, items, tier.umbrella)


def _deselect_foreign_switches(config: pytest.Config, items: list[pytest.Item], umbrella: UmbrellaRoute) -> None:
    """Rows setting an umbrella value this umbrella release does not have (ambient before 3.2x) are not settings of
    it: their tests are deselected, said once."""
    foreign = {}
    for item in items:
        for case in _cases_of(item):
            unknown = umbrella.unknown_settings(case.platform)
            if unknown:
                foreign[item.nodeid] = (case.switch or case.id, unknown)
    if foreign:
        dropped = [item for item in items if item.nodeid in foreign]
        items[:] = [item for item in items if item.nodeid not in foreign]
        config.hook.pytest_deselected(items=dropped)
        rows = sorted({f"{row} ({', '.join(keys)})" for row, keys in foreign.values()})
        config.issue_config_time_warning(pytest.PytestConfigWarning(
            f"{umbrella.label} has no such setting, {len(dropped)} tests deselected: {'; '.join(rows)}"), stacklevel=2)


@pytest.fixture(scope="session")
def tier(pytestconfig: pytest.Config) -> RenderTier:
    return pytestconfig.stash[TIER_KEY]


@pytest.fixture(scope="session")
def doc(tier: RenderTier) -> VaultDoc:
    """The VAULT_INTEGRATION.md under test."""
    return tier.doc


@pytest.fixture(scope="session", autouse=True)
def _render_everything_at_once(request: pytest.FixtureRequest, tier: RenderTier) -> None:
    """Render every case the selected tests use, in parallel, in the order the tests need them (each pair once);
    tests start while the later renders are still running."""
    cases: dict[str, RenderCase] = {}
    modules: set[int] = set()
    for item in request.session.items:
        module = getattr(item, "module", None)
        if module is not None and id(module) not in modules:  # cases a test module names directly
            modules.add(id(module))
            cases.update({c.id: c for c in vars(module).values() if isinstance(c, RenderCase) and c.id not in cases})
        cases.update({case.id: case for case in _cases_of(item) if case.id not in cases})
    if tier.umbrella is not None:  # the umbrella renders every case's values first (in parallel)
        tier.renderer.prefetch([(tier.umbrella.chart.path, UMBRELLA, tier.umbrella.user_values(c, tier.doc)[0], False)
                                for c in cases.values() if c.translate])
        stop_for_chart_failure(request.config, tier.renderer.chart_failure())
    controller = tier.controller.job()
    jobs = [controller] if controller else []  # the largest render first
    jobs += [(tier.charts[c.package].path, c.package, values, False)
             for c in cases.values() if c.package in tier.charts and (values := _values_or_none(tier, c)) is not None]
    tier.renderer.prefetch(jobs, meanwhile=[tier.warm_up], wait=False)
    stop_for_chart_failure(request.config, tier.renderer.chart_failure())  # a chart that renders nothing: 1 line


def _values_or_none(tier: RenderTier, case: RenderCase) -> dict[str, Any] | None:
    """The case's package values, or None when the umbrella cannot render them (the case's tests then fail with
    helm's message, naming the umbrella; the other cases still run)."""
    try:
        return tier.values(case).values
    except (RenderError, UmbrellaError):
        return None


def _cases_of(item: pytest.Item) -> list[RenderCase]:
    """The render cases a test is parametrized with (directly, as a list item of one, or as an umbrella flip)."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec else ()
    found = [p.render if isinstance(p, NamedItem) else p.case if isinstance(p, UmbrellaFlip) else p for p in params]
    return [case for case in found if isinstance(case, RenderCase)]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """A failure on one umbrella switch names it first (the line reports show): which variation broke the claim."""
    switches = sorted({case.switch for case in _cases_of(item) if case.switch})
    try:
        return (yield)
    except AssertionError as exc:
        if switches and exc.args:
            exc.args = (f"[variation {', '.join(switches)}] {exc.args[0]}", *exc.args[1:])
        raise


@pytest.fixture
def render(tier: RenderTier) -> Callable[[RenderCase], Rendered]:
    """``render(case)``: the rendered objects of a case (cached; a helm error fails the test)."""
    return tier.render


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``evidence("one line")``: what the report shows for this test (never secret values)."""
    def record(text: str) -> None:
        request.node.stash[EVIDENCE_KEY] = text
    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    text = item.stash.get(EVIDENCE_KEY, None)
    if text and report.when == "call":
        source = item.config.stash[TIER_KEY].values_source if TIER_KEY in item.config.stash else ""
        report.evidence = f"{text} [{source}]" if source else text  # type: ignore[attr-defined]
    return report
