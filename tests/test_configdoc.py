"""docs/configuration.md is generated from the settings table in code: it fails when the two differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from esoconf import config, configdoc


def test_configuration_reference_matches_the_code() -> None:
    committed = configdoc.DOC.read_text(encoding="utf-8") if configdoc.DOC.is_file() else ""
    assert committed == configdoc.render(), (
        f"docs/configuration.md differs from esoconf/config.py SETTINGS (or the profiles, tox.ini): run "
        f"`{configdoc.COMMAND}`")


def test_a_setting_added_in_code_makes_the_reference_stale(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The check above can fail: a new setting (or a changed profile) changes the generated page, and --check
    says which command brings the page back in line."""
    monkeypatch.setattr(configdoc, "DOC", tmp_path / "configuration.md")
    assert configdoc.main(["--write"]) == 0 and configdoc.main(["--check"]) == 0
    added = config.Setting("new_knob", "a setting added in code only", "on")
    monkeypatch.setattr(configdoc, "SETTINGS", (*config.SETTINGS, added))
    assert "`--new-knob` | `ESOCONF_NEW_KNOB` | `new_knob` | `on` |" in configdoc.render()
    assert configdoc.main(["--check"]) == 1
    assert configdoc.COMMAND in capsys.readouterr().err


def test_every_computed_default_names_a_setting() -> None:
    assert not set(configdoc.DEFAULT_SHOWN) - set(config.SETTINGS_BY_NAME)


def test_profile_and_tox_defaults_show_in_the_default_column() -> None:
    text = configdoc.render()
    assert "| `--keep-cluster` | `ESOCONF_KEEP_CLUSTER` | `keep_cluster` | `false` (`local` profile: `true`) |" in text
    assert "`scripts/tox -e conformance`: `pinned`" in text
