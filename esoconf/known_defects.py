"""The one catalogue of known defects (``manifests/known-defects.yaml``): claim, the chart/doc versions it was
seen in, the exception that proves it, the evidence. Every strict expected failure of the suite is made here:
``known_defect(key)`` for a render test, :func:`esoconf.live.verdicts.claim_marks` for a live claim. A strict
xfail names that exception (``raises=``): any other exception fails the test as what it is (a KeyError, a
fixture bug, a helm render error are never filed as the known defect), and a fixed defect is an XPASS, which
fails the run so the catalogue is updated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from . import yamlio
from .claims import ClaimRefuted
from .config import MANIFESTS

DEFECTS_FILE = MANIFESTS / "known-defects.yaml"


@dataclass(frozen=True)
class KnownDefect:
    key: str  # what a test asks for: known_defect(key); a live claim's entry is keyed by the claim id
    claim: str
    raises: str  # the exception that proves it (AssertionError, ClaimRefuted)
    seen_in: dict[str, Any] = field(default_factory=dict)  # {"chart": [versions], "doc": version}
    kind: str = "chart defect"  # or "doc error"
    reason: str = ""
    evidence: str = ""

    def exception(self) -> type[BaseException]:
        known: dict[str, type[BaseException]] = {"AssertionError": AssertionError, "ClaimRefuted": ClaimRefuted}
        if self.raises not in known:
            raise ValueError(f"{DEFECTS_FILE.name} {self.key}: raises {self.raises!r} is not one of {sorted(known)}")
        return known[self.raises]

    def describe(self) -> str:
        chart = ", ".join(self.seen_in.get("chart") or []) or "not observed yet"
        doc = self.seen_in.get("doc", "-")
        return (f"{self.claim}: known {self.kind}: {self.reason} (seen in: {chart}; doc {doc}; proved by "
                f"{self.raises}; catalogue {DEFECTS_FILE.name} {self.key})")


@cache
def load_defects(path: Path = DEFECTS_FILE) -> dict[str, KnownDefect]:
    data = yamlio.load(path.read_text(encoding="utf-8")) or []
    return {str(item["key"]): KnownDefect(**item) for item in data}


def known_defect(key: str) -> pytest.MarkDecorator:
    """The strict xfail of catalogue entry ``key``, raising only its exception."""
    defect = load_defects()[key]
    return pytest.mark.xfail(raises=defect.exception(), strict=True, reason=defect.describe())


def defects_of_claim(claim: str) -> list[KnownDefect]:
    return [d for d in load_defects().values() if d.claim == claim and d.key == claim]


def not_the_known_defect(excinfo: Any) -> str:
    """Why an exception the xfail accepted is still not the known defect ("" when it is): a helm render error
    is an AssertionError, but the chart failing to render is not the defect the catalogue describes."""
    from .render.helm import RenderError

    if excinfo is not None and excinfo.errisinstance(RenderError):
        return f"a helm render error is not the known defect: {str(excinfo.value).splitlines()[0]}"
    return ""
