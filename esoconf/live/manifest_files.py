"""The files under manifests/live/ (values overrides, canary and mesh objects), read as YAML."""

from __future__ import annotations

from typing import Any

import yaml

from ..config import MANIFESTS

LIVE_MANIFESTS = MANIFESTS / "live"


def load_manifest(name: str) -> dict[str, Any]:
    """One YAML document from manifests/live/."""
    data = yaml.safe_load((LIVE_MANIFESTS / name).read_text(encoding="utf-8"))
    return dict(data or {})


def load_yaml_documents(name: str) -> list[dict[str, Any]]:
    text = (LIVE_MANIFESTS / name).read_text(encoding="utf-8")
    return [dict(doc) for doc in yaml.safe_load_all(text) if doc]
