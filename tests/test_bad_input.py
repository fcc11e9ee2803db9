"""Bad input, tried as a new user would: each is a usage error of ONE actionable line (exit 3, see
esoconf.report.Exit: the report plugin maps pytest's usage error 4 to 3)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from esoconf.report import Exit


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

    def folder(self, name: str) -> str:
        (self.root / name).mkdir(parents=True, exist_ok=True)
        return str(self.root / name)

    def tool(self, name: str, version: str) -> str:
        return str(self.make_tool(name, version))

    def package_repo(self, name: str) -> str:
        """A Big Bang package repo: the chart lives in its chart/ subfolder."""
        self.file(f"{name}/chart/Chart.yaml", "apiVersion: v2\nname: x\nversion: 0.1.0\n")
        return str(self.root / name)

    def kubeconfig(self, *contexts: str) -> str:
        entries = "".join(f"- name: {c}\n  context: {{cluster: c, user: u}}\n" for c in contexts)
        return self.file("kubeconfig", f"apiVersion: v1\nkind: Config\ncontexts:\n{entries}")


@dataclass(frozen=True)
class Case:
    id: str
    args: Callable[[Scratch], list[str]]
    says: str  # fnmatch pattern for the single error line


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
        "ERROR: profile */typo.yaml: unknown setting(s) chrat; known settings are listed in the README*",
    ),
    Case(
        "bad-timeout-scale",
        lambda s: ["--timeout-scale", "-1"],
        "ERROR: --timeout-scale: must be > 0, got '-1'",
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
]


def assert_one_line_usage_error(result: pytest.RunResult, pattern: str) -> None:
    __tracebackhide__ = True
    lines = [line for line in result.stderr.lines if line.strip()]
    assert result.ret == Exit.USAGE, f"exit code {result.ret}, stderr: {lines}"
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n" + "\n".join(lines)
    assert fnmatch.fnmatch(lines[0], pattern), f"error line\n  {lines[0]}\ndoes not match\n  {pattern}"
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_usage_error(
    case: Case, suite: pytest.Pytester, tmp_path: Path, fake_tool: Callable[..., Path]
) -> None:
    suite.makepyfile("def test_nothing(): pass")
    args = case.args(Scratch(tmp_path / "scratch", fake_tool))

    result = suite.runpytest_inprocess(*args)

    assert_one_line_usage_error(result, case.says)


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
