"""Claims of VAULT_INTEGRATION.md under test (verdicts are built from test reports by esoconf.report_plugin).

A test names the claim it checks with ``@pytest.mark.claim("NET-1")``. The claim table itself lives
in ``manifests/claims.yaml`` (id, title, doc section, how it is checked) so the README and reports are
generated from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import yamlio
from .config import MANIFESTS

CLAIMS_FILE = MANIFESTS / "claims.yaml"


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    section: str
    how: str = ""
    doc_error: bool = False  # the doc is known to be wrong here (expected failure, strict)
    ambient: str = ""  # how the claim's meaning changes in Istio ambient mode ("" = unchanged)


@cache
def load_claims(path: Path = CLAIMS_FILE) -> dict[str, Claim]:
    if not path.is_file():
        return {}
    data = yamlio.load(path.read_text(encoding="utf-8")) or []
    return {item["id"]: Claim(**item) for item in data}
