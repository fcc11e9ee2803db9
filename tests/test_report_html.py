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


def test_matrix_has_a_cell_for_every_claim_and_tier(page: Page) -> None:
    report = rep.load_report(RECORDED)
    expected = {(c.id, tier): verdict for c in report.claims for tier, verdict in c.verdicts.items()}
    assert {key: cell["verdict"] for key, cell in page.cells.items()} == expected
    header = page.rows["matrix"][0]
    assert header == ["Claim", "Title", "Doc section", "render", "e2e"]
    assert len(page.rows["matrix"]) == 1 + len(report.claims)


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


def test_failed_cell_shows_its_evidence_and_diagnostics(page: Page) -> None:
    cell = page.cells[("SYNC-1", "e2e")]
    assert "WaitTimeout: ExternalSecret vault-backend-externalsecrets Ready=True not reached" in cell["text"]
    assert "diagnostics: externalsecret.yaml eso-controller.log" in cell["text"]
    assert "diagnostics/suites_e2e_test_sync.py_test_secret_synced_data_/eso-controller.log" in page.links


def test_banner_environment_and_phases(page: Page) -> None:
    assert page.banner.startswith("claim failed (exit 1, mode nightly)")
    environment = dict(row for row in page.rows["environment"][1:])
    assert environment["kubernetes_version"] == "v1.33.4"
    assert environment["chart_version"] == "1.3.2-bb.0"
    assert [row[:2] for row in page.rows["phases"][1:]][:2] == [["cluster", "47.9"], ["istio", "60.2"]]
