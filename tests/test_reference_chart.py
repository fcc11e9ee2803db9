"""`--chart reference`: a first look that needs no network, on the suite's own reference charts and doc, never
mistakable for a verdict on a Big Bang release (the header, the terminal summary and every report say so)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mutants import SUITE, helm_binary

from esoconf import config as cfg
from esoconf import report as rep

NOTE = "reference chart, not a Big Bang release"


def test_reference_expands_to_the_fixture_charts_and_doc() -> None:
    resolved = cfg.resolve({"chart": "reference"}, env={cfg.TOX_DEFAULTS_ENV: "vault_chart=pinned"})
    assert resolved.chart == str(cfg.REFERENCE_CHARTS["chart"]) and resolved.note == NOTE
    assert resolved.vault_chart == str(cfg.REFERENCE_CHARTS["vault_chart"]), "a tox env's `pinned` needs the network"
    assert resolved.doc == str(cfg.REFERENCE_DOC) and Path(resolved.doc).is_file()


def test_a_vault_chart_or_doc_the_user_names_is_kept(tmp_path: Path) -> None:
    doc = tmp_path / "VAULT_INTEGRATION.md"
    resolved = cfg.resolve({"chart": "reference", "vault_chart": "/charts/vault", "doc": str(doc)}, env={})
    assert (resolved.vault_chart, resolved.doc, resolved.note) == ("/charts/vault", str(doc), NOTE)


def test_a_real_chart_carries_no_note() -> None:
    assert cfg.resolve({"chart": "/charts/eso"}, env={}).note == ""


def test_every_report_says_reference_chart() -> None:
    run = rep.RunInfo(chart={"name": "external-secrets", "version": "1.3.1-bb.1", "ref": "x", "note": NOTE})
    report = rep.build_report(run, [rep.TestResult("t.py::test_np", "render", "pass", ["NET-1"])])
    assert f"external-secrets 1.3.1-bb.1 ({NOTE})" in rep.to_markdown(report).splitlines()[0]
    assert f"<h1>ESO ↔ Vault conformance: external-secrets 1.3.1-bb.1 ({NOTE})</h1>" in rep.to_html(report)
    assert json.loads(rep.to_json(report))["run"]["chart"]["note"] == NOTE
    assert {r["chart"]["note"] for r in report.claim_records()} == {NOTE}
    plain = rep.build_report(rep.RunInfo(chart={"name": "external-secrets", "version": "1.3.1-bb.1"}), report.tests)
    assert "reference" not in rep.to_markdown(plain) and "note" not in plain.claim_records()[0]["chart"]


def test_the_render_tier_on_reference_says_so_in_header_summary_and_report(suite: pytest.Pytester,
                                                                            tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    result = suite.runpytest_inprocess(str(SUITE), "--chart", "reference", "--helm", str(helm_binary()),
                                       "--artifacts-dir", str(artifacts), "-p", "no:cacheprovider",
                                       "--assert=plain")
    out = result.stdout.str()
    assert result.ret == 0, out[-3000:]
    assert NOTE.upper() in out, "the header says it"
    # the render tier alone is a scoped run: it holds on what it checked, never "conforms" (the live claims wait)
    summary = next(line for line in out.splitlines() if "conformance: " in line and "(exit " in line)
    assert "holds on what was checked here" in summary and summary.rstrip(" -").endswith(f"(exit 0) ({NOTE})"), summary
    assert NOTE in (artifacts / "report.md").read_text(encoding="utf-8").splitlines()[0]


def test_a_failed_fetch_names_the_offline_first_look(tmp_path: Path) -> None:
    """`--chart pinned` on a machine without network ends in one line that names `--chart reference`."""
    from esoconf.charts import git_clone

    with pytest.raises(cfg.ConfigError, match="`--chart reference`") as caught:
        git_clone(f"file://{tmp_path}/no-such-repo.git", "1.3.1-bb.1", tmp_path / "clone")
    assert "\n" not in str(caught.value)
