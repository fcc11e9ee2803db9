"""The CI examples are valid YAML, read the nightly matrix from manifests/matrix.yaml (or repeat it exactly),
call only tox environments and suite options that exist, upload artifacts even on failure, and keep the
release gate free of reruns."""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from esoconf import config as cfg

ROOT = Path(__file__).resolve().parent.parent
GITLAB = ROOT / "ci" / "gitlab-ci.yml"
GITHUB = ROOT / ".github" / "workflows" / "conformance.yml"
MATRIX = yaml.safe_load((ROOT / "manifests" / "matrix.yaml").read_text())


def tox_envs() -> set[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    return {s.removeprefix("testenv:") for s in parser.sections() if s.startswith("testenv:")}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


KNOWN_OPTIONS = {s.option for s in cfg.SETTINGS} | {"--reruns"}


@pytest.mark.parametrize("path", [GITLAB, GITHUB], ids=["gitlab", "github"])
def test_ci_file_calls_existing_tox_envs_and_options(path: Path) -> None:
    text = path.read_text()
    load(path)
    groups = re.findall(r"(?:tox|run_suite) -e ([\w,]+)", text)
    used_envs = {env for group in groups for env in group.split(",")}
    assert used_envs and used_envs <= tox_envs()
    used_options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", text)) - {"--upgrade", "--if-missing"}
    assert used_options <= KNOWN_OPTIONS, used_options - KNOWN_OPTIONS


def test_gitlab_nightly_matrix_equals_manifest() -> None:
    (entry,) = load(GITLAB)["nightly"]["parallel"]["matrix"]
    assert entry["CHART_VERSION"] == MATRIX["chart_versions"]
    assert entry["KUBERNETES_VERSION"] == MATRIX["kubernetes_versions"]
    assert load(GITLAB)["variables"]["CHART_REPO"] == MATRIX["chart"]["repo"]


def test_github_reads_the_matrix_file_and_uploads_always() -> None:
    workflow = load(GITHUB)
    assert "manifests/matrix.yaml" in str(workflow["jobs"]["matrix"]["steps"])
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on:` as True
    assert {"schedule", "workflow_dispatch"} <= set(triggers)
    for name in ("nightly", "release-gate"):
        uploads = [s for s in workflow["jobs"][name]["steps"] if "upload-artifact" in s.get("uses", "")]
        assert uploads and uploads[0]["if"] == "always()" and uploads[0]["with"]["path"] == "artifacts/"


def test_gitlab_uploads_artifacts_always_with_junit() -> None:
    artifacts = load(GITLAB)["default"]["artifacts"]
    assert artifacts["when"] == "always" and "artifacts/" in artifacts["paths"]
    assert artifacts["reports"]["junit"] == "artifacts/junit.xml"


@pytest.mark.parametrize(("path", "job"), [(GITLAB, "release-gate"), (GITHUB, "release-gate")],
                         ids=["gitlab", "github"])
def test_release_gate_uses_gate_and_release_profile_without_reruns(path: Path, job: str) -> None:
    data = load(path)
    body = str(data[job] if job in data else data["jobs"][job])
    assert "--gate" in body and "--profile release" in body
    assert "--reruns" not in body
    assert "--from-chart-version" in body  # the upgrade test's input (a skipped upgrade test fails --gate)


def test_nightly_reruns_once_with_nightly_profile() -> None:
    for body in (str(load(GITLAB)["nightly"]), str(load(GITHUB)["jobs"]["nightly"])):
        assert "--profile nightly" in body and "--reruns 1" in body


def test_the_quick_loop_leaves_out_only_what_ci_still_runs() -> None:
    """`scripts/tox -e unit` runs on every core and deselects the `slow`, `integration` and `mutants` self-tests;
    `scripts/tox -e slow` runs exactly those, and .ci/run runs both (no assertion is dropped, only moved)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    unit, slow = parser["testenv:unit"]["commands"], parser["testenv:slow"]["commands"]
    assert "-n auto" in unit and '-m "not e2e and not slow and not integration and not mutants"' in unit
    assert slow.split()[:2] == ["pytest", "tests"] and '-m "(slow or integration or mutants) and not e2e"' in slow
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "step test scripts/tox -e unit" in ci and "step slow scripts/tox -e slow" in ci
