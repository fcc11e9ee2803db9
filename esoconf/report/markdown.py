"""The Markdown rendering of a report."""

from __future__ import annotations

from ..evidence import one_line
from ..redact import REDACT
from .model import FAIL, HOLDS_HERE, KNOWN_DEFECT, NOT_RUN, NOT_VERIFIED, PASS, Exit, Report, RunInfo, _variant

BADGE = {"pass": "✅ pass", "fail": "❌ fail", "error": "❌ error", "xpass": "❌ xpass (known defect fixed?)",
         "xfail": "⚠️ known defect", "flaky": "🔁 flaky", "blocked": "🚧 not verified (environment)",
         "skip": "⏭️ not verified", NOT_RUN: "–"}


def _md(text: str) -> str:
    return REDACT(text).replace("|", "\\|").replace("\n", " ")


def _chart_title(run: RunInfo) -> str:
    name, version, note = run.chart.get("name"), run.chart.get("version"), run.chart.get("note")
    title = f"{name} {version}".strip() if name else "(no --chart given)"
    return f"{title} ({note})" if note else title


def skew_banner(run: RunInfo) -> str:
    allowed = "; accepted with --allow-controller-skew" if run.skew_allowed else ""
    return f"controller skew: every live verdict was {run.controller_skew}{allowed}"


HEADLINE_MARK = {Exit.CONFORMS: "✅", Exit.CLAIM_FAILED: "❌", Exit.ENVIRONMENT: "🚧", Exit.USAGE: "⛔",
                 Exit.INTERRUPTED: "⏹"}
STATUS_BADGE = {PASS: "✅ verified, holds", FAIL: "❌ fails", KNOWN_DEFECT: "⚠️ verified, known defect",
                NOT_VERIFIED: "⏭️ not verified"}


def _mark(report: Report) -> str:
    return "☑️" if report.outcome == HOLDS_HERE else HEADLINE_MARK[report.exit_code]


def to_markdown(report: Report) -> str:
    run = report.run
    lines = [f"## ESO ↔ Vault conformance: {_md(_chart_title(run))}", "",
             f"**{_mark(report)} {_md(report.headline)}** (exit {int(report.exit_code)}, mode `{run.mode}`)", ""]
    lines += [f"- {_md(r)}" for r in report.reasons]
    if report.reasons:
        lines.append("")
    if run.controller_skew:
        lines += [f"**⚠️ {_md(skew_banner(run))}**", ""]
    counts = ", ".join(f"{n} {v}" for v, n in report.claim_summary().items()) or "none"
    tcounts = ", ".join(f"{n} {v}" for v, n in report.summary().items()) or "none"
    lines += [f"Claims: {counts}. Tests: {tcounts}.", ""]
    if report.claims and report.tiers:
        header = ["Claim", "Title", "Doc section", *report.tiers, "Claim verdict"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for c in report.claims:
            cells = " | ".join(BADGE.get(c.verdicts[t], c.verdicts[t])
                               + (f" ({c.platforms[t]})" if c.platforms.get(t) else "") for t in report.tiers)
            lines.append(f"| {c.id} | {_md(c.title)} | {_md(c.section)} | {cells} | {STATUS_BADGE[c.status]} |")
        lines.append("")
    unverified = [c for c in report.claims if c.status == NOT_VERIFIED]
    if unverified:
        lines += ["### Not verified (why, and where it could be verified)", ""]
        lines += [f"- **{c.id}** " + "; ".join(f"[{t}] {_md(_said_above(report, why))}"
                                              for t, why in c.unverified().items()) for c in unverified]
        lines.append("")
    notable = [(c, t) for c in report.claims for t in report.tiers
               if c.verdicts[t] not in ("pass", "skip", NOT_RUN)]
    if notable:
        lines += ["### Evidence", ""]
        lines += [f"- **{c.id}** [{t}] {c.verdicts[t]}: {_md(_said_above(report, c.evidence[t]))}"
                  for c, t in notable]
        lines.append("")
    known = [t for t in report.tests if t.verdict == "xfail"]
    if known:
        lines += ["### Known defects (manifests/known-defects.yaml: strict, a fix shows up as xpass and fails the "
                  "run)", ""]
        lines += [f"- **{', '.join(t.claims) or '-'}** `{_md(_variant(t.nodeid))}`: {_md(one_line(t.evidence, 300))}"
                  for t in known]
        lines.append("")
    others = [t for t in report.tests if not t.claims and t.verdict not in ("pass", "skip", "xfail")]
    if others:
        lines += ["### Other tests", ""]
        lines += [f"- `{_md(t.nodeid)}` {t.verdict}: {_md(one_line(t.evidence, 200))}" for t in others]
        lines.append("")
    flaky = [t for t in report.tests if t.verdict == "flaky"]
    if flaky:
        lines += ["### Flaky (failed once, passed on rerun)", ""]
        lines += [f"- `{_md(t.nodeid)}`: first attempt: {_md(one_line(t.first_failure, 200))}" for t in flaky]
        lines.append("")
    for platform, differences in run.fidelity.items():
        lines += [f"### What differed from a cluster ({_md(platform)})", ""]
        lines += [f"- {_md(line)}" for line in differences]
        lines.append("")
    if run.environment:
        lines += ["<details><summary>Environment</summary>", "", "| Setting | Value |", "|---|---|"]
        lines += [f"| {_md(k)} | `{_md(v)}` |" for k, v in run.environment.items()]
        lines += ["", "</details>", ""]
    if run.phases:
        lines.append("Phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in run.phases.items())
                     + f"; total run {run.duration:.1f}s.")
        lines.append("")
    return REDACT("\n".join(lines).rstrip() + "\n")

def _said_above(report: Report, evidence: str) -> str:
    """Evidence that repeats the reason the run stopped (shown whole in the banner, perhaps cut short here)
    points at it instead."""
    detail, head = report.run.problem_detail, evidence.removesuffix("…")
    start = head.find(detail[:40]) if len(detail) >= 40 else -1
    if start < 0 or not detail.startswith(head[start:]):
        return evidence
    return head[:start] + "the reason at the top"
