"""Image profiles, the ``private-registry`` pull secret, airgap archives and fail-fast pod watching.

Profiles (``--images``): ``registry1`` (Iron Bank images Big Bang ships; credentials from
REGISTRY1_USERNAME/REGISTRY1_PASSWORD), ``upstream`` (public images of the same versions) and ``airgap``
(the upstream names, loaded into kind from tarballs in ``--image-archive-dir``). All names come from the
``images:`` table of manifests/versions.yaml.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..redact import REDACT

PROFILES = ("registry1", "upstream", "airgap")
PULL_SECRET = "private-registry"
REGISTRY1 = "registry1.dso.mil"
CREDENTIAL_ENV = ("REGISTRY1_USERNAME", "REGISTRY1_PASSWORD")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".oci.tar")

# waiting reasons that no amount of waiting fixes (ErrImagePull is reported at the first failed pull)
TERMINAL_WAITING = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "ErrImageNeverPull",
)


@dataclass(frozen=True)
class ImageSet:
    profile: str
    images: Mapping[str, str]  # logical name (versions.yaml key) -> reference

    def __getitem__(self, name: str) -> str:
        try:
            return self.images[name]
        except KeyError:
            raise ConfigError(
                f"manifests/versions.yaml images: has no {name!r} entry for profile {self.profile}"
            ) from None

    @property
    def needs_pull_secret(self) -> bool:
        return self.profile == "registry1"


def split_image(ref: str) -> tuple[str, str]:
    """``registry/repo:tag`` -> (``registry/repo``, ``tag``); a registry port is not a tag."""
    if "@" in ref:
        raise ConfigError(
            f"image {ref}: charts take repository + tag; pin it by tag in manifests/versions.yaml"
        )
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return name, tag


# which images follow --vault-version / --istio-version (their tag is that version)
VERSIONED_IMAGES = {"vault": ("vault",), "istio": ("istio_pilot", "istio_proxy")}


def retag(ref: str, tag: str) -> str:
    return f"{split_image(ref)[0]}:{tag}"


def image_set(profile: str, versions: Mapping[str, Any], eso_image: str | None = None, *,
              vault_version: str | None = None, istio_version: str | None = None) -> ImageSet:
    """The images of a profile; ``vault_version``/``istio_version`` re-tag the Vault and Istio images."""
    if profile not in PROFILES:
        raise ConfigError(f"--images {profile!r}: choose one of {', '.join(PROFILES)}")
    column = "registry1" if profile == "registry1" else "upstream"
    table = versions.get("images") or {}
    images = {
        name: str(refs[column])
        for name, refs in table.items()
        if isinstance(refs, Mapping) and column in refs
    }
    if eso_image:
        images["external_secrets"] = eso_image
    for component, version in (("vault", vault_version), ("istio", istio_version)):
        for name in VERSIONED_IMAGES[component] if version else ():
            if name in images:
                images[name] = retag(images[name], str(version).removeprefix("v"))
    return ImageSet(profile, images)


def registry_credentials(env: Mapping[str, str]) -> tuple[str, str]:
    missing = [name for name in CREDENTIAL_ENV if not env.get(name)]
    if missing:
        raise ConfigError(
            f"--images registry1 needs {' and '.join(missing)} in the environment (your "
            f"registry1.dso.mil login; the CLI secret is the password), or use --images upstream"
        )
    username, password = env[CREDENTIAL_ENV[0]], env[CREDENTIAL_ENV[1]]
    REDACT.add(password)
    return username, password


def pull_secret_manifest(
    namespace: str, username: str, password: str, registry: str = REGISTRY1, name: str = PULL_SECRET
) -> dict[str, Any]:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    REDACT.add(auth, password)
    config = {"auths": {registry: {"username": username, "password": password, "auth": auth}}}
    encoded = base64.b64encode(json.dumps(config).encode()).decode()
    REDACT.add(encoded)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": namespace},
        "data": {".dockerconfigjson": encoded},
    }


def image_archives(directory: str | Path | None) -> list[Path]:
    if not directory:
        raise ConfigError("--images airgap needs --image-archive-dir (a folder of `docker save` tarballs)")
    path = Path(directory)
    if not path.is_dir():
        raise ConfigError(f"--image-archive-dir {directory}: no such directory")
    found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES))
    if not found:
        raise ConfigError(
            f"--image-archive-dir {directory}: no image tarballs (*.tar) in it; create them with "
            f"`docker save -o <name>.tar <image>` for every image in manifests/versions.yaml"
        )
    return found


# --- fail-fast pod watching -------------------------------------------------------------------------------


def _statuses(pod: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    status = pod.get("status") or {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for entry in status.get(key) or []:
            yield key, entry


def pod_name(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"


def image_failure(pods: Iterable[Mapping[str, Any]]) -> str | None:
    """A reason when a pod cannot start by waiting (bad image, crash loop), else None. Use as ``fail_if``."""
    for pod in pods:
        for _, entry in _statuses(pod):
            waiting = (entry.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason in TERMINAL_WAITING:
                message = REDACT(str(waiting.get("message") or "")).strip()
                detail = f": {message[:200]}" if message else ""
                what = (
                    f"image {entry.get('image')}"
                    if "Image" in reason
                    else f"container {entry.get('name')} (image {entry.get('image')})"
                )
                return f"pod {pod_name(pod)} {reason} for {what}{detail}"
        phase = (pod.get("status") or {}).get("phase")
        if phase == "Failed" and not _owned_by_job(pod):
            return (
                f"pod {pod_name(pod)} Failed: {(pod.get('status') or {}).get('reason') or 'see its events'}"
            )
    return None


def _owned_by_job(pod: Mapping[str, Any]) -> bool:
    return any(ref.get("kind") == "Job" for ref in (pod.get("metadata") or {}).get("ownerReferences") or [])


def pod_ready(pod: Mapping[str, Any]) -> bool:
    if (pod.get("status") or {}).get("phase") == "Succeeded":
        return True
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def all_ready(pods: Sequence[Mapping[str, Any]], minimum: int = 1) -> bool:
    running = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    return len(running) >= minimum and all(pod_ready(p) for p in running)
