"""The live platforms, by name. Each platform package registers itself (its ``register`` module calls
:func:`register` with what the core needs of it: why it cannot run on this machine, its doctor check, the inputs it
checks before a run, the services it offers other tiers, and for a cluster provider how to make it); the core asks
here and imports no platform.

A new platform is a folder under ``esoconf/platforms/`` with a ``register`` module, its name in :data:`MODULES`,
its capabilities in :mod:`esoconf.live.capabilities` and a tox env; a cluster (one the in-cluster platform,
:mod:`esoconf.platforms.incluster`, installs the charts into) also a provider
(:class:`esoconf.platforms.incluster.provider.ClusterProvider`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# the modules whose import registers a platform (named, not imported, by the core)
MODULES = ("esoconf.platforms.kind.register", "esoconf.platforms.existing.register", "esoconf.platforms.local.register",
           "esoconf.platforms.node.register")


@dataclass(frozen=True)
class PlatformEntry:
    name: str
    tox_env: str
    # config -> why the live tier cannot run on this platform here ("" when it can); None: the doctor's own
    # Docker/kind/cluster checks decide (kind, existing)
    blockers: Callable[[Any], str] | None = None
    doctor_check: Callable[[Any], Any] | None = None  # doctor Context -> CheckResult (its row in `scripts/doctor`)
    check_inputs: Callable[[Any, Mapping[str, str]], None] | None = None  # (config, environ): one line, raises
    services: Mapping[str, Callable[..., Any]] = field(default_factory=dict)  # offered to other tiers
    # a cluster provider of the in-cluster platform: (config, tools, run id, phases, artifacts) -> ClusterProvider
    provider: Callable[..., Any] | None = None
    teardown: Callable[[Mapping[str, Any]], bool] | None = None  # its teardown plan -> undone by the xdist controller
    attach: Callable[[Mapping[str, Any]], Any] | None = None  # its attach plan -> the provider another worker uses


_REGISTRY: dict[str, PlatformEntry] = {}


def register(entry: PlatformEntry) -> PlatformEntry:
    _REGISTRY[entry.name] = entry
    return entry


def registered() -> dict[str, PlatformEntry]:
    """Every registered platform (the platform modules are imported on first use)."""
    for module in MODULES:
        importlib.import_module(module)
    return dict(_REGISTRY)


def platform(name: str) -> PlatformEntry:
    return registered()[name]


def service(name: str) -> Callable[..., Any]:
    """A service some platform offers other tiers (e.g. ``find_vault_server`` for the quick vault tier)."""
    for entry in registered().values():
        if name in entry.services:
            return entry.services[name]
    raise LookupError(f"no registered platform offers {name!r}")
