"""Leftovers of earlier runs on a reused cluster, deleted with ``--clean-start``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...live.kube import RUN_LABEL, Kube
from .vault import VAULT_NAMESPACE

# cluster-scoped objects the suites create (names carry the test namespace and the run id) and the
# extra ALLOW policies they add next to Vault: a leftover ALLOW would let a negative case pass by accident
LEFTOVER_KINDS: tuple[tuple[str, str | None], ...] = (
    ("ClusterSecretStore", None),
    ("ClusterRole", None),
    ("ClusterRoleBinding", None),
    ("AuthorizationPolicy", VAULT_NAMESPACE),
)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _run_label(obj: Mapping[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(RUN_LABEL)


def leftovers(
    namespaces: list[dict[str, Any]],
    objects: Mapping[tuple[str, str | None], list[dict[str, Any]]],
    current_run: str,
    previous_runs: tuple[str, ...] = (),
) -> list[tuple[str, str, str | None]]:
    """(kind, name, namespace) of what earlier runs left: namespaces labelled with another run id, and
    objects that carry another run's label, contain a leftover namespace's name, or end in ``-<run id>``
    of a leftover run (``previous_runs``: e.g. the run recorded in the fingerprint ConfigMap)."""
    old_namespaces = [ns for ns in namespaces if _run_label(ns) not in (None, current_run)]
    names = {_name(ns) for ns in old_namespaces}
    runs = {str(_run_label(ns)) for ns in old_namespaces} | {r for r in previous_runs if r and r != current_run}
    found: list[tuple[str, str, str | None]] = [("Namespace", name, None) for name in sorted(names)]
    for (kind, namespace), items in objects.items():
        for obj in items:
            name, label = _name(obj), _run_label(obj)
            if label == current_run or (label is None and current_run in name):
                continue
            if (
                label is not None
                or any(ns in name for ns in names)
                or any(name.endswith(f"-{run}") for run in runs)
            ):
                found.append((kind, name, namespace))
    return found


def _list_if_served(kube: Kube, kind: str, namespace: str | None) -> list[dict[str, Any]]:
    """A fresh cluster has no ESO/Istio CRDs yet: nothing of that kind can be left over."""
    try:
        return kube.list(kind, namespace)
    except Exception as exc:
        if type(exc).__name__ == "ResourceNotFoundError" or getattr(exc, "status", None) == 404:
            return []
        raise


def clean_start(kube: Kube, run_id: str, previous_run: str | None) -> list[tuple[str, str, str | None]]:
    """Delete leftovers of earlier runs (see :func:`leftovers`); returns what was deleted."""
    objects = {key: _list_if_served(kube, *key) for key in LEFTOVER_KINDS}
    found = leftovers(kube.list("Namespace"), objects, run_id, (previous_run,) if previous_run else ())
    for kind, name, namespace in found:
        kube.delete(kind, name, namespace)
    return found
