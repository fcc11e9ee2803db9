"""Tier gate: a selected tier that cannot run here stops the session before any test runs.

* Explicit tool options (``--helm``/``--kubectl``/``--kind`` or their env/profile forms) are checked at
  configure time: a missing or too-old binary is a one-line usage error.
* After collection, when ``render`` or ``e2e`` tests are selected, helm must be usable (usage error).
* When ``e2e`` tests are selected, the doctor's checks for the live tier run; if that tier cannot run
  here none of its tests runs (never a plain skip: a release gate must never go green on skipped tests):
  each is reported as not verified with the reason (:class:`esoconf.stops.RunStopped`) and the run exits 2
  unless a claim failed. Another selected tier that can run (``tox -e conformance``: render + live) still runs, so the
  verdicts that can be had here are never thrown away; with nothing else selected the run stops at once.
* Items marked ``vault`` (the quick tier: a testcontainers Vault, no kind, no helm) are also marked ``e2e``
  so the default run deselects them, but they need only a Docker engine: when every selected live item is
  a ``vault`` item, only that is checked.

``--collect-only`` only collects: no tool or machine checks. Unit tests fake the doctor by
monkeypatching :func:`e2e_blockers`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Mapping

import pytest

from . import config as cfg
from . import doctor, platforms
from .live import capabilities
from .report import Exit
from .stops import ENVIRONMENT, ENVIRONMENT_STOP, RunStopped, usage_error  # noqa: F401 - gate's names for them
from .tools import Tool, find_tool

TOOLS_KEY = pytest.StashKey[dict[str, Tool]]()
E2E_EXIT_CODE = int(Exit.ENVIRONMENT)  # 2: "the environment could not be brought up"
TIERS_NEEDING_HELM = ("render", "e2e")
VAULT_TIER = "vault"


def e2e_blockers(config: cfg.Config) -> str:
    """Why the live tier cannot run here on the configured platform, "" when it can."""
    entry = platforms.platform(config.platform)
    return entry.blockers(config) if entry.blockers is not None else doctor.e2e_blockers(config)


def _resolved(config: pytest.Config) -> cfg.Config:
    from .plugin import get_config

    return get_config(config)


def require_tool(config: pytest.Config, name: str) -> Tool:
    """The usable ``name`` binary (found once per session); a usage error of one line if there is none."""
    found = config.stash.setdefault(TOOLS_KEY, {})
    if name not in found:
        resolved = _resolved(config)
        try:
            found[name] = find_tool(name, resolved.values.get(name), source=resolved.source(name))
        except cfg.ConfigError as exc:
            raise usage_error(exc) from None
    return found[name]


def pytest_configure(config: pytest.Config) -> None:
    if config.option.collectonly:
        return
    resolved = _resolved(config)
    for name in ("helm", "kubectl", "kind"):
        if resolved.values.get(name) is not None:
            require_tool(config, name)




def vault_blockers(config: cfg.Config) -> str:
    """Why the quick `vault` tier cannot run here, "" when it can: a Vault server binary (vault, or OpenBao's
    bao) runs it as a local process; without one it needs a Docker engine (testcontainers)."""
    try:
        platforms.service("find_vault_server")(config.vault_bin)
    except cfg.ConfigError as exc:
        docker = doctor.vault_blockers(config)
        return f"{exc}; and no container route either: {docker}" if docker else ""
    return ""


def selected_tiers(items: list[pytest.Item]) -> set[str]:
    """render / e2e / vault; a ``vault`` item counts as ``vault`` only, not as the full ``e2e`` tier."""
    tiers: set[str] = set()
    for item in items:
        if item.get_closest_marker(VAULT_TIER):
            tiers.add(VAULT_TIER)
            continue
        tiers |= {tier for tier in ("render", "e2e") if item.get_closest_marker(tier)}
    return tiers


_COLLECTED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config) -> Generator[None, None, None]:
    yield  # raises if a modifyitems hook failed (e.g. a render-tier usage error)
    config.stash[_COLLECTED] = True


def check_live_inputs(resolved: cfg.Config, environ: Mapping[str, str]) -> None:
    """What the live tier needs from the user, checked before anything runs (one line each)."""
    if resolved.platform == "kind":  # kind: the Kubernetes version must have a pinned node image
        cfg.node_image_for(resolved.versions, resolved.kubernetes_version)
    for entry in platforms.registered().values():  # the image set's inputs (kind registers that check)
        if entry.check_inputs is not None:
            entry.check_inputs(resolved, environ)


def live_blockers(resolved: cfg.Config, tiers: set[str]) -> dict[str, str]:
    """Why each selected live tier (or platform) cannot run here; "" when it can. The one place that decides
    per live tier/platform: a new platform (e.g. ``local``) adds its own entry and its items' tier."""
    found = {}
    if "e2e" in tiers:
        found["e2e"] = e2e_blockers(resolved)
        if found["e2e"] and resolved.platform == "kind" and resolved.source("platform") == "default":
            found["e2e"] = fall_back_to_local(resolved, found["e2e"])
    if VAULT_TIER in tiers:
        found[VAULT_TIER] = vault_blockers(resolved)
    return found


def fall_back_to_local(resolved: cfg.Config, kind_reason: str) -> str:
    """kind cannot run here and nobody chose a platform: the live cases run on the local platform when it can
    (the verdicts name the platform); "" then, else both reasons."""
    local = platforms.platform("local").blockers
    local_reason = local(resolved) if local is not None else ""
    if local_reason:
        return f"{kind_reason}; and the local platform cannot run either: {local_reason}"
    resolved.values["platform"], resolved.sources["platform"] = "local", f"{FALLBACK}{kind_reason}"
    return ""


FALLBACK = "fallback: kind cannot run here: "


def fallback_of(resolved: cfg.Config) -> str:
    """Never silent: "" when the live cases run where asked, else which platform they ran on and why."""
    source = resolved.source("platform")
    if not source.startswith(FALLBACK):
        return ""
    return f"the live cases ran on platform {resolved.platform}, not kind (kind cannot run here: " \
           f"{source.removeprefix(FALLBACK)})"


def announce_fallback(session: pytest.Session, resolved: cfg.Config) -> None:
    """The run's first lines after collection: the platform the live cases run on, and the claims it cannot
    show (each is not verified, so the run cannot exit 0)."""
    why = fallback_of(resolved)
    if not why:
        return
    cannot: dict[str, set[str]] = {}
    for item in session.items:
        needed = capabilities.item_needs(item) if item.get_closest_marker("e2e") else []
        gaps = [c for c in needed if capabilities.missing(resolved.platform, [c])]
        for claim in (c for m in item.iter_markers("claim") for c in m.args) if gaps else ():
            cannot.setdefault(claim, set()).update(gaps)
    shown = "; ".join(f"{claim} (needs {', '.join(sorted(gaps))})" for claim, gaps in sorted(cannot.items()))
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line(f"WARNING: {why}", yellow=True, bold=True)
        terminal.write_line(f"WARNING: platform {resolved.platform} cannot show: {shown or 'nothing selected'}; "
                            f"those claims are not verified and the run exits 2", yellow=True, bold=True)


def _item_tier(item: pytest.Item) -> str:
    return VAULT_TIER if item.get_closest_marker(VAULT_TIER) else "e2e"


BLOCKED = pytest.StashKey[str]()  # on an item: why its live tier cannot run here


def _set_aside(session: pytest.Session, blocked: Mapping[str, str]) -> None:
    """The live items of ``blocked`` tiers will not run: each ends, before any fixture, as not verified with
    the reason (:class:`esoconf.stops.RunStopped`, an environment stop: exit 2). They stay in the session, so
    pytest-xdist's workers all collect the same items (deselecting them there is an INTERNALERROR)."""
    for item in session.items:
        tier = _item_tier(item) if item.get_closest_marker("e2e") else ""
        if tier in blocked:
            item.stash[BLOCKED] = f"{tier} tier cannot run here: {blocked[tier]} (run `scripts/tox -e doctor`)"


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    # pytest calls this hook even when collection failed; that failure (a usage error) must win
    if config.option.collectonly or not config.stash.get(_COLLECTED, False):
        return
    tiers = selected_tiers(session.items)
    resolved = _resolved(config)
    if "e2e" in tiers:
        try:
            check_live_inputs(resolved, os.environ)
        except cfg.ConfigError as exc:
            raise usage_error(exc) from None
    # a live tier that cannot run here runs nothing; the rest runs (nothing at all when it was the only tier)
    blocked = {tier: reason for tier, reason in live_blockers(resolved, tiers).items() if reason}
    if blocked:
        _set_aside(session, blocked)
        tiers -= set(blocked)
    announce_fallback(session, resolved)
    if tiers & set(TIERS_NEEDING_HELM):
        require_tool(config, "helm")
    if "e2e" in tiers:  # found once here, so the report records the version really used
        with contextlib.suppress(pytest.UsageError):  # none: the doctor's check already said so
            require_tool(config, "kubectl")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A live tier that cannot run here stops each of its tests before any fixture (not verified, exit 2);
    a case needing a capability the platform lacks is not verified (a skip with the reason, before any
    fixture builds anything). (A `serial` test under xdist runs beside no other live test: esoconf.plugin.)"""
    blocked = item.stash.get(BLOCKED, "")
    if blocked:
        raise RunStopped(ENVIRONMENT, blocked)
    needed = capabilities.item_needs(item)
    if needed:
        platform = _resolved(item.config).platform
        reason = capabilities.not_verified(platform, needed)
        if reason:
            item.user_properties.append(("platform", platform))  # the verdict names where it was (not) checked
            pytest.skip(reason)
