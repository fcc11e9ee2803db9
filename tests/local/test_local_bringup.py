"""Bringing the local platform up (esoconf.platforms.local.bringup), whether it can run here
(esoconf.platforms.local.doctor) and the Vault dev server (esoconf.platforms.local.vault_server), on fake programs; one
optional test starts the real OpenBao."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from localfakes import EXITS_AT_ONCE, FAKE_ETCD, all_gone, fake_cache, kill_quietly, program, read_pid

from esoconf import config as cfg
from esoconf.config import PROJECT_ROOT
from esoconf.platforms.local import bringup
from esoconf.platforms.local.binaries import cache_dir, install_command, pinned_versions
from esoconf.platforms.local.doctor import local_blockers
from esoconf.platforms.local.processes import ProcessDied, Supervisor
from esoconf.platforms.local.vault_server import product_of, start_vault_dev
from esoconf.redact import REDACT
from esoconf.tools import ToolError
from esoconf.wait import Timeouts

ESO = "v0.16.2"
CHART = PROJECT_ROOT / "tests" / "fixtures" / "charts" / "external-secrets"
DOC = PROJECT_ROOT / "tests" / "fixtures" / "docs" / "VAULT_INTEGRATION.md"
VERSIONS = {**pinned_versions(cfg.load_versions()), "eso": ESO}


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_tool: Callable[..., Path]) -> dict[str, Any]:
    """An isolated machine: helm and kubectl fakes, an empty tools cache, no vault on PATH, no envtest."""
    (tmp_path / "empty-path").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.setenv("ESOCONF_TOOLS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    (tmp_path / "pids").mkdir()
    monkeypatch.setenv("FAKE_PIDS", str(tmp_path / "pids"))
    monkeypatch.setattr(bringup, "private_run_dir", lambda: tmp_path / "run")
    return {"helm": str(fake_tool("helm", "v3.17.2")), "kubectl": str(fake_tool("kubectl", "v1.33.4")),
            "cache": tmp_path / "cache"}


def local_config(machine: dict[str, Any], **extra: Any) -> cfg.Config:
    cli = {"platform": "local", "chart": str(CHART), "doc": str(DOC), "eso_version": ESO,
           "helm": machine["helm"], "kubectl": machine["kubectl"], **extra}
    return cfg.resolve(cli, env={})


def test_local_blockers_name_the_install_command_when_binaries_are_missing(machine: dict[str, Any]) -> None:
    reason = local_blockers(local_config(machine))

    assert "\n" not in reason
    assert reason.startswith("local platform binaries missing: kube-apiserver v1.34.4 (not in ")
    assert f"Fix: run `{install_command(ESO)}`" in reason
    for component in ("etcd", "kube-controller-manager", "eso", "openbao"):
        assert f"{component} {VERSIONS[component]} (not in {machine['cache']}" in reason


def test_local_blockers_with_everything_present_is_empty(machine: dict[str, Any]) -> None:
    fake_cache(machine["cache"], VERSIONS)

    assert local_blockers(local_config(machine)) == ""


def test_local_blockers_without_a_known_eso_release_use_the_pinned_one(machine: dict[str, Any]) -> None:
    """No chart, no --eso-version (the doctor alone): the ESO release the local tier builds by default."""
    fake_cache(machine["cache"], VERSIONS)
    assert local_blockers(local_config(machine, eso_version=None, chart=None)) == ""


def test_local_blockers_name_a_missing_helm(machine: dict[str, Any], tmp_path: Path) -> None:
    fake_cache(machine["cache"], VERSIONS)

    reason = local_blockers(local_config(machine, helm=str(tmp_path / "no-helm")))

    assert "\n" not in reason and "helm" in reason and str(tmp_path / "no-helm") in reason


def test_setup_local_with_missing_binaries_is_one_line_and_starts_nothing(machine: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    with pytest.raises(ToolError) as caught:
        bringup.setup_local(local_config(machine), "r1", Timeouts(), tmp_path / "artifacts")

    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("local platform binaries missing: ")
    assert install_command(ESO) in str(caught.value)
    assert not (tmp_path / "run").exists()


def test_a_failure_mid_bring_up_is_one_line_and_leaves_no_process(machine: dict[str, Any], tmp_path: Path) -> None:
    fake_cache(machine["cache"], VERSIONS, {"etcd": FAKE_ETCD, "kube-apiserver": EXITS_AT_ONCE})

    try:
        with pytest.raises(ProcessDied) as caught:
            bringup.setup_local(local_config(machine), "r1", Timeouts(scale=0.1), tmp_path / "artifacts")
        etcd = read_pid(tmp_path / "pids" / "etcd.pid")
        assert all_gone([etcd]), "etcd's fake still runs after the failed bring-up"
    finally:
        if (tmp_path / "pids" / "etcd.pid").exists():
            kill_quietly(read_pid(tmp_path / "pids" / "etcd.pid"))

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("kube-apiserver exited with code 1 (log ")
    assert message.endswith("error: unable to load server certificate")


def test_an_unexpected_error_mid_bring_up_is_one_line_and_stops_what_started(
    machine: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_cache(machine["cache"], VERSIONS, {"etcd": FAKE_ETCD})

    def control_plane(supervisor: Supervisor, *, etcd: Path, **_: Any) -> None:
        supervisor.start("etcd", [etcd, "--listen-client-urls=http://127.0.0.1:0"], ready=lambda: True, timeout=5)
        read_pid(tmp_path / "pids" / "etcd.pid")
        raise RuntimeError("etcdserver: mvcc: database space exceeded\nsecond line")

    monkeypatch.setattr(bringup, "start_control_plane", control_plane)
    try:
        with pytest.raises(bringup.LocalUnavailable) as caught:
            bringup.setup_local(local_config(machine), "r1", Timeouts(), tmp_path / "artifacts")
        assert all_gone([read_pid(tmp_path / "pids" / "etcd.pid")])
    finally:
        kill_quietly(read_pid(tmp_path / "pids" / "etcd.pid"))

    assert str(caught.value) == ("local platform setup failed: RuntimeError: etcdserver: mvcc: database space "
                                 f"exceeded (process logs: {bringup.bringup_logs(tmp_path / 'artifacts')})")
    assert not (tmp_path / "run").exists(), "the private run folder outlived the failed bring-up"


FAKE_VAULT = """
import http.server, json, os, sys
token = os.environ["VAULT_DEV_ROOT_TOKEN_ID"]
assert os.environ["BAO_DEV_ROOT_TOKEN_ID"] == token and token not in " ".join(sys.argv)
print("Root Token: " + token, flush=True)  # as the dev server does
address = next(a for a in sys.argv if a.startswith("-dev-listen-address=")).split("=", 1)[1]

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"initialized": True, "sealed": False, "version": "1.19.0"}).encode()
        self.send_response(200 if self.path == "/v1/sys/health" else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

host, port = address.rsplit(":", 1)
http.server.HTTPServer((host, int(port)), Health).serve_forever()
"""


def test_vault_dev_server_gets_its_token_by_environment_and_reports_its_version(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "run")
    try:
        managed, info = start_vault_dev(supervisor, program(tmp_path / "bin" / "vault", FAKE_VAULT), timeout=20)
        log = managed.log.read_text()
    finally:
        supervisor.stop_all()

    assert (info.product, info.version, info.label) == ("vault", "1.19.0", "HashiCorp Vault 1.19.0")
    assert info.url.startswith("http://127.0.0.1:") and len(info.root_token) == 40 and int(info.root_token, 16) >= 0
    assert info.root_token not in " ".join(managed.argv) and info.root_token not in repr(info)
    assert info.root_token in log and info.root_token not in REDACT(log)  # registered for redaction
    assert product_of(Path("/x/bao")) == "openbao"


def real_openbao() -> Path | None:
    version = pinned_versions(cfg.load_versions())["openbao"]
    binary = cache_dir() / f"openbao-{version}" / "bao"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


@pytest.mark.skipif(real_openbao() is None, reason=f"the real OpenBao is not in the tools cache ({cache_dir()}; "
                    "python scripts/install-tools --if-missing --set local openbao, or ESOCONF_TOOLS_CACHE)")
def test_real_openbao_dev_server_starts_and_stops(tmp_path: Path) -> None:
    binary = real_openbao()
    assert binary is not None
    supervisor = Supervisor(tmp_path / "run")
    try:
        managed, info = start_vault_dev(supervisor, binary, timeout=30)
        cmdline = Path(f"/proc/{managed.pid}/cmdline").read_bytes().decode()
        pid = managed.pid
    finally:
        codes = supervisor.stop_all()

    assert info.product == "openbao" and info.version.startswith("2.")
    assert info.root_token not in cmdline
    assert codes == {"vault": 0} and all_gone([pid])
    assert info.label.startswith("OpenBao 2.")


def test_local_blockers_with_eso_bin_give_a_command_that_runs(machine: dict[str, Any], tmp_path: Path) -> None:
    """--eso-bin and no known ESO release: the other binaries' fix is still a real install command (the
    pinned ESO release, not a made-up version)."""
    eso = program(tmp_path / "my-eso", "print('external-secrets')\n")

    reason = local_blockers(local_config(machine, eso_version=None, chart=None, eso_bin=str(eso)))

    pinned = str(cfg.load_versions()["local"]["eso"]["version"])
    assert f"Fix: run `{install_command(pinned)}`" in reason
    assert "eso " not in reason.split(". Fix:")[0]  # the ESO binary is given: not missing
