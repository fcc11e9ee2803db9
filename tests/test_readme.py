"""The README stays true: its two commands exist, and its tables cover every setting and claim."""

from __future__ import annotations

import configparser
import re

import pytest

from esoconf.claims import load_claims
from esoconf.config import PROJECT_ROOT, SETTINGS

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_conformance_run_and_the_test_command() -> None:
    first_block = README.split("```")[1]
    commands = [line for line in first_block.splitlines() if line and not line.startswith(("#", "bash"))]
    assert [c.split()[:3] for c in commands] == [["scripts/tox", "-e", "conformance"], ["scripts/tox", "-e", "unit"]]
    envs = configparser.ConfigParser(interpolation=None)
    envs.read(PROJECT_ROOT / "tox.ini")
    assert {"testenv:conformance", "testenv:unit"} <= set(envs.sections())
    assert (PROJECT_ROOT / "scripts" / "tox").stat().st_mode & 0o111
    assert "scripts/tox -e unit" in (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_configuration_table_lists_every_setting(setting) -> None:  # type: ignore[no-untyped-def]
    row = re.search(rf"^\| `{re.escape(setting.option)}` \| `{setting.env}` \| `{setting.name}` \|", README, re.M)
    assert row, f"README configuration table has no row for {setting.option}"


def test_claim_table_lists_every_render_claim() -> None:
    ids = {claim_id for claim_id in load_claims() if not claim_id.startswith("ES-VAR-")}
    missing = sorted(i for i in ids if f"| {i} |" not in README)
    assert not missing, f"README claim table misses {missing}"


def test_every_tox_env_shares_one_environment() -> None:
    """Item: a second tox command starts in seconds: no env overrides the shared runner, env_dir or packages
    (an env with other packages would recreate the shared environment on every switch)."""
    envs = configparser.ConfigParser(interpolation=None)
    envs.read(PROJECT_ROOT / "tox.ini")
    base = envs["testenv"]
    assert base.get("runner") == "shared-virtualenv" and "{work_dir}" in base.get("env_dir", "")
    assert "SharedVirtualEnvRunner" in (PROJECT_ROOT / "toxfile.py").read_text(encoding="utf-8")
    overriding = {section: key for section in envs.sections() if section.startswith("testenv:")
                  for key in ("runner", "env_dir", "deps", "extras", "package", "skip_install", "base_python")
                  if key in envs[section]}
    assert not overriding, f"tox envs that would not share the environment: {overriding}"
