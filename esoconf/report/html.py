"""The self-contained HTML page of a report."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..evidence import one_line
from ..redact import REDACT
from .markdown import STATUS_BADGE, _chart_title, _said_above, skew_banner
from .model import (
    ATTENTION,
    ENVIRONMENT,
    HOLDS_HERE,
    MEANING,
    NOT_RUN,
    SCHEMA_VERSION,
    VERDICT_ORDER,
    Exit,
    Report,
    TestResult,
)

COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "error": "#a40e26", "xpass": "#cf222e", "xfail": "#bf8700",
           "flaky": "#8250df", "blocked": "#d4a72c", "skip": "#6e7781", NOT_RUN: "#d0d7de"}
OUTCOME_COLOURS = {Exit.CONFORMS: "#1a7f37", Exit.CLAIM_FAILED: "#cf222e", Exit.ENVIRONMENT: "#d4a72c",
                   Exit.USAGE: "#6e7781", Exit.INTERRUPTED: "#6e7781"}
HOLDS_HERE_COLOUR = "#0969da"  # exit 0 on a scoped run: not the green of "conforms"
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em auto;max-width:1200px;
color:#1f2328}
h1{font-size:1.5em;margin:0 0 .3em} h2{font-size:1.15em;margin:1.6em 0 .5em}
.banner{color:#fff;padding:.8em 1em;border-radius:6px;font-size:1.2em}
.banner ul{margin:.4em 0 0;font-size:.8em} .banner li{overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #d0d7de;padding:.35em .5em;vertical-align:top;text-align:left}
th{background:#f6f8fa} td.verdict{min-width:9em} th[scope=row],.nowrap{white-space:nowrap}
.badge{display:inline-block;color:#fff;border-radius:3px;padding:0 .45em;font-weight:600;font-size:.85em;
white-space:nowrap}
.evidence{font-family:ui-monospace,monospace;font-size:.8em;color:#57606a;margin-top:.2em;
overflow-wrap:anywhere}
table.tests{table-layout:fixed} table.tests code,table.tests a{overflow-wrap:anywhere} table.tests code{font-size:.8em}
.legend{display:grid;grid-template-columns:max-content 1fr;gap:.15em .6em;margin:.6em 0;font-size:.9em}
.muted{color:#57606a}
.bar{background:#54aeff;height:.8em;display:inline-block}
code{font-size:.9em}
"""


def _h(text: Any) -> str:
    return html.escape(REDACT(str(text)), quote=True)


def _badge(verdict: str) -> str:
    colour = COLOURS.get(verdict, "#6e7781")
    text_colour = "#1f2328" if verdict in ("blocked", NOT_RUN) else "#fff"
    return (f'<span class="badge v-{_slug(verdict)}" style="background:{colour};color:{text_colour}">'
            f"{_h(verdict)}</span>")


def _slug(verdict: str) -> str:
    return verdict.replace(" ", "-")


def _links(paths: Iterable[str]) -> str:
    return " ".join(f'<a href="{_h(p)}">{_h(Path(p).name)}</a>' for p in paths)


def _banner_colour(report: Report) -> str:
    return HOLDS_HERE_COLOUR if report.outcome == HOLDS_HERE else OUTCOME_COLOURS[report.exit_code]


def to_html(report: Report) -> str:
    """One self-contained page (inline CSS, no scripts, no external resources)."""
    run = report.run
    title = f"ESO ↔ Vault conformance: {_chart_title(run)}"
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_h(title)}</title>',
             f"<style>{_CSS}</style></head><body>", f"<h1>{_h(title)}</h1>",
             f'<div class="banner" id="outcome" data-exit="{int(report.exit_code)}" '
             f'style="background:{_banner_colour(report)}">'
             f"<strong>{_h(report.headline)}</strong> (exit {int(report.exit_code)}, mode {_h(run.mode)})"]
    if report.reasons:
        parts.append("<ul>" + "".join(f"<li>{_h(r)}</li>" for r in report.reasons) + "</ul>")
    if run.controller_skew:
        parts.append(f'<p id="controller-skew"><strong>{_h(skew_banner(run))}</strong></p>')
    parts.append("</div>")
    parts.append(_html_legend(report))
    parts.append(_html_matrix(report))
    parts.append(_html_tests(report, sorted(ATTENTION), "Tests needing attention", "tests"))
    parts.append(_html_tests(report, ["xfail"], "Known defects (strict expected failures: they do not fail the "
                                                "run; a fix shows up as xpass)", "known"))
    for platform, differences in run.fidelity.items():
        parts.append(f'<h2>What differed from a cluster ({_h(platform)})</h2><ul class="fidelity" '
                     f'data-platform="{_h(platform)}">' + "".join(f"<li>{_h(d)}</li>" for d in differences) + "</ul>")
    parts.append(_html_table("Environment", "environment", ["Setting", "Value"],
                             [[_h(k), f"<code>{_h(v)}</code>"] for k, v in run.environment.items()]))
    longest = max(run.phases.values(), default=0) or 1
    bars = [[_h(k), f"{v:.1f}", f'<span class="bar" style="width:{200 * v / longest:.0f}px"></span>']
            for k, v in run.phases.items()]
    parts.append(_html_table("Phase timings", "phases", ["Phase", "Seconds", ""], bars))
    if run.diagnostics:
        parts.append('<h2>Diagnostics</h2><ul id="diagnostics">'
                     + "".join(f'<li><a href="{_h(p)}">{_h(p)}</a></li>' for p in run.diagnostics) + "</ul>")
    parts.append(f'<p class="muted">started {_h(run.started)}, {run.duration:.1f}s; '
                 f"report schema {SCHEMA_VERSION}</p></body></html>\n")
    return REDACT("\n".join(parts))


def _html_matrix(report: Report) -> str:
    if not report.claims:
        return '<h2>Claims</h2><p id="matrix" class="muted">No claim was checked in this run.</p>'
    head = "".join(f'<th scope="col" data-tier="{_h(t)}">{_h(t)}</th>' for t in report.tiers)
    head += '<th scope="col">claim verdict</th>'
    rows = []
    for c in report.claims:
        cells = []
        for tier in report.tiers:
            verdict = c.verdicts[tier]
            tests = [t for t in report.tests if t.nodeid in c.tests[tier]]
            diag = _links(p for t in tests for p in t.diagnostics)
            cells.append(f'<td class="verdict v-{_slug(verdict)}" data-claim="{_h(c.id)}" '
                         f'data-tier="{_h(tier)}" data-verdict="{_h(verdict)}">{_badge(verdict)}'
                         + (f'<div class="platform">on {_h(c.platforms[tier])}</div>' if c.platforms.get(tier) else "")
                         + (f'<div class="evidence">{_h(_said_above(report, c.evidence[tier]))}</div>'
                            if c.evidence[tier] not in ("", "ok") else "")
                         + (f'<div class="diag">diagnostics: {diag}</div>' if diag else "") + "</td>")
        status = f'<td class="status" data-status="{_h(c.status)}">{_h(STATUS_BADGE[c.status])}</td>'
        rows.append(f'<tr data-claim="{_h(c.id)}"><th scope="row">{_h(c.id)}</th><td>{_h(c.title)}</td>'
                    f'<td>{_h(c.section)}</td>{"".join(cells)}{status}</tr>')
    return (f'<h2>Claims × tier</h2><table id="matrix"><thead><tr><th>Claim</th><th>Title</th>'
            f'<th>Doc section</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _html_legend(report: Report) -> str:
    """Each verdict that appears on the page, with what it means."""
    used = {t.verdict for t in report.tests} | {v for c in report.claims for v in c.verdicts.values()}
    shown = [v for v in (*VERDICT_ORDER, NOT_RUN) if v in used] or list(VERDICT_ORDER)
    return ('<div class="legend" id="legend">'
            + "".join(f"<div>{_badge(v)}</div><div>{_h(MEANING[v])}</div>" for v in shown) + "</div>")


TEST_COLUMNS = (("Test", "32%"), ("Tier", "5em"), ("Verdict", "6.5em"), ("Evidence", "auto"), ("Diagnostics", "15%"))



def _html_tests(report: Report, verdicts: Sequence[str], title: str, table_id: str) -> str:
    shown = [t for t in report.tests if t.verdict in verdicts]
    columns = TEST_COLUMNS if any(t.diagnostics for t in shown) else TEST_COLUMNS[:-1]
    groups: dict[tuple[str, str, str], list[TestResult]] = {}  # tests blocked for one reason: one row
    for t in shown:
        key = (t.tier, t.verdict, t.evidence) if t.verdict in ENVIRONMENT and not t.diagnostics else ("", "", t.nodeid)
        groups.setdefault(key, []).append(t)
    rows = []
    for tests in groups.values():
        t = tests[0]
        ids = "".join(f"<div><code>{_h(x.nodeid)}</code></div>" for x in tests)
        name = (f"<details><summary>{len(tests)} tests</summary>{ids}</details>" if len(tests) > 1
                else f"<code>{_h(t.nodeid)}</code>")
        rows.append([name, _h(t.tier), _badge(t.verdict),
                     f'<div class="evidence">{_h(_said_above(report, one_line(t.evidence)))}</div>'
                     + (f'<div class="evidence">first attempt: {_h(one_line(t.first_failure))}</div>'
                        if t.first_failure else ""),
                     _links(t.diagnostics)][:len(columns)])
    return _html_table(title, table_id, [c for c, _ in columns], rows, [w for _, w in columns])


def _html_table(title: str, table_id: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                widths: Sequence[str] = ()) -> str:
    if not rows:
        return ""
    cols = "<colgroup>" + "".join(f'<col style="width:{w}">' for w in widths) + "</colgroup>" if widths else ""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    css = ' class="tests"' if widths else ""
    return (f'<h2>{_h(title)}</h2><table id="{table_id}"{css}>{cols}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")
