"""A platform setup that fails: logs first, then the cluster this run created goes, and the failure is
classified (the chart under test vs the environment). Not a live run: every piece is a fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from esoconf.config import resolve
from esoconf.platforms.incluster import setup as kind_setup
from esoconf.redact import REDACT


class FakeKind:
    outlives_run = True  # a kind cluster: --keep-on-failure keeps it

    def __init__(self) -> None:
        self.deleted = False

    def down(self) -> list[str]:
        self.deleted = True
        return []


class FakeComponent:
    name = "vault"

    def logs(self, env: Any) -> dict[str, str]:
        return {"vault-vault-0.vault": "core: security barrier not initialized\n"}


def failing_setup(monkeypatch: pytest.MonkeyPatch, error: Exception) -> FakeKind:
    kind = FakeKind()

    def _setup(*args: Any, state: kind_setup._SetupState, **kwargs: Any) -> kind_setup.Session:
        state.provider, state.env, state.components = kind, object(), [FakeComponent()]  # type: ignore[assignment]
        raise error

    monkeypatch.setattr(kind_setup, "_setup", _setup)
    return kind


@pytest.mark.parametrize("error, raised", [
    pytest.param(RuntimeError("helm install vault-vault: timed out"), kind_setup.PlatformUnavailable, id="environment"),
    pytest.param(kind_setup.ChartUnderTestFailed("ESO pods CrashLoopBackOff"), kind_setup.ChartUnderTestFailed,
                 id="chart-under-test"),
])
def test_failed_setup_collects_logs_then_deletes_the_cluster_it_created(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: Exception, raised: type[Exception]) -> None:
    kind = failing_setup(monkeypatch, error)
    with pytest.raises(raised) as info:
        kind_setup.setup(resolve({}, env={}), "r1", None, tmp_path)  # type: ignore[arg-type]
    assert kind.deleted
    log = tmp_path / "diagnostics" / "platform-setup" / "vault" / "vault-vault-0.vault.log"
    assert "barrier not initialized" in log.read_text()
    assert len(str(info.value).splitlines()) == 1


def test_keep_on_failure_keeps_the_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    kind = failing_setup(monkeypatch, RuntimeError("boom"))
    with pytest.raises(kind_setup.PlatformUnavailable):
        kind_setup.setup(resolve({"keep_on_failure": True}, env={}), "r1", None, tmp_path)  # type: ignore[arg-type]
    assert not kind.deleted


def test_keep_on_failure_never_keeps_a_cluster_that_dies_with_the_run(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    node = failing_setup(monkeypatch, RuntimeError("boom"))
    node.outlives_run = False  # the node platform: its processes, namespaces and mounts are the run's
    with pytest.raises(kind_setup.PlatformUnavailable):
        kind_setup.setup(resolve({"keep_on_failure": True}, env={}), "r1", None, tmp_path)  # type: ignore[arg-type]
    assert node.deleted


def test_setup_failure_message_is_redacted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    REDACT.add("s3cr3t-canary-value")
    failing_setup(monkeypatch, RuntimeError("vault write failed for s3cr3t-canary-value"))
    with pytest.raises(kind_setup.PlatformUnavailable) as info:
        kind_setup.setup(resolve({}, env={}), "r1", None, tmp_path)  # type: ignore[arg-type]
    assert "s3cr3t-canary-value" not in str(info.value)
