"""The diff of two reports: claims whose verdict changed between two runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..evidence import one_line
from ..redact import REDACT
from .html import _CSS, OUTCOME_COLOURS, _badge, _h, _html_table
from .markdown import BADGE, _chart_title, _md
from .model import FAILING, NOT_RUN, Exit, Report, _claim_sort_key


@dataclass(frozen=True)
class Change:
    claim: str
    tier: str
    old: str
    new: str
    evidence: str = ""  # the new run's evidence (the old run's when the claim is no longer checked)
    old_evidence: str = ""

    @property
    def kind(self) -> str:
        if self.new in FAILING and self.old not in FAILING:
            return "regressed"
        if self.old in FAILING and self.new not in FAILING:
            return "fixed"
        return "changed"


def diff(old: Report, new: Report) -> list[Change]:
    """Claims whose verdict changed in a tier (claims or tiers only in one run count as ``not run``)."""
    def table(report: Report) -> dict[tuple[str, str], str]:
        return {(c.id, t): v for c in report.claims for t, v in c.verdicts.items()}

    def evidence(report: Report) -> dict[tuple[str, str], str]:
        return {(c.id, t): e for c in report.claims for t, e in c.evidence.items()}

    before, after = table(old), table(new)
    said_before, said_after = evidence(old), evidence(new)
    keys = sorted(set(before) | set(after), key=lambda k: (_claim_sort_key(k[0]), k[1]))
    changes = [Change(key[0], key[1], before.get(key, NOT_RUN), after.get(key, NOT_RUN),
                      said_after.get(key, "") or said_before.get(key, ""), said_before.get(key, ""))
               for key in keys]
    return [c for c in changes if c.old != c.new]


def run_label(report: Report, path: str | Path | None = None) -> str:
    """What tells two runs apart: chart, outcome, when it started, and the file it was read from."""
    when = report.run.started or "start unknown"
    where = f"; {Path(path).name if Path(path).name != 'report.json' else path}" if path else ""
    return f"{_chart_title(report.run)} ({report.outcome}, {report.run.mode}, {when}{where})"


def format_diff(old: Report, new: Report, changes: Sequence[Change], fmt: str = "text",
                labels: tuple[str, str] | None = None) -> str:
    before, after = labels or (run_label(old), run_label(new))
    if fmt == "json":
        return json.dumps({"old": old.run.chart, "new": new.run.chart, "old_label": before, "new_label": after,
                           "changes": [{**asdict(c), "kind": c.kind} for c in changes]}, indent=2) + "\n"
    if fmt == "html":
        return _html_diff(before, after, changes)
    if fmt == "markdown":
        lines = ["### Verdict changes", "", f"- before: {_md(before)}", f"- after: {_md(after)}", ""]
        if not changes:
            return REDACT("\n".join([*lines, "No claim changed its verdict."]) + "\n")
        lines += ["| Claim | Tier | Before | After | Change | Evidence |", "|---|---|---|---|---|---|"]
        lines += [f"| {c.claim} | {c.tier} | {BADGE.get(c.old, c.old)} | {BADGE.get(c.new, c.new)} "
                  f"| {c.kind} | {_md(one_line(c.evidence, 200))} |" for c in changes]
        return REDACT("\n".join(lines) + "\n")
    header = f"before: {before}\nafter:  {after}"
    if not changes:
        return REDACT(f"{header}\nno claim changed its verdict\n")
    width = max(len(c.claim) for c in changes)
    body = [f"  {c.kind:<9} {c.claim.ljust(width)}  [{c.tier}]  {c.old} -> {c.new}"
            + (f"\n  {'':<9} {'':<{width}}  evidence: {one_line(c.evidence, 200)}" if _telling(c) else "")
            for c in changes]
    return REDACT("\n".join([header, *body]) + "\n")


def _telling(change: Change) -> bool:
    """Evidence worth a line: not the bare "ok" of a pass."""
    return change.evidence not in ("", "ok")


def _html_diff(before: str, after: str, changes: Sequence[Change]) -> str:
    rows = [[f'<span class="nowrap">{_h(c.claim)}</span>', _h(c.tier), _badge(c.old), _badge(c.new),
             f"<strong>{_h(c.kind)}</strong>", f'<div class="evidence">{_h(one_line(c.evidence))}</div>']
            for c in changes]
    table = _html_table("Verdict changes", "changes", ["Claim", "Tier", "Before", "After", "Change", "Evidence"],
                        rows, ["7em", "5em", "6.5em", "6.5em", "6.5em", "auto"])
    regressed = sum(c.kind == "regressed" for c in changes)
    colour = OUTCOME_COLOURS[Exit.CLAIM_FAILED if regressed else Exit.CONFORMS]
    return REDACT(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Verdict changes</title>'
        f"<style>{_CSS}</style></head><body><h1>ESO ↔ Vault conformance: verdict changes</h1>"
        f'<div class="banner" id="outcome" style="background:{colour}"><strong>{regressed} regressed</strong>, '
        f"{len(changes)} changed<ul><li>before: {_h(before)}</li><li>after: {_h(after)}</li></ul></div>"
        + (table or '<p id="changes">No claim changed its verdict.</p>') + "</body></html>\n")
