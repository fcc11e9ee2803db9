"""The local platform's binary lookup: KUBEBUILDER_ASSETS > cache, --eso-bin > cache, --vault-bin > PATH > OpenBao."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from esoconf.config import PROJECT_ROOT, Config
from esoconf.platforms.local.binaries import binary_version, cache_dir, find_local_binaries
from esoconf.platforms.local.bringup import controller_run
from esoconf.tools import ToolError

ESO = "v0.16.2"
KUBE = "v1.34.4"


def script(path: Path, output: str, exit_code: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{output}'\nexit {exit_code}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def cache_entry(cache: Path, component: str, version: str, binary: str, output: str = "") -> Path:
    path = script(cache / f"{component}-{version}" / binary, output or f"{binary} {version}")
    (path.parent / "manifest.json").write_text(json.dumps({"component": component, "version": version}))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository root holding the real versions.yaml."""
    (tmp_path / "repo" / "manifests").mkdir(parents=True)
    (tmp_path / "repo" / "manifests" / "versions.yaml").write_bytes(
        (PROJECT_ROOT / "manifests" / "versions.yaml").read_bytes()
    )
    return tmp_path / "repo"


@pytest.fixture
def full_cache(tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    cache_entry(cache, "kube-apiserver", KUBE, "kube-apiserver", f"Kubernetes {KUBE}")
    cache_entry(cache, "kube-controller-manager", KUBE, "kube-controller-manager", f"Kubernetes {KUBE}")
    cache_entry(cache, "etcd", "v3.5.1", "etcd", "etcd Version: 3.5.1")
    cache_entry(cache, "openbao", "v2.7.2", "bao", "OpenBao v2.7.2 (abc)")
    cache_entry(cache, "eso", ESO, "external-secrets")
    return cache


def env(cache: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    (tmp_path / "empty-path").mkdir(exist_ok=True)
    return {"ESOCONF_TOOLS_CACHE": str(cache), "PATH": str(tmp_path / "empty-path"), **extra}


def test_everything_from_the_cache(full_cache: Path, root: Path, tmp_path: Path) -> None:
    found = find_local_binaries(ESO, environ=env(full_cache, tmp_path), root=root)

    assert found.kube_apiserver == full_cache / f"kube-apiserver-{KUBE}" / "kube-apiserver"
    assert found.etcd == full_cache / "etcd-v3.5.1" / "etcd"
    assert found.vault == full_cache / "openbao-v2.7.2" / "bao"
    assert found.eso == full_cache / f"eso-{ESO}" / "external-secrets"
    assert (found.vault_product, found.eso_version, found.kubernetes_version) == ("openbao", ESO, KUBE)
    assert found.sources == {
        name: f"cache {full_cache / folder}"
        for name, folder in {
            "kube-apiserver": f"kube-apiserver-{KUBE}",
            "etcd": "etcd-v3.5.1",
            "kube-controller-manager": f"kube-controller-manager-{KUBE}",
            "eso": f"eso-{ESO}",
            "vault": "openbao-v2.7.2",
        }.items()
    }


def test_version_without_v_is_the_same_release(full_cache: Path, root: Path, tmp_path: Path) -> None:
    assert find_local_binaries("0.16.2", environ=env(full_cache, tmp_path), root=root).eso_version == ESO


def test_default_cache_is_under_the_repository(root: Path) -> None:
    assert cache_dir({}, root) == root / ".tools" / "local"
    assert cache_dir({"ESOCONF_TOOLS_CACHE": "/elsewhere"}, root) == Path("/elsewhere")


@pytest.mark.parametrize("with_kcm", [True, False], ids=["assets-have-kcm", "kcm-from-cache"])
def test_kubebuilder_assets_win_over_the_cache(
    with_kcm: bool, full_cache: Path, root: Path, tmp_path: Path
) -> None:
    assets = tmp_path / "assets"
    script(assets / "kube-apiserver", "Kubernetes v1.33.0")
    script(assets / "etcd", "etcd Version: 3.5.21")
    if with_kcm:
        script(assets / "kube-controller-manager", "Kubernetes v1.33.0")

    found = find_local_binaries(ESO, environ=env(full_cache, tmp_path, KUBEBUILDER_ASSETS=str(assets)), root=root)

    assert (found.kube_apiserver, found.etcd) == (assets / "kube-apiserver", assets / "etcd")
    assert found.kubernetes_version == "v1.33.0"
    assert found.sources["kube-apiserver"] == found.sources["etcd"] == "KUBEBUILDER_ASSETS"
    assert found.sources["kube-controller-manager"] == (
        "KUBEBUILDER_ASSETS" if with_kcm else f"cache {full_cache / f'kube-controller-manager-{KUBE}'}"
    )


def test_kubebuilder_assets_without_apiserver_is_an_error(full_cache: Path, root: Path, tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()

    with pytest.raises(ToolError, match=r"kube-apiserver \(not in KUBEBUILDER_ASSETS=.*/assets\)"):
        find_local_binaries(ESO, environ=env(full_cache, tmp_path, KUBEBUILDER_ASSETS=str(tmp_path / "assets")),
                            root=root)


def test_eso_bin_wins_and_its_version_is_given(full_cache: Path, root: Path, tmp_path: Path) -> None:
    mine = script(tmp_path / "mine" / "external-secrets", "usage")

    found = find_local_binaries("v1.3.1", eso_bin=str(mine), environ=env(full_cache, tmp_path), root=root)

    assert (found.eso, found.eso_version, found.sources["eso"]) == (mine, "given", "--eso-bin")


@pytest.mark.parametrize(
    ("eso_bin", "eso_version", "expected", "source"),
    [("/x/external-secrets", "1.3.1", "v1.3.1", "--eso-version"),
     ("/x/external-secrets", None, "v1.3.1", "assumed: the chart's appVersion (the binary does not tell)"),
     (None, None, ESO, "the tools cache record")],
)
def test_the_expectations_follow_the_best_word_on_the_controller(
    full_cache: Path, root: Path, tmp_path: Path, eso_bin: str | None, eso_version: str | None, expected: str,
    source: str,
) -> None:
    """A binary that tells nothing of its version (these scripts): --eso-version, else the cache's record, else
    (said so) the chart's appVersion; the chart deploys v1.3.1 (its controller image's tag)."""
    mine = script(tmp_path / "mine" / "external-secrets", "usage")
    found = find_local_binaries(ESO, eso_bin=str(mine) if eso_bin else None, environ=env(full_cache, tmp_path),
                                root=root)
    config = Config({"eso_bin": eso_bin, "eso_version": eso_version}, {})
    rendered = [{"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
        {"image": "registry1.dso.mil/ironbank/opensource/external-secrets/external-secrets:v1.3.1"}]}}}}]

    ran = controller_run(config, found, PROJECT_ROOT / "tests" / "fixtures" / "charts" / "external-secrets", rendered)

    assert (ran.version, ran.version_from, ran.deployed) == (expected, source, "v1.3.1")
    assert ran.route == ("--eso-bin" if eso_bin else "modules") and ran.digest.startswith("sha256:")
    assert ran.skew == ("" if expected == "v1.3.1" else f"observed on controller {ESO} (the chart deploys v1.3.1)")


def test_vault_on_path_wins_over_openbao(full_cache: Path, root: Path, tmp_path: Path) -> None:
    vault = script(tmp_path / "empty-path" / "vault", "Vault v1.21.2")

    found = find_local_binaries(ESO, environ=env(full_cache, tmp_path), root=root)

    assert (found.vault, found.vault_product, found.sources["vault"]) == (vault, "vault", "PATH")


@pytest.mark.parametrize(("output", "product"), [("Vault v1.21.2", "vault"), ("OpenBao v2.7.2 (x)", "openbao")])
def test_vault_bin_wins_and_its_product_is_what_it_says(
    output: str, product: str, full_cache: Path, root: Path, tmp_path: Path
) -> None:
    script(tmp_path / "empty-path" / "vault", "Vault v1.21.2")
    mine = script(tmp_path / "mine" / "server", output)

    found = find_local_binaries(ESO, vault_bin=str(mine), environ=env(full_cache, tmp_path), root=root)

    assert (found.vault, found.vault_product, found.sources["vault"]) == (mine, product, "--vault-bin")


def test_nothing_installed_is_one_line_naming_the_install_command(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ToolError) as err:
        find_local_binaries("v1.3.1", environ=env(tmp_path / "cache", tmp_path), root=root)

    message = str(err.value)
    assert "\n" not in message
    assert "python scripts/install-tools --if-missing --set local --eso-version v1.3.1" in message
    for missing in ("kube-apiserver v1.34.4", "etcd v3.5.1", "kube-controller-manager v1.34.4", "eso v1.3.1",
                    "openbao v2.7.2"):
        assert missing in message
    assert "--eso-bin PATH" in message and "KUBEBUILDER_ASSETS" in message and "`vault` on PATH" in message


def test_only_eso_missing_names_only_its_alternative(full_cache: Path, root: Path, tmp_path: Path) -> None:
    with pytest.raises(ToolError) as err:
        find_local_binaries("v1.3.1", environ=env(full_cache, tmp_path), root=root)

    assert str(err.value).endswith(
        f"--eso-version v1.3.1` (builds/fetches them into {full_cache}; ESOCONF_TOOLS_CACHE names another cache), "
        "or pass --eso-bin PATH for an ESO that cannot be built here"
    )


def test_a_cache_folder_without_its_manifest_does_not_count(full_cache: Path, root: Path, tmp_path: Path) -> None:
    (full_cache / f"eso-{ESO}" / "manifest.json").unlink()

    with pytest.raises(ToolError, match=r"missing: eso v0.16.2 \(not in .*/eso-v0.16.2\)\. Fix"):
        find_local_binaries(ESO, environ=env(full_cache, tmp_path), root=root)


@pytest.mark.parametrize("flag", ["eso_bin", "vault_bin"])
def test_explicit_binary_that_is_not_there_is_an_error(
    flag: str, full_cache: Path, root: Path, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match=rf"--{flag.replace('_', '-')} /no/such is not an executable file"):
        find_local_binaries(ESO, environ=env(full_cache, tmp_path), root=root, **{flag: "/no/such"})


def test_binary_version(tmp_path: Path) -> None:
    assert binary_version(script(tmp_path / "k", "Kubernetes v1.34.4")) == "v1.34.4"
    assert binary_version(script(tmp_path / "e", "etcd Version: 3.5.1\nGit SHA: x")) == "v3.5.1"
    with pytest.raises(ToolError, match=r"/b --version failed \(exit code 3\)"):
        binary_version(script(tmp_path / "b", "v1.0.0", exit_code=3))
    with pytest.raises(ToolError, match=r"/n version printed no version"):
        binary_version(script(tmp_path / "n", "hello"), ("version",))
