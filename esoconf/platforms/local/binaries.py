"""Where the `local` platform's binaries are: etcd, kube-apiserver, kube-controller-manager, the ESO controller and
a Vault API server (HashiCorp Vault or OpenBao).

``python scripts/install-tools --if-missing --set local`` builds or fetches them into the cache
(``.tools/local/<component>-<version>/``, or ``$ESOCONF_TOOLS_CACHE``); a cache entry counts once the installer
has verified it and written its ``manifest.json``. Anything missing is one :class:`ToolError` line naming the fix.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import PROJECT_ROOT, load_versions
from ...runner import CommandError, run
from ...tools import ToolError, parse_version

CACHE_ENV = "ESOCONF_TOOLS_CACHE"
# component -> the binary in its cache folder
BINARY = {
    "kube-apiserver": "kube-apiserver",
    "kube-controller-manager": "kube-controller-manager",
    "etcd": "etcd",
    "openbao": "bao",
    "eso": "external-secrets",
}
VERSION_ARGS: dict[str, tuple[str, ...]] = {
    "kube-apiserver": ("--version",),
    "kube-controller-manager": ("--version",),
    "etcd": ("--version",),
    "openbao": ("version",),
    "vault": ("version",),
}
ENVTEST = "KUBEBUILDER_ASSETS"  # envtest's folder of kube-apiserver, etcd (and maybe kube-controller-manager)


@dataclass(frozen=True)
class LocalBinaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    eso: Path
    vault: Path
    vault_product: str  # "vault" or "openbao"
    eso_version: str  # the ESO release the eso binary is (its manifest.json), or "given" for --eso-bin
    kubernetes_version: str
    sources: dict[str, str] = field(default_factory=dict)  # component -> where it came from
    eso_route: str = "modules"  # how the cached controller was had (install-tools --eso-from): image|git|modules
    eso_origin: str = ""  # the image reference, git tag or module@version it came from
    eso_digest: str = ""  # the image's digest (image route)


def cache_dir(environ: Mapping[str, str] = os.environ, root: Path = PROJECT_ROOT) -> Path:
    return Path(environ[CACHE_ENV]) if environ.get(CACHE_ENV) else root / ".tools" / "local"


def install_command(eso_version: str) -> str:
    return f"python scripts/install-tools --if-missing --set local --eso-version {eso_version}"


def pinned_versions(versions: Mapping[str, Any]) -> dict[str, str]:
    """component -> the version its cache folder is named after (``v`` + the pin)."""
    local = versions["local"]
    pins = {
        "kube-apiserver": local["kubernetes"]["version"],
        "kube-controller-manager": local["kubernetes"]["version"],
        "etcd": local["etcd"]["registry_package"].partition("==")[2],
        "openbao": local["openbao"]["registry_package"].partition("==")[2],
    }
    return {name: vee(str(version)) for name, version in pins.items()}


def vee(version: str) -> str:
    return version if version.startswith("v") else "v" + version


def binary_version(path: Path, args: Sequence[str] = ("--version",)) -> str:
    """Run a binary's version command; the first ``vX.Y.Z`` it prints (``ToolError`` if it fails or prints none)."""
    return _version_and_output(path, args)[0]


def _version_and_output(path: Path, args: Sequence[str]) -> tuple[str, str]:
    try:
        out = run([path, *args], timeout=30)
    except CommandError as exc:
        raise ToolError(f"{path} {' '.join(args)} failed ({exc.note or f'exit code {exc.returncode}'})") from None
    text = out.stdout + out.stderr
    version = parse_version(text)
    if version is None:
        raise ToolError(f"{path} {' '.join(args)} printed no version")
    return "v" + ".".join(map(str, version)), text


def _cached(component: str, version: str, cache: Path) -> tuple[Path, dict[str, Any]] | None:
    folder = cache / f"{component}-{version}"
    binary = folder / BINARY[component]
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return None
    return binary, manifest


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _vault_server(
    vault_bin: str | None, environ: Mapping[str, str], cache: Path, pins: Mapping[str, str]
) -> tuple[Path, str, str]:
    """(path, product, source) of the Vault API server: ``vault_bin``, ``vault`` on PATH, or cached ``bao``."""
    if vault_bin:
        if not _executable(Path(vault_bin)):
            raise ToolError(f"vault (--vault-bin {vault_bin} is not an executable file)")
        text = _version_and_output(Path(vault_bin), VERSION_ARGS["vault"])[1]
        return Path(vault_bin), "openbao" if "openbao" in text.lower() else "vault", "--vault-bin"
    on_path = shutil.which("vault", path=environ.get("PATH", os.defpath))
    if on_path:
        return Path(on_path), "vault", "PATH"
    hit = _cached("openbao", pins["openbao"], cache)
    if hit is None:
        raise ToolError(f"openbao {pins['openbao']} (not in {cache / ('openbao-' + pins['openbao'])})")
    return hit[0], "openbao", f"cache {hit[0].parent}"


def find_vault_server(
    vault_bin: str | None = None, *, environ: Mapping[str, str] = os.environ, root: Path = PROJECT_ROOT
) -> tuple[Path, str, str]:
    """The Vault API server alone (the quick `vault` tier): (path, "vault"/"openbao", where it came from)."""
    pins = pinned_versions(load_versions(root / "manifests" / "versions.yaml"))
    cache = cache_dir(environ, root)
    try:
        return _vault_server(vault_bin, environ, cache, pins)
    except ToolError as exc:
        raise ToolError(f"no Vault server binary: {exc}. Fix: run `python scripts/install-tools --if-missing "
                        f"--set local openbao`, put `vault` on PATH, or pass --vault-bin PATH") from None


def find_local_binaries(
    eso_version: str,
    *,
    eso_bin: str | None = None,
    vault_bin: str | None = None,
    environ: Mapping[str, str] = os.environ,
    root: Path = PROJECT_ROOT,
) -> LocalBinaries:
    """The binaries the `local` platform runs. Order:

    kube-apiserver, etcd (and kube-controller-manager when it is there): ``KUBEBUILDER_ASSETS`` when set, else the
    cache; ESO: ``eso_bin``, else the cache for ``eso_version``; Vault: ``vault_bin``, else ``vault`` on PATH,
    else the cached OpenBao ``bao``.
    """
    eso_version = vee(eso_version)
    pins = pinned_versions(load_versions(root / "manifests" / "versions.yaml"))
    cache = cache_dir(environ, root)
    found: dict[str, Path] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    kubernetes_version = pins["kube-apiserver"]

    def from_cache(component: str, version: str) -> dict[str, Any] | None:
        hit = _cached(component, version, cache)
        if hit is None:
            problems.append(f"{component} {version} (not in {cache / f'{component}-{version}'})")
            return None
        found[component], manifest = hit
        sources[component] = f"cache {hit[0].parent}"
        return manifest

    assets = environ.get(ENVTEST)
    for component in ("kube-apiserver", "etcd", "kube-controller-manager"):
        candidate = Path(assets) / BINARY[component] if assets else None
        if candidate is not None and _executable(candidate):
            found[component], sources[component] = candidate, ENVTEST
        elif candidate is not None and component != "kube-controller-manager":
            problems.append(f"{component} (not in {ENVTEST}={assets})")
        else:
            from_cache(component, pins[component])
    if sources.get("kube-apiserver") == ENVTEST:
        kubernetes_version = binary_version(found["kube-apiserver"], VERSION_ARGS["kube-apiserver"])

    resolved_eso = "given"
    eso_record: dict[str, Any] = {}
    if eso_bin:
        if _executable(Path(eso_bin)):
            found["eso"], sources["eso"] = Path(eso_bin), "--eso-bin"
        else:
            problems.append(f"eso (--eso-bin {eso_bin} is not an executable file)")
    else:
        manifest = from_cache("eso", eso_version)
        resolved_eso = str(manifest.get("version", eso_version)) if manifest is not None else eso_version
        eso_record = manifest or {}

    vault_product = "openbao"
    try:
        found["vault"], vault_product, sources["vault"] = _vault_server(vault_bin, environ, cache, pins)
    except ToolError as exc:
        problems.append(str(exc))

    if problems:
        missing = {problem.split()[0] for problem in problems}
        instead = [hint for names, hint in (
            ({"eso"}, "pass --eso-bin PATH for an ESO that cannot be built here"),
            ({"kube-apiserver", "etcd", "kube-controller-manager"},
             f"set {ENVTEST} to an envtest folder (kube-apiserver, etcd)"),
            ({"openbao", "vault"}, "put `vault` on PATH"),
        ) if names & missing]
        raise ToolError(
            f"local platform binaries missing: {'; '.join(problems)}. Fix: run `{install_command(eso_version)}` "
            f"(builds/fetches them into {cache}; {CACHE_ENV} names another cache), or {', or '.join(instead)}"
        )
    return LocalBinaries(
        etcd=found["etcd"],
        kube_apiserver=found["kube-apiserver"],
        kube_controller_manager=found["kube-controller-manager"],
        eso=found["eso"],
        vault=found["vault"],
        vault_product=vault_product,
        eso_version=resolved_eso,
        kubernetes_version=kubernetes_version,
        sources=sources,
        eso_route=str(eso_record.get("route") or "modules"),
        eso_origin=str(eso_record.get("origin") or ""),
        eso_digest=str(eso_record.get("digest") or ""),
    )
