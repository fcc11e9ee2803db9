"""The render tier itself, run through pytester: the reference fixture passes, bad input is one line,
helm errors are shown, and each (chart, values) pair is rendered once."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutants import (
    BASELINE_2X,
    BASELINE_FAILING,
    CHARTS,
    ESO,
    ESO_2X,
    FIXTURE_DOC,
    FIXTURES,
    MUTANTS,
    UMBRELLA,
    VAULT,
    VAULT_LEGACY,
    Edit,
    Mutant,
    apply,
    helm_binary,
    run_render_tier,
)

from esoconf.claims import load_claims
from esoconf.render.helm import Renderer

# the doc claims known not to hold for the reference (and the real) charts: strict expected failures
EXPECTED_XFAIL = {"ES-VAR-1", "ES-VAR-2", "ES-VAR-3", "ES-VAR-4", "TOK-2", "VLT-AP-2"}


@pytest.fixture(scope="module")
def helm() -> Path:
    return helm_binary()


def test_reference_chart_passes_every_claim(suite: pytest.Pytester, tmp_path: Path, helm: Path) -> None:
    run = run_render_tier(suite, tmp_path, helm)
    assert run.pytest.ret == 0, run.pytest.stdout.str()[-3000:]
    assert set(run.verdicts) == set(load_claims()), "every claim in manifests/claims.yaml has a verdict"
    assert {c for c, v in run.verdicts.items() if v == "xfail"} == EXPECTED_XFAIL
    assert {c for c, v in run.verdicts.items() if v not in ("pass", "xfail")} == set()
    assert "ONLY through the umbrella's translation" in run.evidence["VLT-AP-1"], run.evidence["VLT-AP-1"]
    assert run.evidence["CRD-1"].startswith("the package installs its own CRDs, its controller is ESO v1.3.1: same")


def test_a_claim_broken_on_one_switch_says_which(suite: pytest.Pytester, tmp_path: Path, helm: Path) -> None:
    broken = next(m for m in MUTANTS if m.id == "egress-vault-needs-istio")
    run = run_render_tier(suite, tmp_path, helm, apply(broken, tmp_path / "charts"), CHARTS[VAULT])
    evidence = run.evidence["NET-1"]  # the claim's summary names the variations that failed, then the first cause
    assert "fail only in" in evidence and "@istio-off" in evidence, evidence
    output = run.pytest.stdout.str()
    assert "AssertionError: [variation istio-off] expected exactly one NetworkPolicy 'allow-egress" in output, evidence


def test_vault_package_before_bb_common_gets_its_own_verdicts(suite: pytest.Pytester, tmp_path: Path,
                                                             helm: Path) -> None:
    """The legacy layout: the package reads the doc's literal key (VLT-AP-1 passes, saying so), has no deny-all of
    its own (VLT-AP-2 fails) and no bb-common NetworkPolicy name (VLT-NP-1 fails)."""
    run = run_render_tier(suite, tmp_path, helm, CHARTS[ESO], CHARTS[VAULT_LEGACY])
    assert run.failing == BASELINE_FAILING[VAULT_LEGACY], run.verdicts
    assert run.verdicts["VLT-AP-1"] == "pass"
    assert "literal key istio.hardened.customAuthorizationPolicies, which the package reads itself" in \
        run.evidence["VLT-AP-1"], run.evidence["VLT-AP-1"]
    assert "before 0.31.0-bb.9" in run.evidence["VLT-AP-2"]


def test_without_vault_chart_the_vault_claims_are_skipped(suite: pytest.Pytester, tmp_path: Path,
                                                         helm: Path) -> None:
    run = run_render_tier(suite, tmp_path, helm, CHARTS[ESO], None)
    skipped = {c for c, v in run.verdicts.items() if v == "skip"}
    assert {"VLT-NP-1", "VLT-AP-1"} <= skipped
    assert not run.failing


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--doc", str(FIXTURES / "docs" / "VAULT_INTEGRATION.md")], "the render tier needs --chart",
                 id="no-chart"),
    pytest.param(["--chart", str(CHARTS[ESO]), "--vault-chart", str(CHARTS[ESO])],
                 "is not the Big Bang vault package", id="vault-chart-is-eso"),
    pytest.param(["--chart", str(CHARTS[VAULT])], "is not the Big Bang external-secrets package",
                 id="chart-is-vault"),
    pytest.param(["--chart", str(CHARTS[ESO]), "--umbrella-chart", str(CHARTS[VAULT])],
                 "is not the Big Bang bigbang package", id="umbrella-chart-is-vault"),
    pytest.param(["--chart", str(CHARTS[ESO]), "--umbrella-chart", "pinned", "--chart-version", "9.9.9-bb.0"],
                 "no Big Bang release pinned with this ESO package", id="umbrella-pinned-unknown-release"),
    pytest.param(["--chart", str(CHARTS[ESO]), "--doc", str(FIXTURES / "docs" / "broken" / "no-yaml.md")],
                 "no ```yaml code blocks", id="doc-without-yaml"),
    pytest.param(["--chart", str(CHARTS[ESO]), "--doc", str(FIXTURES / "docs" / "broken" / "bad-yaml.md")],
                 "does not parse", id="doc-bad-yaml"),
    pytest.param(["--chart", str(CHARTS[ESO]), "--doc", str(FIXTURES / "docs" / "broken" / "renamed-section.md")],
                 "doc changed: section 'Authentication Method: Kubernetes' not found",
                 id="doc-renamed-section"),
    pytest.param(["--chart", str(CHARTS[ESO]), "--kubernetes-version", "v1.2.3"],
                 "--kubernetes-version v1.2.3: no Kubernetes schemas that old", id="kubernetes-version-too-old"),
])
def test_bad_input_is_one_line(args: list[str], message: str, suite: pytest.Pytester, tmp_path: Path,
                               helm: Path) -> None:
    suite_dir = Path(__file__).resolve().parent.parent / "suites" / "render"
    result = suite.runpytest_inprocess(str(suite_dir), "--helm", str(helm), "--artifacts-dir", str(tmp_path), *args)
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert result.ret == 3, result.stdout.str()[-2000:] + result.stderr.str()[-2000:]
    assert len(errors) == 1 and message in errors[0], result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_chart_that_does_not_render_is_one_chart_failure_line(suite: pytest.Pytester, tmp_path: Path,
                                                             helm: Path) -> None:
    """A template syntax error: helm's cause (file:line) once, exit 1 (a chart failure), and no claim verdict:
    not 30 tracebacks, and no known-defect xfail reported as if it had been checked."""
    broken = Mutant("template-syntax-error", ESO, (Edit("templates/secret-store.yaml", "{{- range $store :=",
                                                        "{{- range $store := oops"),), frozenset())
    chart = apply(broken, tmp_path / "charts")
    run = run_render_tier(suite, tmp_path, helm, chart, None, FIXTURES / "docs" / "VAULT_INTEGRATION.md")
    output = run.pytest.stdout.str()
    assert run.pytest.ret == 1, output[-3000:]
    cause = [line for line in output.splitlines() if "templates/secret-store.yaml:13" in line]
    assert len(cause) == 1 and cause[0].strip().startswith("chart failure: helm cannot render"), output[-3000:]
    assert "Traceback" not in output and len(output.splitlines()) < 60
    assert run.verdicts == {}, "no claim has a verdict: nothing was rendered"


def test_each_chart_and_values_pair_is_rendered_once(tmp_path: Path, helm: Path) -> None:
    renderer = Renderer(helm, tmp_path)
    values = {"networkPolicies": {"enabled": True}}
    first = renderer.render(CHARTS[VAULT], "vault", values)
    again = renderer.render(CHARTS[VAULT], "vault", dict(values))
    other = Renderer(helm, tmp_path).render(CHARTS[VAULT], "vault", {"networkPolicies": {"enabled": False}})
    assert first is again and first is not other
    assert renderer.renders <= 1  # 0 when an earlier test in this process rendered the same pair
    assert first.find("NetworkPolicy") and not other.find("NetworkPolicy")
    assert (first.release, first.namespace) == ("vault-vault", "vault")


def test_git_chart_reference_is_cloned_at_its_tag(tmp_path: Path) -> None:
    from esoconf.charts import chart_info, check_package, git_clone
    from esoconf.runner import run

    repo = tmp_path / "repo"
    apply(Mutant("copy", ESO, (), frozenset()), repo)
    (repo / "external-secrets").rename(repo / "chart")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "chart"], ["tag", "1.3.1-bb.1"]):
        run([*git, *args])
    chart = git_clone(f"file://{repo}", "1.3.1-bb.1", tmp_path / "cache" / "clone")
    check_package(chart_info(chart), "--chart")
    assert chart.name == "chart"


def test_unreachable_git_chart_is_one_line(tmp_path: Path) -> None:
    from esoconf.charts import resolve_chart
    from esoconf.config import ConfigError

    with pytest.raises(ConfigError, match=r"^--chart https://127\.0\.0\.1:9/eso\.git@1\.0: network unreachable "
                                          r"\(.*\); use a local chart or `--chart reference`") as caught:
        resolve_chart("https://127.0.0.1:9/eso.git", "1.0", cache_dir=tmp_path)
    assert "\n" not in str(caught.value)


@pytest.mark.integration  # the whole render tier through a fixture umbrella, end to end (slow env)
def test_2x_package_through_the_umbrella_gets_a_verdict_for_every_claim(suite: pytest.Pytester, tmp_path: Path,
                                                                        helm: Path) -> None:
    """The bb-common-style 2.x fixture package through the 3.x fixture umbrella: every claim has a verdict; the doc's
    egress policy name is gone (NET-1 fails as a doc defect naming the generated policy) while its traffic holds."""
    run = run_render_tier(suite, tmp_path, helm, CHARTS[ESO_2X], CHARTS[VAULT], FIXTURE_DOC, "--umbrella-chart",
                          str(CHARTS[UMBRELLA]))
    assert set(run.verdicts) == set(load_claims()), run.verdicts
    assert run.failing == BASELINE_2X, run.verdicts
    assert {c for c, v in run.verdicts.items() if v == "xfail"} == EXPECTED_XFAIL
    assert "doc defect: the doc names NetworkPolicy allow-egress-vault; this release renders none, and the same " \
           "traffic is admitted by allow-egress-from-external-secrets-to-ns-vault-pod-vault-tcp-port-8200" in \
        run.pytest.stdout.str()
    for claim in ("TOK-1", "LBL-1", "VLT-NP-1", "SCH-1"):
        assert run.evidence[claim].endswith("[values from umbrella 3.30.0]"), run.evidence[claim]


@pytest.mark.integration  # the whole render tier through a fixture umbrella, end to end (slow env)
def test_an_umbrella_that_cannot_render_a_switch_row_fails_only_that_row(suite: pytest.Pytester, tmp_path: Path,
                                                                         helm: Path) -> None:
    """As the real Big Bang 3.30.0 with istiod off: the row's cases fail naming the umbrella, the others still run."""
    broken = Mutant("umbrella-fails-without-istio", UMBRELLA, (Edit(
        "templates/external-secrets/values.yaml", "{{- if .Values.addons.externalSecrets.enabled }}",
        '{{- if not .Values.istiod.enabled }}{{ fail "istio needed" }}{{ end }}\n'
        "{{- if .Values.addons.externalSecrets.enabled }}"),), frozenset())
    umbrella = apply(broken, tmp_path / "charts")
    run = run_render_tier(suite, tmp_path, helm, CHARTS[ESO], CHARTS[VAULT], FIXTURE_DOC, "--umbrella-chart",
                          str(umbrella))
    output = run.pytest.stdout.str()
    assert "Big Bang defect: umbrella 3.30.0 cannot render the umbrella values of doc-token+data@istio-off" in output
    failed = [line for line in output.splitlines() if line.startswith("FAILED")]
    assert failed and all("istio-off" in line for line in failed), failed
    assert run.verdicts["VLT-NP-1"] == "pass" and run.verdicts["NET-1"] == "fail"
