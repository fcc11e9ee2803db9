"""Images on the in-cluster platform: the ``private-registry`` pull secret (``--images registry1``), airgap
archives loaded into kind (``--images airgap``) and fail-fast pod watching (a pod that cannot start by
waiting). The image references themselves are :mod:`esoconf.live.images` (shared)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...config import ConfigError
from ...redact import REDACT

PULL_SECRET = "private-registry"
REGISTRY1 = "registry1.dso.mil"
CREDENTIAL_ENV = ("REGISTRY1_USERNAME", "REGISTRY1_PASSWORD")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".oci.tar")

# waiting reasons that no amount of waiting fixes. Not ErrImagePull: it is the first failed pull, which kubelet
# retries (a registry hiccup, a cold mirror); only its ImagePullBackOff, seconds later, is final
TERMINAL_WAITING = (
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "ErrImageNeverPull",
)


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
