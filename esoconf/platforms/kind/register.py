"""The kind platform and existing clusters in the core's registry (:mod:`esoconf.platforms`): the doctor's own
Docker/kind/cluster checks decide whether they can run; the image settings are checked before a run."""

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


KIND = register(PlatformEntry("kind", tox_env="e2e", check_inputs=check_image_inputs))
EXISTING = register(PlatformEntry("existing", tox_env="e2e"))
