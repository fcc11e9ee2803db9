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
    ambient: str = ""  # how the claim's meaning changes in Istio ambient mode ("" = unchanged)
    tiers: tuple[str, ...] = ()  # every tier that tests it: the claim is verified only when each reached a verdict


@cache
def load_claims(path: Path = CLAIMS_FILE, default_tiers: tuple[str, ...] = ("render",)) -> dict[str, Claim]:
    """The claims of ``path``; an entry without ``tiers`` is tested by ``default_tiers`` (claims.yaml: the
    render tier; claims-live.yaml: the live tier)."""
    if not path.is_file():
        return {}
    data = yamlio.load(path.read_text(encoding="utf-8")) or []
    return {item["id"]: Claim(**{**item, "tiers": tuple(item.get("tiers") or default_tiers)}) for item in data}


class ClaimRefuted(AssertionError):
    """The doc's claim does not hold on the live platform (message = the evidence)."""
