"""Image profiles: which image references a run uses (shared by every platform).

Profiles (``--images``): ``registry1`` (Iron Bank images Big Bang ships; credentials from
REGISTRY1_USERNAME/REGISTRY1_PASSWORD), ``upstream`` (public images of the same versions) and ``airgap``
(the upstream names, loaded into kind from tarballs in ``--image-archive-dir``). All names come from the
``images:`` table of manifests/versions.yaml. The pull secret, the airgap archives and fail-fast pod
watching are the in-cluster platform's (:mod:`esoconf.platforms.incluster.images`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import ConfigError

PROFILES = ("registry1", "upstream", "airgap")


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
