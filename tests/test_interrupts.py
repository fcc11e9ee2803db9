"""Rows of the hostile-input table that need the real local platform: SIGINT and SIGTERM sent to a real
`local` run (etcd, kube-apiserver, kube-controller-manager, the OpenBao dev server and the ESO controller as
processes: the command `scripts/tox -e local` runs, as CI runs it), with and without pytest-xdist workers,
once the platform is up. The run exits 130 saying "interrupted" (no verdict: the last report is kept) and
leaves nothing: no process of the run, no private run folder (keys, tokens).

They need the local platform's binaries (`python scripts/install-tools --if-missing --set local`, ~11 minutes
cold; .ci/run builds them before the unit tests) and skip, naming that command, where they are absent."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from hostile import PREVIOUS_REPORT, SUITE_ROOT, Outcome, Run, assert_row, marked_processes, pytest_argv, wait_until

from esoconf.config import ConfigError
from esoconf.platforms.local.binaries import find_local_binaries
from esoconf.report import Exit
from esoconf.tools import find_tool

ESO = "v0.16.2"  # what CI runs on the local platform (README: "Local platform")
LOCAL_RUN = ["suites/e2e", "-m", "e2e", "--platform", "local", "--chart", "tests/fixtures/charts/external-secrets",
             "--doc", "tests/fixtures/docs/VAULT_INTEGRATION.md", "--eso-version", ESO, "--local-crds", "controller",
             "-p", "no:cacheprovider"]
BRING_UP = 600  # seconds: a cold, loaded 2-core machine


def missing() -> str:
    try:
        find_local_binaries(ESO)
        find_tool("helm")
        find_tool("kubectl")
    except ConfigError as exc:
        return f"the local platform cannot run here ({str(exc)[:150]}); run `python scripts/install-tools " \
               f"--if-missing --set local` (and `python scripts/install-tools --if-missing`)"
    return ""


@pytest.mark.integration
@pytest.mark.skipif(bool(missing()), reason=missing() or "-")
@pytest.mark.parametrize("workers", [0, 2], ids=["no-workers", "workers"])
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_interrupting_a_real_local_run_leaves_nothing(name: str, workers: int, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "report.json").write_text(PREVIOUS_REPORT)
    run = Run(tmp_path)
    proc = run.spawn(pytest_argv(*LOCAL_RUN, "--artifacts-dir", str(artifacts), "-n", str(workers)), SUITE_ROOT, {})
    try:
        # the platform is up once the ESO controller under test runs (started last)
        wait_until(lambda: marked_processes(run.mark, f"eso-{ESO}/") or proc.poll() is not None, BRING_UP,
                   "the local platform's ESO controller")
        up = marked_processes(run.mark)
        assert proc.poll() is None, f"the run ended before it was interrupted:\n{proc.communicate()[0][-3000:]}"
        proc.send_signal(signal.Signals[name])
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert any("/kube-apiserver" in p for p in up) and any("/etcd" in p for p in up), up
    assert_row(Outcome(proc.returncode, out, err), int(Exit.INTERRUPTED), f"interrupted by {name}*")
    assert (artifacts / "report.json").read_text() == PREVIOUS_REPORT, "the interrupted run replaced the report"
    assert run.left_processes(within=30) == [], "a platform process outlived the interrupted run"
    assert run.left_folders() == [], "a private run folder (keys, tokens) outlived the interrupted run"
