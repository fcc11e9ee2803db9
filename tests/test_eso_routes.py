"""The ESO controller's `image` and `git` routes of `install-tools --set local`, against real servers made here.

- image: the CNCF distribution registry (built from github.com/distribution/distribution/v3 v3.1.2, cached in
  $ESOCONF_TOOLS_CACHE) serving HTTPS on loopback with htpasswd auth and a CA made here; the test builds OCI images
  (a layer holding bin/external-secrets, one without it) and pushes them with skopeo. Success records the digest;
  a wrong digest, no credentials (401), a missing tag and a layer without the binary are one line each, exit 2.
- git: a bare repository made here holding a tiny Go module named like ESO, tagged; the route builds it with its
  own go.mod, and the binary then tells its release through its Go build info.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from esoconf.live.controller import told_version

REGISTRY_MODULE = "github.com/distribution/distribution/v3/cmd/registry@v3.1.2"
USER, PASSWORD = "eso-tester", "not-a-real-registry-password"
HELP = "#!/bin/sh\necho 'external-secrets controller (test image) usage'\n"


def _cache() -> Path:
    return Path(os.environ.get("ESOCONF_TOOLS_CACHE") or Path(__file__).resolve().parent.parent / ".tools" / "local")


@pytest.fixture(scope="session")
def registry_binary() -> Path:
    """The distribution registry, built once into the tools cache (minutes, cold)."""
    folder = _cache() / "registry-v3.1.2"
    binary = folder / "registry"
    if not binary.is_file():
        go = shutil.which("go")
        if not go:
            pytest.skip("the image route test needs the distribution registry: Go is not on PATH to build it")
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOBIN": str(folder), "CGO_ENABLED": "0", "GOFLAGS": "-trimpath"}
        built = subprocess.run([go, "install", REGISTRY_MODULE], env=env, capture_output=True, text=True,
                               timeout=1800, check=False)
        if built.returncode != 0:
            pytest.skip(f"could not build {REGISTRY_MODULE}: {built.stderr.strip().splitlines()[-1:]}")
    if not shutil.which("skopeo"):
        pytest.skip("the image route uses skopeo (Debian: apt-get install skopeo)")
    return binary


def _pki(folder: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1; returns the cert dir skopeo reads (ca.crt)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eso-routes-test-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(ca_key, hashes.SHA256()))
    (folder / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    certs = folder / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return certs


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # the system's libcrypt: bcrypt, as htpasswd files hold it

        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if not hashed or not hashed.startswith("$2"):
        pytest.skip("this libcrypt has no bcrypt for the registry's htpasswd file")
    return hashed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def oci_image(layout: Path, tag: str, files: dict[str, str]) -> None:
    """An OCI image layout with one gzip layer holding ``files`` (path -> text, executable)."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(text.encode()), 0o755
            tar.addfile(info, io.BytesIO(text.encode()))
    layer = _blob(layout, gzip.compress(raw.getvalue(), mtime=0))
    config = _blob(layout, json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {
        "type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw.getvalue()).hexdigest()}"]}}).encode())
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}]}).encode()
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **_blob(layout, manifest),
             "annotations": {"org.opencontainers.image.ref.name": tag}}
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))


@pytest.fixture(scope="module")
def registry(registry_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A registry on loopback (HTTPS, htpasswd) holding eso:v0.16.9 (with the binary) and nobin:v0.16.9."""
    folder = tmp_path_factory.mktemp("registry")
    certs = _pki(folder)
    (folder / "htpasswd").write_text(f"{USER}:{_bcrypt(PASSWORD)}\n")
    port = _free_port()
    (folder / "config.yml").write_text(json.dumps({
        "version": 0.1, "log": {"level": "error"}, "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
        "http": {"addr": f"127.0.0.1:{port}", "tls": {"certificate": str(folder / "server.crt"),
                                                       "key": str(folder / "server.key")}},
        "auth": {"htpasswd": {"realm": "eso-routes-test", "path": str(folder / "htpasswd")}}}))
    log = open(folder / "registry.log", "wb")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen([str(registry_binary), "serve", str(folder / "config.yml")], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"registry did not listen: {(folder / 'registry.log').read_text()[-500:]}")
            time.sleep(0.1)
        host = f"127.0.0.1:{port}"
        digests = {}
        for name, files in (("eso", {"bin/external-secrets": HELP}), ("nobin", {"bin/something-else": HELP})):
            layout = folder / f"{name}-layout"
            oci_image(layout, "v0.16.9", files)
            subprocess.run(["skopeo", "copy", "--quiet", "--dest-cert-dir", str(certs), "--dest-creds",
                            f"{USER}:{PASSWORD}", f"oci:{layout}:v0.16.9", f"docker://{host}/{name}:v0.16.9"],
                           check=True, capture_output=True, timeout=120)
            index = json.loads((layout / "index.json").read_text())
            digests[name] = index["manifests"][0]["digest"]
        yield {"host": host, "certs": certs, "digests": digests}
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("ESOCONF_TOOLS_CACHE", str(tmp_path / "cache"))
    for name in ("REGISTRY1_USERNAME", "REGISTRY1_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cache"


@pytest.mark.integration
def test_image_route_pulls_checks_and_caches_by_digest(
    installer: ModuleType, registry: dict, cache: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REGISTRY1_USERNAME", USER)
    monkeypatch.setenv("REGISTRY1_PASSWORD", PASSWORD)
    monkeypatch.setenv("ESOCONF_REGISTRY_CERT_DIR", str(registry["certs"]))
    ref = f"{registry['host']}/eso:v0.16.9"
    argv = ["--set", "local", "--eso-version", "v0.16.9", "--eso-from", "image", "--eso-image", ref, "eso"]
    assert installer.main(argv) == 0, capsys.readouterr()
    record = json.loads((cache / "eso-v0.16.9" / "manifest.json").read_text())
    digest = registry["digests"]["eso"]
    assert (record["route"], record["digest"]) == ("image", digest)
    assert record["origin"] == f"{ref} -> {registry['host']}/eso@{digest}"
    assert (cache / "eso-v0.16.9" / "external-secrets").read_text() == HELP
    assert PASSWORD not in json.dumps(record) and not list(cache.rglob("auth.json")), "no credentials are kept"
    capsys.readouterr()
    assert installer.main(argv) == 0 and " ok (cache " in capsys.readouterr().out  # cached: not pulled again


@pytest.mark.integration
@pytest.mark.parametrize(("case", "wanted"), [
    ("wrong-digest", "manifest unknown"),
    ("no-credentials", "authentication required"),
    ("missing-tag", "manifest unknown"),
    ("no-binary", "no layer holds the external-secrets binary"),
])
def test_image_route_failures_are_one_line_exit_2(
    installer: ModuleType, registry: dict, cache: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], case: str, wanted: str,
) -> None:
    monkeypatch.setenv("ESOCONF_REGISTRY_CERT_DIR", str(registry["certs"]))
    if case != "no-credentials":
        monkeypatch.setenv("REGISTRY1_USERNAME", USER)
        monkeypatch.setenv("REGISTRY1_PASSWORD", PASSWORD)
    host = registry["host"]
    ref = {"wrong-digest": f"{host}/eso@sha256:{'0' * 64}", "no-credentials": f"{host}/eso:v0.16.9",
           "missing-tag": f"{host}/eso:v9.9.9", "no-binary": f"{host}/nobin:v0.16.9"}[case]
    code = installer.main(["--set", "local", "--eso-version", "v0.16.9", "--eso-from", "image", "--eso-image", ref,
                           "eso"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"install-tools: ESO v0.16.9: image {ref.split('@')[0].rsplit(':v', 1)[0]}"), err
    assert wanted in err, err
    assert PASSWORD not in err and not (cache / "eso-v0.16.9" / "manifest.json").exists()


MAIN_GO = """package main

import (
\t"fmt"
\t"os"
)

func main() {
\tif len(os.Args) > 1 && os.Args[1] == "--help" {
\t\tfmt.Println("external-secrets controller (test module) usage")
\t}
}
"""


@pytest.fixture(scope="module")
def bare_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare git repository holding a Go module named like ESO's, tagged v0.16.9."""
    if not shutil.which("git") or not shutil.which("go"):
        pytest.skip("the git route test needs git and go")
    work = tmp_path_factory.mktemp("eso-src")
    (work / "go.mod").write_text("module github.com/external-secrets/external-secrets\n\ngo 1.24\n")
    (work / "main.go").write_text(MAIN_GO)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for argv in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "eso"], ["tag", "v0.16.9"]):
        subprocess.run(["git", *argv], cwd=work, env=env, check=True, capture_output=True)
    bare = tmp_path_factory.mktemp("bare") / "external-secrets.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, capture_output=True)
    return bare


def test_git_route_builds_the_tag_with_its_own_go_mod(
    installer: ModuleType, bare_repo: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--set", "local", "--eso-version", "v0.16.9", "--eso-from", "git", "--eso-git", str(bare_repo), "eso"]
    assert installer.main(argv) == 0, capsys.readouterr()
    record = json.loads((cache / "eso-v0.16.9" / "manifest.json").read_text())
    assert record["route"] == "git" and record["origin"].startswith(f"{bare_repo}@v0.16.9 (")
    assert told_version(cache / "eso-v0.16.9" / "external-secrets") == "v0.16.9", "the binary tells its release"


def test_git_route_missing_tag_is_one_line_exit_2(
    installer: ModuleType, bare_repo: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = installer.main(["--set", "local", "--eso-version", "v9.9.9", "--eso-from", "git", "--eso-git",
                           str(bare_repo), "eso"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"install-tools: ESO v9.9.9: git {bare_repo}@v9.9.9: ") and "v9.9.9" in err


def test_auth_file_is_private_and_holds_the_credentials(tmp_path: Path) -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("eso_routes", Path(__file__).resolve().parent.parent / "scripts"
                                                  / "eso_routes.py")
    assert spec is not None and spec.loader is not None
    routes = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("eso_routes_under_test", routes)
    spec.loader.exec_module(routes)
    args = routes._auth_args("registry1.dso.mil/ironbank/x:v1", tmp_path, {"REGISTRY1_USERNAME": "u",
                                                                           "REGISTRY1_PASSWORD": "p"})
    assert args == ["--authfile", str(tmp_path / "auth.json")]
    assert (tmp_path / "auth.json").stat().st_mode & 0o077 == 0
    auths = json.loads((tmp_path / "auth.json").read_text())["auths"]
    assert base64.b64decode(auths["registry1.dso.mil"]["auth"]) == b"u:p"
    assert routes._auth_args("ghcr.io/x:v1", tmp_path, {}) == ["--no-creds"]
    assert routes.image_name("127.0.0.1:5000/eso:v1") == "127.0.0.1:5000/eso"
    assert routes.image_name("ghcr.io/a/b@sha256:ab") == "ghcr.io/a/b"
