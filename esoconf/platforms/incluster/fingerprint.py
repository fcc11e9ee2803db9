"""Fingerprints: what is installed vs what this run wants, and the reuse decision (``--reuse-platform``).

Each component's fingerprint is a hash of its pinned versions and its values. They are stored in one
ConfigMap in the cluster; a matching component is skipped when reuse is on. A component that changes
forces a reinstall of the components that depend on it (a new Istio means re-injected sidecars).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

CONFIGMAP_NAME = "eso-conformance-platform"
CONFIGMAP_NAMESPACE = "default"
FINGERPRINT_LABEL = "eso-conformance/platform"


def fingerprint(*parts: Any) -> str:
    """Stable short hash of versions and values (dict key order does not matter)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class Action(StrEnum):
    INSTALL = "install"  # absent
    UPGRADE = "upgrade"  # present, fingerprint differs (or reuse off)
    SKIP = "skip"  # present and matching, reuse on


@dataclass(frozen=True)
class Decision:
    component: str
    action: Action
    reason: str


def decide(
    order: Sequence[str],
    wanted: Mapping[str, str],
    installed: Mapping[str, str],
    *,
    reuse: bool,
    depends_on: Mapping[str, Sequence[str]] | None = None,
) -> list[Decision]:
    """One decision per component, in install order."""
    depends_on = depends_on or {}
    changed: set[str] = set()
    decisions: list[Decision] = []
    for name in order:
        have = installed.get(name)
        stale_deps = [dep for dep in depends_on.get(name, ()) if dep in changed]
        if have is None:
            decision = Decision(name, Action.INSTALL, "not installed")
        elif not reuse:
            decision = Decision(name, Action.UPGRADE, "reuse off (--reuse-platform not given)")
        elif stale_deps:
            decision = Decision(name, Action.UPGRADE, f"depends on changed {', '.join(stale_deps)}")
        elif have != wanted[name]:
            decision = Decision(name, Action.UPGRADE, f"fingerprint {have[:8]} != wanted {wanted[name][:8]}")
        else:
            decision = Decision(name, Action.SKIP, "installed and matching")
        if decision.action is not Action.SKIP:
            changed.add(name)
        decisions.append(decision)
    return decisions


@dataclass(frozen=True)
class RunState:
    """Per-run facts other xdist workers of the same run reuse instead of redoing (canary, seeding)."""

    run_id: str
    netpol_enforced: bool
    netpol_detail: str


_ANNOTATION = "eso-conformance/"


def configmap(fingerprints: Mapping[str, str], state: RunState) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIGMAP_NAME,
            "namespace": CONFIGMAP_NAMESPACE,
            "labels": {FINGERPRINT_LABEL: "true"},
            "annotations": {
                f"{_ANNOTATION}run-id": state.run_id,
                f"{_ANNOTATION}netpol-enforced": str(state.netpol_enforced).lower(),
                f"{_ANNOTATION}netpol-detail": state.netpol_detail,
            },
        },
        "data": dict(fingerprints),
    }


def recorded_run_id(configmap_obj: Mapping[str, Any] | None) -> str | None:
    """The run that last seeded this cluster (None without the ConfigMap)."""
    notes = ((configmap_obj or {}).get("metadata") or {}).get("annotations") or {}
    value = notes.get(f"{_ANNOTATION}run-id")
    return str(value) if value else None


def run_state(configmap_obj: Mapping[str, Any] | None, run_id: str) -> RunState | None:
    """The state stored by this run (None when the ConfigMap is from another run or absent)."""
    notes = ((configmap_obj or {}).get("metadata") or {}).get("annotations") or {}
    if notes.get(f"{_ANNOTATION}run-id") != run_id:
        return None
    return RunState(
        run_id,
        notes.get(f"{_ANNOTATION}netpol-enforced") == "true",
        str(notes.get(f"{_ANNOTATION}netpol-detail", "")),
    )


def installed_fingerprints(configmap_obj: Mapping[str, Any] | None) -> dict[str, str]:
    if not configmap_obj:
        return {}
    return {str(k): str(v) for k, v in (configmap_obj.get("data") or {}).items()}
