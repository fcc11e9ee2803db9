"""Hooks every run under suites/ needs, loaded also by the pytest-xdist controller, which collects nothing: it
loads this file for `pytest suites ...` (tox -e conformance) where it would not load suites/e2e/conftest.py, so the
end-of-run teardown of a platform the workers handed over lives here (before, `pytest suites -n 3` on the local
platform left its processes running)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    """An xdist worker says it runs (a node's builder tears it down only when every other worker is done)."""
    if _is_worker(session.config):
        from esoconf.live import workers

        workers.join(workers.shared_dir(session.config), session.config.workerinput["workerid"])  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """xdist worker: it is done. xdist controller: all workers are done: delete the kind cluster a worker created
    (if not kept), stop the local platform a worker handed over."""
    config = session.config
    if _is_worker(config):
        from esoconf.live import workers

        workers.leave(workers.shared_dir(config), config.workerinput["workerid"])  # type: ignore[attr-defined]
        return
    if not getattr(config.option, "numprocesses", None):
        return
    from esoconf.platforms.incluster import setup as live

    shared = Path(config._tmp_path_factory.getbasetemp())  # type: ignore[attr-defined]
    for plan_file in shared.glob("eso-conformance-*.json"):
        live.teardown_from_plan(json.loads(plan_file.read_text(encoding="utf-8")))
        plan_file.unlink()
    from esoconf.platforms.local import shared as local_shared

    for plan_file in shared.glob(local_shared.PLAN_GLOB):
        local_shared.teardown(json.loads(plan_file.read_text(encoding="utf-8")))
        plan_file.unlink()
    for stop_file in shared.glob(f"{local_shared.PLAN_GLOB}.stop"):
        stop_file.unlink()
