"""Bad input, tried as a new user would: each is a usage error of ONE actionable line (exit 3, see
esoconf.report.Exit: the report plugin maps pytest's usage error 4 to 3), and the last complete report in
the artifacts folder survives it. ``CASES`` are rows of the hostile-input table (tests/test_hostile_input.py),
which runs them."""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mutants import CHARTS, ESO

from esoconf.report import Exit

PREVIOUS_REPORT = '{"schema_version": 1, "the": "last complete report"}\n'


@dataclass
class Scratch:
    """Files a case needs, created under the test's tmp_path."""

    root: Path
    make_tool: Callable[..., Path]

    def file(self, name: str, text: str = "") -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)

    def binary(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return str(path)

    def folder(self, name: str) -> str:
        (self.root / name).mkdir(parents=True, exist_ok=True)
        return str(self.root / name)

    def tool(self, name: str, version: str) -> str:
        return str(self.make_tool(name, version))

    def package_repo(self, name: str) -> str:
        """A Big Bang package repo: the chart lives in its chart/ subfolder."""
        self.file(f"{name}/chart/Chart.yaml", "apiVersion: v2\nname: x\nversion: 0.1.0\n")
        return str(self.root / name)

    def chart(self, name: str = "eso", **chart_yaml_lines: str) -> str:
        """A copy of the reference ESO chart; ``version="9.9.9"`` rewrites that Chart.yaml line."""
        target = self.root / name
        shutil.copytree(CHARTS[ESO], target)
        chart_yaml = target / "Chart.yaml"
        lines = [next((f"{k}: {v}" for k, v in chart_yaml_lines.items() if line.startswith(f"{k}:")), line)
                 for line in chart_yaml.read_text().splitlines()]
        chart_yaml.write_text("\n".join(lines) + "\n")
        return str(target)

    def kubeconfig(self, *contexts: str) -> str:
        entries = "".join(f"- name: {c}\n  context: {{cluster: c, user: u}}\n" for c in contexts)
        return self.file("kubeconfig", f"apiVersion: v1\nkind: Config\ncontexts:\n{entries}")


@dataclass(frozen=True)
class Case:
    id: str
    args: Callable[[Scratch], list[str]]
    says: str  # fnmatch pattern for the single error line
    env: Callable[[Scratch], dict[str, str]] = field(default=lambda s: {})
    render: bool = False  # run the render tier (suites/render with helm) instead of an empty test file


CASES = [
    Case(
        "chart-pointing-nowhere",
        lambda s: ["--chart", f"{s.root}/nowhere"],
        "ERROR: --chart */nowhere: no such file or directory; pass a chart directory (with Chart.yaml)*",
    ),
    Case(
        "chart-folder-without-Chart.yaml",
        lambda s: ["--chart", s.folder("repo")],
        "ERROR: --chart */repo: folder has no Chart.yaml; point it at the chart directory",
    ),
    Case(
        "chart-package-repo-root-hints-subfolder",
        lambda s: ["--chart", s.package_repo("pkg")],
        "ERROR: --chart */pkg: folder has no Chart.yaml (did you mean its chart/ subfolder?)*",
    ),
    Case(
        "remote-chart-without-version",
        lambda s: ["--chart", "oci://registry.example/charts/eso"],
        "ERROR: --chart oci://registry.example/charts/eso is remote: also give --chart-version*",
    ),
    Case(
        "vault-chart-pointing-nowhere",
        lambda s: ["--vault-chart", f"{s.root}/vault"],
        "ERROR: --vault-chart */vault: no such file or directory*",
    ),
    Case(
        "malformed-profile-yaml",
        lambda s: ["--profile", s.file("broken.yaml", "images: [upstream\n")],
        "ERROR: profile */broken.yaml is not valid YAML: *(line 2); fix the file or pick another --profile",
    ),
    Case(
        "malformed-profile-toml",
        lambda s: ["--profile", s.file("broken.toml", "images = \n")],
        "ERROR: profile */broken.toml is not valid TOML: *; fix the file or pick another --profile",
    ),
    Case(
        "profile-not-a-mapping",
        lambda s: ["--profile", s.file("list.yaml", "- a\n- b\n")],
        "ERROR: profile */list.yaml must be a mapping of setting: value, got list",
    ),
    Case(
        "unknown-profile-name",
        lambda s: ["--profile", "nightlly"],
        "ERROR: unknown profile 'nightlly': choose one of *local, nightly, release*",
    ),
    Case(
        "unknown-profile-key",
        lambda s: ["--profile", s.file("typo.yaml", "chrat: ./chart\n")],
        "ERROR: profile */typo.yaml: unknown setting(s) chrat; known settings are listed in docs/configuration.md*",
    ),
    Case(
        "bad-timeout-scale",
        lambda s: ["--timeout-scale", "-1"],
        "ERROR: --timeout-scale: must be > 0 and <= 100, got '-1'",
    ),
    Case(
        "helm-missing",
        lambda s: ["--helm", f"{s.root}/no/helm"],
        "ERROR: helm v3.14.0+ is needed: */no/helm does not exist. Fix: run `python scripts/install-tools`*",
    ),
    Case(
        "helm-too-old",
        lambda s: ["--helm", s.tool("helm", "v3.9.0")],
        "ERROR: helm v3.14.0+ is needed: */helm is v3.9.0, older than the minimum v3.14.0. Fix: *",
    ),
    Case(
        "kind-prints-no-version",
        lambda s: ["--kind", s.tool("kind", "unknown")],
        "ERROR: kind v0.30.0+ is needed: */kind printed no version. Fix: *",
    ),
    Case(
        "kube-context-not-in-kubeconfig",
        lambda s: ["--kubeconfig", s.kubeconfig("kind-dev", "prod"), "--kube-context", "staging"],
        "ERROR: --kube-context 'staging' is not in */kubeconfig (contexts: kind-dev, prod); see `kubectl*",
    ),
    Case(
        "kubeconfig-missing",
        lambda s: ["--kubeconfig", f"{s.root}/none", "--kube-context", "x"],
        "ERROR: --kubeconfig */none: cannot read it (No such file or directory)",
    ),
    Case(
        "unknown-image-set",
        lambda s: ["--images", "dockerhub"],
        "ERROR: --images: 'dockerhub' is not one of registry1, upstream, airgap",
    ),
    Case(
        "artifacts-dir-is-a-file",
        lambda s: ["--artifacts-dir", s.file("notes.txt", "x")],
        "ERROR: --artifacts-dir */notes.txt: cannot create */notes.txt (File exists); pick a writable folder",
    ),
    Case(
        "report-json-in-unwritable-place",
        lambda s: ["--report-json", f"{s.file('blocker', 'x')}/claims.json"],
        "ERROR: --report-json */blocker/claims.json: cannot create */blocker (*); pick a writable folder",
    ),
    Case(
        "report-json-is-a-directory",
        lambda s: ["--report-json", s.folder("out")],
        "ERROR: --report-json */out: is a directory; give a file path (e.g. */out/claims.json)",
    ),
    Case(
        "chart-from-environment-pointing-nowhere",
        lambda s: [],
        "ERROR: ESOCONF_CHART=/nope: no such file or directory; pass a chart directory*",
        env=lambda s: {"ESOCONF_CHART": "/nope"},
    ),
    Case(
        "helm-from-environment-is-a-directory",
        lambda s: [],
        "ERROR: helm v3.14.0+ is needed: ESOCONF_HELM=*/bin is a directory, not the helm binary. Fix: *",
        env=lambda s: {"ESOCONF_HELM": s.folder("bin")},
    ),
    Case(
        "kubeconfig-missing-without-context",
        lambda s: ["--kubeconfig", f"{s.root}/none"],
        "ERROR: --kubeconfig */none: cannot read it (No such file or directory)",
    ),
    Case(
        "chart-version-contradicts-chart-yaml",
        lambda s: ["--chart", s.chart(), "--chart-version", "9.9.9"],
        "ERROR: --chart-version 9.9.9 contradicts */eso/Chart.yaml (version *); a local chart's version is "
        "its Chart.yaml: drop --chart-version*",
    ),
    Case(
        "chart-version-given-for-a-local-chart",
        lambda s: ["--chart", s.chart(version="1.3.1-bb.1"), "--chart-version", "1.3.1-bb.1"],
        "ERROR: --chart-version 1.3.1-bb.1 is not needed with */eso/Chart.yaml (version 1.3.1-bb.1); a local*",
    ),
    Case(
        "chart-archive-is-garbage",
        lambda s: ["--chart", s.file("eso.tgz", "not a tarball")],
        "ERROR: --chart */eso.tgz: not a readable chart archive (*)*",
        render=True,
    ),
    Case(
        "chart-yaml-is-malformed",
        lambda s: ["--chart", s.chart("bad", description="[unclosed")],
        "ERROR: --chart */bad: */bad/Chart.yaml is not valid YAML: * (line *)*",
        render=True,
    ),
    Case(
        "doc-typo",
        lambda s: ["--chart", str(CHARTS[ESO]), "--doc", f"{s.root}/VAULT_INTEGRATON.md"],
        "ERROR: --doc */VAULT_INTEGRATON.md: *",
        render=True,
    ),
    Case(
        "doc-not-utf8",
        lambda s: ["--chart", str(CHARTS[ESO]), "--doc", s.binary("latin1.md", "# caf\xe9\n".encode("latin-1"))],
        "ERROR: --doc */latin1.md: not UTF-8 text (byte 0xe9 at offset 5)*",
        render=True,
    ),
    Case(
        "doc-unrelated-markdown",
        lambda s: ["--chart", str(CHARTS[ESO]), "--doc",
                   s.file("CHANGELOG.md", "# Changelog\n\n## 1.0\n```yaml\na: 1\n```\n")],
        "ERROR: --doc */CHANGELOG.md is not a VAULT_INTEGRATION.md: none of its sections*",
        render=True,
    ),
    Case(
        "kubernetes-version-newer-than-any-schema",
        lambda s: ["--chart", str(CHARTS[ESO]), "--kubernetes-version", "v1.99.0"],
        "ERROR: --kubernetes-version v1.99.0: no Kubernetes schemas for it (newest: v1.*)*",
        render=True,
    ),
]


def assert_one_line_usage_error(result: pytest.RunResult, pattern: str) -> None:
    __tracebackhide__ = True
    lines = [line for line in result.stderr.lines if line.strip()]
    assert result.ret == Exit.USAGE, f"exit code {result.ret}, stderr: {lines}"
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n" + "\n".join(lines)
    assert fnmatch.fnmatch(lines[0], pattern), f"error line\n  {lines[0]}\ndoes not match\n  {pattern}"
    assert "Traceback" not in result.stdout.str()


def test_bad_setting_from_environment_names_the_variable(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile("def test_nothing(): pass")
    monkeypatch.setenv("ESOCONF_KEEP_CLUSTER", "maybe")

    result = suite.runpytest_inprocess()

    assert_one_line_usage_error(result, "ERROR: ESOCONF_KEEP_CLUSTER: expected true/false, got 'maybe'")


def test_kube_context_without_kubeconfig_names_the_file_it_tried(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    suite.makepyfile("def test_nothing(): pass")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))

    result = suite.runpytest_inprocess("--kube-context", "x")

    assert_one_line_usage_error(result, "ERROR: --kube-context x: no --kubeconfig given and */absent cannot be "
                                        "read (No such file or directory); pass --kubeconfig")


def test_misspelled_setting_variable_warns_with_the_closest_name(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile("def test_nothing(): pass")
    monkeypatch.setenv("ESOCONF_KEEP_CLUSTR", "true")
    monkeypatch.setenv("ESOCONF_BOOTSTRAP_VENV", "/tmp/venv")  # scripts/tox's own variable: no warning

    result = suite.runpytest_inprocess()

    assert result.ret == 0
    output = result.stdout.str() + result.stderr.str()
    assert "ESOCONF_KEEP_CLUSTR is not a setting and is ignored (did you mean ESOCONF_KEEP_CLUSTER?)" in output
    assert "ESOCONF_BOOTSTRAP_VENV" not in output


RECORDED_REPORT = Path(__file__).parent / "fixtures" / "recorded-report" / "nightly-1.3.2-bb.0.json"


@pytest.mark.parametrize(("argv", "says"), [
    (lambda s: ["render", str(RECORDED_REPORT), "-o", f"{s.file('blocker', 'x')}/report.html"],
     "ERROR: report: -o */blocker/report.html: cannot write it (*); pick a writable file path"),
    (lambda s: ["render", s.file("garbage.json", "{not json")], "ERROR: report: */garbage.json: not JSON (*)"),
    (lambda s: ["diff", str(RECORDED_REPORT)], "ERROR: report diff: the following arguments are required: new*"),
    (lambda s: ["frobnicate"], "ERROR: report: argument command: invalid choice: 'frobnicate'*"),
], ids=["render-output-under-a-file", "render-not-json", "diff-one-file", "unknown-command"])
def test_report_cli_bad_input_is_one_line(argv: Callable[[Scratch], list[str]], says: str, tmp_path: Path,
                                          fake_tool: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from esoconf.report import main

    assert main(argv(Scratch(tmp_path, fake_tool))) == Exit.USAGE
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and fnmatch.fnmatch(lines[0], says), lines


def test_doctor_bad_option_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from esoconf.doctor_cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["--chrat", "x"])
    assert stopped.value.code == Exit.USAGE
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["ERROR: doctor: unrecognized arguments: --chrat x (see `doctor --help`)"]
