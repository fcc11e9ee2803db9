"""The HTML report opened in headless Chromium: the DOM it builds shows the claims x tier matrix with
colour-coded verdicts, evidence, diagnostics links, environment versions and phase timings."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from esoconf import report as rep
from esoconf.runner import run

RECORDED = Path(__file__).parent / "fixtures" / "recorded-report" / "nightly-1.3.2-bb.0.json"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


class Page(HTMLParser):
    """What a reader sees: matrix cells by (claim, tier), table rows by table id, links, the banner."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], dict[str, str]] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self.banner = ""
        self._table: list[str] = []
        self._cell: tuple[str, str] | None = None
        self._in_banner = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self._table.append(a.get("id", ""))
        elif tag == "tr" and self._table:
            self.rows.setdefault(self._table[-1], []).append([])
        elif tag in ("td", "th") and self._table:
            self._text = []
            if "data-verdict" in a:
                self._cell = (a["data-claim"], a["data-tier"])
                self.cells[self._cell] = {"verdict": a["data-verdict"], "class": a.get("class", ""),
                                          "style": ""}
        elif tag == "span" and self._cell and "badge" in a.get("class", ""):
            self.cells[self._cell]["style"] = a.get("style", "")
        elif tag == "a":
            self.links.append(a.get("href", ""))
        elif tag == "div" and a.get("id") == "outcome":
            self._in_banner = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._table:
            self._table.pop()
        elif tag in ("td", "th") and self._table and self.rows.get(self._table[-1]):
            text = " ".join("".join(self._text).split())
            self.rows[self._table[-1]][-1].append(text)
            if self._cell:
                self.cells[self._cell]["text"] = text
            self._cell = None
        elif tag == "div" and self._in_banner and not self._table:
            self._in_banner = False

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        if self._in_banner:
            self.banner += data


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Page:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the HTML check needs it")
    folder = tmp_path_factory.mktemp("html")
    html_file = folder / "report.html"
    html_file.write_text(rep.to_html(rep.load_report(RECORDED)), encoding="utf-8")
    result = run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={folder / 'profile'}", "--dump-dom",
                  html_file.as_uri()], timeout=90)
    parsed = Page()
    parsed.feed(result.stdout)
    assert parsed.cells, f"chromium returned no matrix: {result.stdout[:300]!r}"
    return parsed


@pytest.mark.integration  # a real headless Chromium
def test_matrix_has_a_cell_for_every_claim_and_tier(page: Page) -> None:
    report = rep.load_report(RECORDED)
    expected = {(c.id, tier): verdict for c in report.claims for tier, verdict in c.verdicts.items()}
    assert {key: cell["verdict"] for key, cell in page.cells.items()} == expected
    header = page.rows["matrix"][0]
    assert header == ["Claim", "Title", "Doc section", "render", "e2e", "claim verdict"]
    assert len(page.rows["matrix"]) == 1 + len(report.claims)


@pytest.mark.integration  # a real headless Chromium
@pytest.mark.parametrize(("claim", "tier", "verdict", "colour"), [
    ("NET-2", "render", "fail", rep.COLOURS["fail"]),
    ("NET-1", "e2e", "pass", rep.COLOURS["pass"]),
    ("DATA-2", "render", "xfail", rep.COLOURS["xfail"]),
    ("SYNC-1", "render", "not run", rep.COLOURS["not run"]),
], ids=lambda v: str(v))
def test_verdicts_are_colour_coded(page: Page, claim: str, tier: str, verdict: str, colour: str) -> None:
    cell = page.cells[(claim, tier)]
    assert cell["verdict"] == verdict
    assert f"background:{colour}" in cell["style"]
    assert f"v-{verdict.replace(' ', '-')}" in cell["class"]


@pytest.mark.integration  # a real headless Chromium
def test_failed_cell_shows_its_evidence_and_diagnostics(page: Page) -> None:
    cell = page.cells[("SYNC-1", "e2e")]
    assert "WaitTimeout: ExternalSecret vault-backend-externalsecrets Ready=True not reached" in cell["text"]
    assert "diagnostics: externalsecret.yaml eso-controller.log" in cell["text"]
    assert "diagnostics/suites_e2e_test_sync.py_test_secret_synced_data_/eso-controller.log" in page.links


@pytest.mark.integration  # a real headless Chromium
def test_banner_environment_and_phases(page: Page) -> None:
    assert page.banner.startswith("claim failed (exit 1, mode nightly)")
    environment = dict(row for row in page.rows["environment"][1:])
    assert environment["kubernetes_version"] == "v1.33.4"
    assert environment["chart_version"] == "1.3.2-bb.0"
    assert [row[:2] for row in page.rows["phases"][1:]][:2] == [["cluster", "47.9"], ["istio", "60.2"]]


# appended to a copy of the page (the report itself has no scripts): what overflows a 1280 px window, and
# how narrow the narrowest Evidence cell is (a word per line is unreadable)
LAYOUT_PROBE = """<script>
const width = document.documentElement.clientWidth;
const over = [...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > width + 1 || (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1))
  .map(e => e.tagName + "." + e.className + ": " + (e.textContent || "").slice(0, 40));
const evidence = [...document.querySelectorAll("td > .evidence")].map(e => e.parentElement.clientWidth);
document.body.setAttribute("data-layout", JSON.stringify({width, over, narrowest: Math.min(...evidence, 9999),
  scroll: document.documentElement.scrollWidth}));
</script>"""


def _layout(html: str, folder: Path) -> dict[str, object]:
    import json
    import re

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the HTML check needs it")
    page_file = folder / "page.html"
    page_file.write_text(html.replace("</body>", LAYOUT_PROBE + "</body>"), encoding="utf-8")
    result = run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={folder / 'profile'}", "--window-size=1280,900",
                  "--dump-dom", page_file.as_uri()], timeout=90)
    found = re.search(r'data-layout="([^"]*)"', result.stdout)
    assert found, f"the layout probe did not run: {result.stdout[:300]!r}"
    return dict(json.loads(html_unescape(found[1])))


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


LONG_ID = ("suites/render/test_render_external_secrets.py::"
           "test_two_entries_with_one_store_in_one_namespace_render_two_external_secrets[variation-with-a-long-id]")


def _conforming_report() -> rep.Report:
    tests = [rep.TestResult(LONG_ID, "render", "xfail", ["ES-VAR-3"], "chart defect: " + "names collide " * 12),
             rep.TestResult("suites/render/test_render_stores.py::test_tok[doc]", "render", "pass", ["TOK-2"]),
             rep.TestResult("suites/render/test_render_stores.py::test_tok[no-secret-namespace]", "render", "xfail",
                            ["TOK-2"], "a token store without auth.namespace is referent"),
             rep.TestResult(LONG_ID.replace("[", "[e2e-"), "e2e", "fail", ["TOK-2"], "x" * 280,
                            diagnostics=["diagnostics/a-very-long-folder-name-for-one-test/externalsecret.yaml"])]
    return rep.build_report(rep.RunInfo(chart={"name": "external-secrets", "version": "1.3.1-bb.1"}), tests,
                            rep.default_catalog())


@pytest.mark.integration  # a real headless Chromium
@pytest.mark.parametrize("which", ["failing", "conforming-with-long-ids", "diff"])
def test_page_fits_a_1280px_window(which: str, tmp_path: Path) -> None:
    old = rep.load_report(RECORDED.with_name("nightly-1.3.1-bb.1.json"))
    new = rep.load_report(RECORDED)
    html = {"failing": lambda: rep.to_html(new), "conforming-with-long-ids": lambda: rep.to_html(_conforming_report()),
            "diff": lambda: rep.format_diff(old, new, rep.diff(old, new), "html")}[which]()
    layout = _layout(html, tmp_path)
    assert layout["over"] == [] and layout["scroll"] <= layout["width"], layout
    assert int(str(layout["narrowest"])) >= 200, f"an Evidence cell is {layout['narrowest']}px wide"


def test_known_defects_are_not_needing_attention_and_the_legend_says_what_xfail_means() -> None:
    html = rep.to_html(_conforming_report())
    attention = html.split('id="tests"')[1].split("</table>")[0]
    known = html.split('id="known"')[1].split("</table>")[0]
    assert "e2e-variation" in attention and "no-secret-namespace" not in attention
    assert "no-secret-namespace" in known
    assert "known defect: the doc or chart is wrong here" in html.split('id="legend"')[1].split("</div></div>")[0]


def test_blocked_tests_point_at_the_reason_and_share_one_row() -> None:
    reason = "e2e tier cannot run here: docker: engine unreachable; kind: not on PATH; " + "inotify: too low " * 20
    tests = [rep.TestResult(f"suites/e2e/test_x.py::test_{n}", "e2e", "blocked", ["NET-1"], f"not verified: {reason}")
             for n in range(3)]
    report = rep.build_report(rep.RunInfo(problem="environment", problem_detail=reason), tests, rep.default_catalog())
    html = rep.to_html(report)
    assert html.count("inotify: too low") == 20, "the reason is shown once, whole, in the banner"
    assert "not verified: the reason at the top" in html.split('id="matrix"')[1]
    assert "<summary>3 tests</summary>" in html.split('id="tests"')[1]
    assert "not verified: the reason at the top" in rep.to_markdown(report)
