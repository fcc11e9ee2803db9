"""Configuration: option > environment > profile > default, and which one won."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from esoconf import config as cfg


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    (tmp_path / "team.yaml").write_text(
        "images: registry1\ntimeout_scale: 3\nkeep_cluster: true\nartifacts_dir: from-profile\n"
    )
    (tmp_path / "team-toml.toml").write_text('images = "airgap"\ntimeout_scale = 2.5\n')
    return tmp_path


@pytest.mark.parametrize(
    ("cli", "env", "expected", "source"),
    [
        ({"timeout_scale": "5"}, {"ESOCONF_TIMEOUT_SCALE": "4"}, 5.0, "option"),
        ({}, {"ESOCONF_TIMEOUT_SCALE": "4"}, 4.0, "env"),
        ({}, {}, 3.0, "profile"),
    ],
    ids=["option-beats-env-and-profile", "env-beats-profile", "profile-beats-default"],
)
def test_precedence(
    cli: dict[str, Any], env: dict[str, str], expected: float, source: str, profiles: Path
) -> None:
    resolved = cfg.resolve({"profile": "team", **cli}, env=env, profiles_dir=profiles)

    assert (resolved.timeout_scale, resolved.source("timeout_scale")) == (expected, source)


def test_default_when_nobody_sets_it(profiles: Path) -> None:
    resolved = cfg.resolve({"profile": "team"}, env={}, profiles_dir=profiles)

    assert (resolved.cluster_name, resolved.source("cluster_name")) == ("eso-conformance", "default")


def test_profile_itself_chosen_by_environment(profiles: Path) -> None:
    resolved = cfg.resolve({}, env={"ESOCONF_PROFILE": "team-toml"}, profiles_dir=profiles)

    assert (resolved.profile, resolved.source("profile")) == ("team-toml", "env")
    assert (resolved.images, resolved.timeout_scale) == ("airgap", 2.5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("0", False),
        ("off", False),
    ],
)
def test_flag_from_environment(text: str, expected: bool, profiles: Path) -> None:
    resolved = cfg.resolve({"profile": "team"}, env={"ESOCONF_KEEP_CLUSTER": text}, profiles_dir=profiles)

    assert resolved.keep_cluster is expected


def test_versions_file_fills_image_for_image_set(profiles: Path) -> None:
    resolved = cfg.resolve({"profile": "team"}, env={}, profiles_dir=profiles)

    assert resolved.eso_image.startswith("registry1.dso.mil/ironbank/")
    assert resolved.source("eso_image") == "versions.yaml"


def test_table_and_junit_properties_show_every_recorded_setting(profiles: Path) -> None:
    resolved = cfg.resolve({"profile": "team", "chart": "/charts/eso"}, env={}, profiles_dir=profiles)

    assert ("artifacts_dir", "from-profile", "profile") in resolved.table()
    props = resolved.junit_properties()
    assert props["chart"] == "/charts/eso" and props["chart_version"] == "-"
    assert set(props) >= {"chart", "eso_image", "vault_version", "istio_version", "kubernetes_version"}


def test_shipped_profiles_all_load() -> None:
    for path in sorted(cfg.PROFILES_DIR.glob("*.yaml")):
        assert cfg.load_profile(path.stem), path


@pytest.mark.parametrize(
    "make",
    [
        lambda root: root / "chart",
        lambda root: root / "eso-1.0.0.tgz",
    ],
    ids=["chart-directory", "chart-archive"],
)
def test_check_chart_ref_accepts_local_charts(make: Any, tmp_path: Path) -> None:
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text("name: x\n")
    (tmp_path / "eso-1.0.0.tgz").write_bytes(b"")

    cfg.check_chart_ref(str(make(tmp_path)), None)


def test_check_chart_ref_accepts_remote_chart_with_version() -> None:
    cfg.check_chart_ref("oci://registry.example/charts/eso", "1.3.1-bb.1")


def test_default_doc_is_found_in_the_package_repo(tmp_path: Path) -> None:
    (tmp_path / "chart").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "VAULT_INTEGRATION.md").write_text("# Vault\n")

    assert cfg.default_doc_for(str(tmp_path / "chart")) == tmp_path / "docs" / "VAULT_INTEGRATION.md"
    assert cfg.default_doc_for("oci://registry.example/charts/eso") is None


@pytest.mark.parametrize("setting, package", [("chart", "external_secrets"), ("vault_chart", "vault"),
                                              ("umbrella_chart", "umbrella")])
def test_pinned_chart_is_the_release_in_versions_yaml(setting: str, package: str) -> None:
    resolved = cfg.resolve({setting: "pinned"}, env={})
    pin = cfg.load_versions()["charts"][package]
    assert (getattr(resolved, setting), getattr(resolved, f"{setting}_version")) == (pin["git"], pin["version"])
    assert resolved.source(f"{setting}_version") == "versions.yaml"


@pytest.mark.parametrize("eso, vault, umbrella", [("2.8.0-bb.0", "0.34.0-bb.0", "3.30.0"),
                                                  ("1.3.1-bb.1", "0.32.0-bb.0", "3.18.0")])
def test_pinned_charts_are_one_big_bang_release(eso: str, vault: str, umbrella: str) -> None:
    resolved = cfg.resolve({"chart": "pinned", "chart_version": eso, "vault_chart": "pinned",
                            "umbrella_chart": "pinned"}, env={})
    assert (resolved.chart_version, resolved.vault_chart_version, resolved.umbrella_chart_version) == (
        eso, vault, umbrella)
    assert resolved.umbrella_chart == "https://repo1.dso.mil/big-bang/bigbang.git"


def test_a_tox_env_default_is_below_the_users_settings_and_shown_as_tox_ini() -> None:
    tox_default = {"ESOCONF_TOX_DEFAULTS": "vault_chart=/charts/vault"}
    resolved = cfg.resolve({}, env=tox_default)
    assert (resolved.vault_chart, resolved.source("vault_chart")) == ("/charts/vault", "tox.ini")
    mine = cfg.resolve({}, env={**tox_default, "ESOCONF_VAULT_CHART": "/mine"})
    assert (mine.vault_chart, mine.source("vault_chart")) == ("/mine", "env")
    with pytest.raises(cfg.ConfigError, match="ESOCONF_TOX_DEFAULTS .*unknown setting.*vault_chrt"):
        cfg.resolve({}, env={"ESOCONF_TOX_DEFAULTS": "vault_chrt=x"})
    assert cfg.misspelled_env(tox_default) == []
