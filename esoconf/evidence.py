"""One line of evidence: the form every verdict, reason and error line takes (redacted, flat, bounded).

Its own small module so that the report (:mod:`esoconf.report`) and the live tier's verdicts
(:mod:`esoconf.live.verdicts`) both use it without importing each other.
"""

from __future__ import annotations

from .redact import REDACT

EVIDENCE_MAX = 300


def one_line(text: str, limit: int = EVIDENCE_MAX) -> str:
    """Redacted, whitespace-collapsed, at most ``limit`` characters."""
    flat = " ".join(REDACT(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
