"""The local platform in the core's registry (:mod:`esoconf.platforms`)."""

from __future__ import annotations

from typing import Any

from ... import doctor as core_doctor
from .. import PlatformEntry, register
from . import binaries
from . import doctor as local_doctor


def check_local(ctx: core_doctor.Context) -> core_doctor.CheckResult:
    """The local platform's binaries (etcd, kube-apiserver, kube-controller-manager, the ESO controller)."""
    problem = local_doctor.local_blockers(ctx.config) or None
    return core_doctor.result_row(
        "local", problem, "binaries cached (scripts/tox -e local)",
        "python scripts/install-tools --if-missing --set local [--eso-version vX] (needs go)", ("local",))


def _find_vault_server(*args: Any, **kwargs: Any) -> Any:
    return binaries.find_vault_server(*args, **kwargs)  # looked up at call time (tests replace it)


ENTRY = register(PlatformEntry(
    "local", tox_env="local", blockers=lambda config: local_doctor.local_blockers(config), doctor_check=check_local,
    services={"find_vault_server": _find_vault_server}))
