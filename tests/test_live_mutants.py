"""Live mutants: the live sync cases fail, on the local platform (real kube-apiserver, ESO controller, OpenBao), for
the chart defect they are about (tests/mutants.py ``LIVE_MUTANTS``: a store ``path`` or KV ``version`` rendered
wrong, ``mountPath`` or ``role`` dropped, ``remoteRef.property`` mangled), and only those cases fail.

Each run brings the local platform up for the mutant chart (about a minute of real processes each), so this
runs where the local binaries are built and ``ESOCONF_LIVE_MUTANTS=1`` asks for it (``scripts/tox -e
local-mutants``); otherwise it is skipped, saying why.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from mutants import LIVE_MUTANTS, SYNC_ALL, Mutant, apply

from esoconf.config import PROJECT_ROOT
from esoconf.runner import run

DOC = PROJECT_ROOT / "tests" / "fixtures" / "docs" / "VAULT_INTEGRATION.md"
SYNC = PROJECT_ROOT / "suites" / "e2e" / "test_sync.py"
REFERENCE = Mutant("reference", "external-secrets-0.16", (), frozenset())

pytestmark = pytest.mark.skipif(os.environ.get("ESOCONF_LIVE_MUTANTS") != "1",
                                reason="live mutants bring the local platform up per mutant (minutes): set "
                                       "ESOCONF_LIVE_MUTANTS=1 or run `scripts/tox -e local-mutants`")


def sync_verdicts(chart: Path, artifacts: Path) -> tuple[int, dict[str, str], dict]:
    """Run the live sync cases on the local platform against ``chart``: (exit code, case id -> verdict, report)."""
    argv = [sys.executable, "-m", "pytest", str(SYNC), "-m", "e2e", "--platform", "local", "--chart", str(chart),
            "--doc", str(DOC), "--local-crds", "controller", "--timeout-scale", "0.25", "-n", "2",
            "--artifacts-dir", str(artifacts), "-p", "no:cacheprovider", "-q"]
    out = run(argv, cwd=PROJECT_ROOT, timeout=900, check=False)
    report = json.loads((artifacts / "report.json").read_text())
    verdicts = {t["nodeid"].split("[", 1)[1].rstrip("]"): t["verdict"] for t in report["tests"] if "[" in t["nodeid"]}
    assert verdicts, f"no sync case ran (exit {out.returncode}): {out.stdout[-1500:]}{out.stderr[-800:]}"
    return out.returncode, verdicts, report


@pytest.mark.parametrize("mutant", [REFERENCE, *LIVE_MUTANTS], ids=str)
def test_a_rendered_object_defect_fails_its_live_case(mutant: Mutant, tmp_path: Path) -> None:
    chart = apply(mutant, tmp_path / "chart") if mutant.edits else PROJECT_ROOT / "tests" / "fixtures" / "charts" \
        / "external-secrets-0.16"
    code, verdicts, report = sync_verdicts(chart, tmp_path / "artifacts")
    failing = {case for case, verdict in verdicts.items() if verdict in ("fail", "error")}
    assert failing == set(mutant.breaks), f"{mutant}: failing {sorted(failing)}, expected {sorted(mutant.breaks)}"
    assert set(verdicts) == set(SYNC_ALL) and code == (1 if mutant.breaks else 0)
    assert not report["run"]["controller_skew"], "CI's live fixture deploys the controller that ran"
    assert report["run"]["fidelity"]["local"], "the report says what differed from a cluster"
