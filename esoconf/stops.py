"""A stop is never a pass: the one way a run says it cannot give (more) verdicts, with and without xdist.

A platform that cannot come up, a controller the chart's RBAC or arguments keep from running, a live tier this
machine cannot run: every test that needed it ends as :class:`RunStopped` (raised where the test would have
used it: the gate's setup hook, the ``platform`` fixture). It is a skip to pytest (one folded ``SKIPPED [N]``
line, no traceback; under pytest-xdist every worker reports it like any other test, so the controller sees no
crash and no ``INTERNALERROR``) and ``blocked`` to the conformance report, which takes the run's one-line cause
and exit code from it: 2 the environment, 1 the chart (named as the chart's defect), 3 usage.

``pytest.exit`` is never used for these: under xdist it crashes the workers and the cause is lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from . import config as cfg
from .redact import REDACT

ENVIRONMENT, CHART, USAGE = "environment", "chart", "usage"
KINDS = (USAGE, CHART, ENVIRONMENT)  # worst first: the run's cause is the worst stop any test reported
LABELS = {ENVIRONMENT: "environment not ready", CHART: "chart failure", USAGE: "usage error"}
STOP_LOCATION = "(the run stopped)"  # where the folded SKIPPED line says it comes from: one line, not one a file
REPORT_ATTR = "esoconf_stop"  # [kind, cause] on a test report (plain values: they travel through xdist)


class RunStopped(pytest.skip.Exception):  # type: ignore[name-defined]
    """This test (and every test after it needing the same thing) cannot give a verdict: ``kind`` says whose
    fault it is, ``cause`` is one line."""

    def __init__(self, kind: str, cause: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown stop kind {kind!r}; known: {', '.join(KINDS)}")
        self.kind, self.cause = kind, " ".join(REDACT(str(cause)).split())
        super().__init__(msg=f"{LABELS[kind]}: {self.cause}", pytrace=False)


def stop_of(report: Any) -> tuple[str, str] | None:
    """(kind, cause) when ``report`` is a test stopped by :class:`RunStopped`."""
    value = getattr(report, REPORT_ATTR, None)
    return (str(value[0]), str(value[1])) if value else None


def worst_stop(stops: list[tuple[str, str]]) -> tuple[str, str] | None:
    return min(stops, key=lambda stop: KINDS.index(stop[0]), default=None)


def mark_report(report: Any, excinfo: Any) -> None:
    """Record the stop on the test report (called from the report plugin's makereport)."""
    if excinfo is not None and excinfo.errisinstance(RunStopped):
        setattr(report, REPORT_ATTR, [excinfo.value.kind, excinfo.value.cause])
        if isinstance(report.longrepr, tuple):  # one folded SKIPPED line for the whole run: the cause only
            report.longrepr = (STOP_LOCATION, 0, str(excinfo.value.msg))


def write_stop(path: Path, stop: RunStopped) -> None:
    """Tell the other xdist workers of this run (they read it instead of building the platform again)."""
    path.write_text(json.dumps({"kind": stop.kind, "cause": stop.cause}), encoding="utf-8")


def read_stop(path: Path) -> RunStopped | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return RunStopped(str(data["kind"]), str(data["cause"]))


ENVIRONMENT_STOP = "esoconf_environment"  # set on a UsageError (a final class) that is the machine's fault


def usage_error(exc: cfg.ConfigError) -> pytest.UsageError:
    """The one-line stop for a bad input (exit 3) or, marked :data:`ENVIRONMENT_STOP`, an environment that
    cannot serve it (no network, a read-only or full disk: exit 2)."""
    error = pytest.UsageError(str(exc))
    setattr(error, ENVIRONMENT_STOP, isinstance(exc, cfg.EnvironmentProblem))  # noqa: B010 - final class
    return error


class EnvironmentNotReady(Exception):
    """The test environment could not be brought up (cluster, Istio, Vault, images, registry).

    Raise it from platform setup fixtures. Tests it stops are reported as ``blocked`` and the run exits 2:
    infrastructure, not the chart.
    """

    __module__ = "esoconf.report"  # its public name, as tracebacks and evidence say it (re-exported there)
