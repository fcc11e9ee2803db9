"""Existing clusters (``--kubeconfig``) in the core's registry (:mod:`esoconf.platforms`): the doctor's own
Docker/cluster checks decide whether they can run; the image settings are kind's check (:mod:`..kind.register`)."""

from __future__ import annotations

from typing import Any

from .. import PlatformEntry, register


def _provider(*args: Any) -> Any:
    from .provider import existing_provider

    return existing_provider(*args)


EXISTING = register(PlatformEntry("existing", tox_env="e2e", provider=_provider))
