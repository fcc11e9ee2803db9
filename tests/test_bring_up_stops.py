"""The live tier's platform fixture (suites/e2e/conftest.py): a bring-up that stops is one line of the right kind,
and it is told to every xdist worker of the run, which raise the same stop instead of building the platform again
(kind, node, an existing cluster and the local platform alike)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from esoconf.config import PROJECT_ROOT, ConfigError
from esoconf.platforms.incluster.platform import PlatformUnavailable
from esoconf.stops import CHART, ENVIRONMENT, USAGE, RunStopped


class ChartBroke(AssertionError):
    pass


@pytest.fixture(scope="module")
def live_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("e2e_conftest", PROJECT_ROOT / "suites" / "e2e" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("raised", "kind"), [
    pytest.param(PlatformUnavailable("platform setup failed: helm install vault: timed out"), ENVIRONMENT,
                 id="environment"),
    pytest.param(ChartBroke("the ESO chart under test did not install or become ready"), CHART, id="chart"),
    pytest.param(ConfigError("--chart: not a chart"), USAGE, id="usage"),
])
def test_a_bring_up_stop_is_told_to_every_worker(live_conftest: ModuleType, tmp_path: Path, raised: Exception,
                                                 kind: str) -> None:
    stop_file = tmp_path / "eso-conformance-run.json.stop"
    with pytest.raises(RunStopped) as first, live_conftest._stop_told_to_every_worker(stop_file, (ChartBroke,)):
        raise raised
    assert (first.value.kind, first.value.cause) == (kind, str(raised))

    built = []  # the next worker: the same stop, and no second bring-up
    with pytest.raises(RunStopped) as second, live_conftest._stop_told_to_every_worker(stop_file, (ChartBroke,)):
        built.append(True)
    assert (second.value.kind, second.value.cause) == (kind, str(raised)) and not built


def test_a_bring_up_that_works_writes_no_stop(live_conftest: ModuleType, tmp_path: Path) -> None:
    stop_file = tmp_path / "eso-conformance-run.json.stop"
    with live_conftest._stop_told_to_every_worker(stop_file, (ChartBroke,)):
        pass
    assert not stop_file.exists()
