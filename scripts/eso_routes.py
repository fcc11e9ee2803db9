"""How `scripts/install-tools --set local` gets the ESO controller besides its Go-module build (``modules``).

- ``image``: the controller image the chart deploys, through the OCI distribution API over HTTPS with Debian's
  ``skopeo`` (registry credentials from REGISTRY1_USERNAME/REGISTRY1_PASSWORD in a private auth file; public
  registries anonymously; a private CA from $ESOCONF_REGISTRY_CERT_DIR). The manifest and every layer are checked
  against their sha256 digests, the layers unpacked in order and the ``external-secrets`` binary taken from them.
- ``git``: the release tag cloned and built with the repository's own go.mod (its ``./apis``-style replaces work in
  a checkout), for machines that reach the git host.

Each failure is one line (:class:`RouteError`). Standard library only, like install-tools.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROUTES = ("image", "git", "modules")
BINARY = "external-secrets"
DEFAULT_IMAGE = "ghcr.io/external-secrets/external-secrets"  # + ":<release>" when no image is given
DEFAULT_GIT = "https://github.com/external-secrets/external-secrets.git"
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
CERT_DIR_ENV = "ESOCONF_REGISTRY_CERT_DIR"


class RouteError(Exception):
    """A route cannot give the controller here (one line)."""


@dataclass
class Fetched:
    binary: Path
    source: str
    record: dict[str, Any] = field(default_factory=dict)  # route, origin, digest: into the cache's manifest.json


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    if 'msg="' in line:  # skopeo's logrus line: time="..." level=fatal msg="..."
        line = line.split('msg="', 1)[1].rsplit('"', 1)[0]
    return line.replace('\\"', '"')


# ------------------------------------------------------------------------------------------------- image


def image_name(ref: str) -> str:
    """``host/path`` of ``host/path:tag`` or ``host/path@sha256:...``."""
    name = ref.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _registry(ref: str) -> str:
    return ref.split("/", 1)[0]


def _auth_args(ref: str, work: Path, env: dict[str, str], prefix: str = "") -> list[str]:
    args: list[str] = []
    user, password = env.get("REGISTRY1_USERNAME"), env.get("REGISTRY1_PASSWORD")
    if user and password:  # never on the command line: a private auth file
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        authfile = work / "auth.json"
        authfile.write_text(json.dumps({"auths": {_registry(ref): {"auth": token}}}), encoding="utf-8")
        authfile.chmod(0o600)
        args += [f"--{prefix}authfile", str(authfile)]
    else:
        args += [f"--{prefix}no-creds"]
    if env.get(CERT_DIR_ENV):
        args += [f"--{prefix}cert-dir", env[CERT_DIR_ENV]]
    return args


def _skopeo(skopeo: str, args: list[str], ref: str, env: dict[str, str]) -> str:
    try:
        proc = subprocess.run([skopeo, *args], capture_output=True, text=True, timeout=900, check=False,
                              env={**env, "HOME": env.get("HOME", tempfile.gettempdir())})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RouteError(f"image {ref}: skopeo did not run ({exc})") from None
    if proc.returncode != 0:
        raise RouteError(f"image {ref}: {_last_line(proc.stderr or proc.stdout)}")
    return proc.stdout


def _platform_manifest(index: dict[str, Any], ref: str) -> str:
    for entry in index.get("manifests") or []:
        wanted = entry.get("platform") or {}
        if wanted.get("os") == "linux" and wanted.get("architecture") == "amd64":
            return str(entry["digest"])
    raise RouteError(f"image {ref}: its index has no linux/amd64 manifest")


def from_image(ref: str, work: Path, env: dict[str, str] | None = None) -> Fetched:
    """Pull ``ref`` with skopeo, check every digest, unpack its layers, take the controller binary."""
    env = dict(os.environ if env is None else env)
    skopeo = shutil.which("skopeo", path=env.get("PATH"))
    if not skopeo:
        raise RouteError(f"image {ref}: skopeo is not on PATH (Debian: apt-get install skopeo)")
    work.mkdir(parents=True, exist_ok=True)
    name = image_name(ref)
    raw = _skopeo(skopeo, ["inspect", "--raw", *_auth_args(ref, work, env), f"docker://{ref}"], ref, env)
    manifest = json.loads(raw)
    digest = "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    if "@" in ref and ref.split("@", 1)[1] != digest:
        raise RouteError(f"image {ref}: the registry served a manifest with digest {digest}")
    if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
        digest = _platform_manifest(manifest, ref)
    pinned = f"{name}@{digest}"
    layout = work / "image"
    _skopeo(skopeo, ["copy", "--quiet", *_auth_args(ref, work, env, "src-"), f"docker://{pinned}",
                     f"dir:{layout}"], ref, env)
    if sha256_file(layout / "manifest.json") != digest:
        raise RouteError(f"image {pinned}: the manifest pulled does not have that digest")
    image = json.loads((layout / "manifest.json").read_text(encoding="utf-8"))
    binary = work / BINARY
    found = False
    for layer in image.get("layers") or []:
        blob = layout / str(layer["digest"]).split(":", 1)[1]
        if sha256_file(blob) != layer["digest"]:
            raise RouteError(f"image {pinned}: layer {layer['digest']} does not match its digest")
        found = _take_binary(blob, binary) or found  # later layers win, as in a container's filesystem
    if not found:
        raise RouteError(f"image {pinned}: no layer holds the {BINARY} binary")
    binary.chmod(0o755)
    return Fetched(binary, f"image {pinned} (pulled by skopeo from {ref})",
                   {"route": "image", "origin": f"{ref} -> {pinned}", "digest": digest})


def _take_binary(blob: Path, dest: Path) -> bool:
    try:
        with tarfile.open(blob, mode="r:*") as layer:
            for member in layer:
                if member.isfile() and Path(member.name).name == BINARY:
                    source = layer.extractfile(member)
                    if source is not None:
                        with source, open(dest, "wb") as out:
                            shutil.copyfileobj(source, out, 1 << 20)
                        return True
    except tarfile.TarError as exc:
        raise RouteError(f"layer {blob.name[:12]}: not a tar archive ({exc})") from None
    return False


# --------------------------------------------------------------------------------------------------- git


def from_git(url: str, tag: str, work: Path, go: Path, env: dict[str, str], log: Path) -> Fetched:
    """Clone ``tag`` of ``url`` and build the controller (the module root's main package) with its own go.mod."""
    source = work / "src"
    git = shutil.which("git", path=env.get("PATH"))
    if not git:
        raise RouteError(f"git {url}@{tag}: git is not on PATH")
    quiet = {**env, "GIT_TERMINAL_PROMPT": "0"}
    clone = subprocess.run([git, "clone", "--quiet", "--depth", "1", "--branch", tag, url, str(source)],
                           capture_output=True, text=True, timeout=900, check=False, env=quiet)
    if clone.returncode != 0:
        raise RouteError(f"git {url}@{tag}: {_last_line(clone.stderr)}")
    commit = subprocess.run([git, "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                            timeout=60, check=False).stdout.strip()
    binary = work / BINARY
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ go build (in a checkout of {url}@{tag})\n")
        out.flush()
        built = subprocess.run([str(go), "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."],
                               cwd=source, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=3600, check=False)
    if built.returncode != 0 or not binary.is_file():
        tail = " | ".join(log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-2:])
        raise RouteError(f"git {url}@{tag}: the build failed (exit code {built.returncode}): {tail} (log: {log})")
    return Fetched(binary, f"git {url}@{tag} ({commit[:12]}), built with its own go.mod",
                   {"route": "git", "origin": f"{url}@{tag} ({commit[:12]})"})
