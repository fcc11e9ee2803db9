"""Names every platform shares: the run id and the per-test namespace ``e2e-<case>-<random>``."""

from __future__ import annotations

import os
import re
import secrets
from typing import Any

from .kube import RUN_LABEL


def new_run_id() -> str:
    """Shared by every xdist worker of one run (PYTEST_XDIST_TESTRUNUID), else random."""
    shared = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return shared[:8].lower() if shared else secrets.token_hex(4)


NAMESPACE_MAX = 63


def namespace_name(test_name: str, rand: str | None = None) -> str:
    """``e2e-<case>-<random>``: DNS-1123, at most 63 characters, the case part shortened first."""
    rand = rand or secrets.token_hex(3)
    case = re.sub(r"[^a-z0-9]+", "-", test_name.lower().removeprefix("test_")).strip("-") or "case"
    room = NAMESPACE_MAX - len("e2e--") - len(rand)
    return f"e2e-{case[:room].rstrip('-')}-{rand}"


def namespace_manifest(name: str, run_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {RUN_LABEL: run_id, "istio-injection": "enabled"}},
    }
