"""The kind platform in the core's registry (:mod:`esoconf.platforms`): the doctor's own Docker/kind/cluster checks
decide whether it can run; the image settings are checked before a run (for existing clusters too); its cluster
provider and the end-of-run deletion of a cluster a worker created."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...config import ConfigError
from .. import PlatformEntry, register
from ..incluster.images import image_archives, registry_credentials


def check_image_inputs(resolved: Any, environ: Mapping[str, str]) -> None:
    """The image set's inputs (one line each): registry credentials for registry1, tarballs for airgap."""
    if resolved.images == "registry1":
        registry_credentials(environ)
    elif resolved.images == "airgap":
        if resolved.kubeconfig:
            raise ConfigError("--images airgap loads tarballs into kind; with --kubeconfig preload the images "
                              "and use --images upstream")
        image_archives(resolved.image_archive_dir)


def _provider(*args: Any) -> Any:
    from .provider import kind_provider  # imported when a run makes a kind cluster

    return kind_provider(*args)


def _teardown(plan: Mapping[str, Any]) -> bool:
    from .cluster import delete_from_plan

    return delete_from_plan(plan)


KIND = register(PlatformEntry("kind", tox_env="e2e", check_inputs=check_image_inputs, provider=_provider,
                              teardown=_teardown))
