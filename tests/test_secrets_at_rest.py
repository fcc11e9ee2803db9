"""No secret at rest: a failing run's artifacts (reports, JUnit, diagnostics, copied process logs) hold no
registered value and no fragment of one; the Vault dev server's unseal key is registered before any log is
copied; the private run folder (keys, tokens, raw logs) is gone when the run ends."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from hostile import Run

from esoconf import config as cfg
from esoconf.platforms.local.binaries import cache_dir, pinned_versions
from esoconf.redact import REDACT


def real_openbao() -> Path | None:
    binary = cache_dir() / f"openbao-{pinned_versions(cfg.load_versions())['openbao']}" / "bao"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


BAO = real_openbao()  # now: the `suite` fixture clears ESOCONF_TOOLS_CACHE
NEEDS_OPENBAO = pytest.mark.skipif(BAO is None, reason=f"the real OpenBao is not in the tools cache "
                                   f"({cache_dir()}): run `python scripts/install-tools --if-missing --set local "
                                   f"openbao`")

# a run whose token case fails with the Vault server's raw log (root token, unseal key) in its failure message and
# on stdout, after copying the process logs into its diagnostics as the live tier does; at the end it scans every
# artifact for every registered value and fragment and writes what it found (names only, never the values)
FAILING_RUN_CONFTEST = '''
import json, os
from pathlib import Path
import pytest
from esoconf.platforms.local.platform import private_run_dir
from esoconf.platforms.local.processes import Supervisor
from esoconf.platforms.local.vault_server import start_vault_dev
from esoconf.redact import REDACT

@pytest.fixture(scope="session")
def vault():
    supervisor = Supervisor(private_run_dir())
    _, info = start_vault_dev(supervisor, Path(os.environ["REAL_BAO"]), timeout=60)
    yield supervisor, info
    supervisor.close()

def pytest_unconfigure(config):
    artifacts = Path("artifacts")
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    found = {str(p.relative_to(artifacts)): REDACT.leaks(p.read_text(errors="replace")) for p in files}
    Path(os.environ["SCAN_RESULT"]).write_text(json.dumps({"files": len(files), "found": found}))
'''
FAILING_TOKEN_CASE = '''
import time
from pathlib import Path
import pytest
from esoconf.redact import REDACT

@pytest.mark.claim("TOK-1")
def test_token_store_ready(vault):
    supervisor, info = vault
    log = supervisor.log_files()["vault"]
    deadline = time.monotonic() + 30
    while "Unseal Key: " not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # the dev server prints its banner after it answers sys/health
    raw = log.read_text()
    assert "Unseal Key: " in raw and REDACT.leaks(raw), "the raw log holds the secrets this scan looks for"
    supervisor.keep_logs(Path("artifacts/diagnostics/test_token_store_ready/logs"))
    print(raw)
    assert info.root_token == "not the token", raw
'''


@pytest.mark.integration  # a real OpenBao dev server
@NEEDS_OPENBAO
def test_a_failing_runs_artifacts_hold_no_registered_secret(suite: pytest.Pytester, tmp_path: Path) -> None:
    suite.makeconftest(FAILING_RUN_CONFTEST)
    suite.makepyfile(test_token=FAILING_TOKEN_CASE)
    run = Run(tmp_path / "run")
    scan = tmp_path / "scan.json"

    outcome = run.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                       "-o", "junit_logging=all"], suite.path,
                      {"REAL_BAO": str(BAO), "SCAN_RESULT": str(scan)}, timeout=300)

    assert outcome.code == 1, outcome.stdout[-2000:]
    result = json.loads(scan.read_text())
    assert result["files"] >= 4, result  # junit.xml, report.json/.md/.html, the copied vault.log
    assert {name: found for name, found in result["found"].items() if found} == {}
    assert "diagnostics/test_token_store_ready/logs/vault.log" in result["found"]
    assert "Unseal Key: <redacted>" in outcome.stdout  # the failure message and captured stdout, masked
    assert run.left_folders() == [], "the private run folder (root token, raw log) outlived the run"
    assert run.left_processes() == []


@pytest.mark.integration  # a real OpenBao dev server
@NEEDS_OPENBAO
def test_the_real_dev_servers_unseal_key_is_registered_before_a_log_is_copied(tmp_path: Path) -> None:
    """Observed with OpenBao 2.7.2: the dev server prints ``Unseal Key: <base64>`` after it answers sys/health."""
    from esoconf.platforms.local.processes import Supervisor
    from esoconf.platforms.local.vault_server import UNSEAL_KEY, start_vault_dev

    supervisor = Supervisor(tmp_path / "run")
    try:
        start_vault_dev(supervisor, BAO or Path("bao"), timeout=60)
        log = supervisor.log_files()["vault"]
        deadline = time.monotonic() + 30
        while "Unseal Key: " not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)  # printed after the first healthy answer: registered by keep_logs' before_copy hook
        copied = supervisor.keep_logs(tmp_path / "diagnostics")
        raw = log.read_text()
    finally:
        supervisor.close()

    [key] = UNSEAL_KEY.findall(raw)
    assert REDACT.leaks(key) != [], "the unseal key is not registered with the redaction layer"
    text = (copied / "vault.log").read_text()
    assert "Unseal Key: <redacted>" in text
    assert REDACT.leaks(text) == [] and key not in text


def test_the_unseal_key_line_is_masked_even_unregistered() -> None:
    """The safety net for a key printed where no one registered it (e.g. a server started by hand)."""
    assert REDACT("Unseal Key: wWQ0Y3Zs+9kPq1zV2gXrYzE0bTfQ3aB5cD6eF7gH8iJ=") == "Unseal Key: <redacted>"


def test_private_keys_are_registered_when_written(tmp_path: Path) -> None:
    from esoconf.platforms.local.pki import make_cluster_pki

    pki = make_cluster_pki(tmp_path / "pki")
    key = pki.sa_private.read_text()
    body = "".join(line for line in key.splitlines() if not line.startswith("-----"))

    assert REDACT.leaks(f"leaked: {body[40:80]}") != []
    assert REDACT(key).count("<redacted>") >= 1 and body[:40] not in REDACT(key)
    assert (pki.sa_private.stat().st_mode & 0o777) == 0o600
