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


def test_readme_says_what_the_kind_config_maps() -> None:
    """The live platform creates kind with ``KindEnvironment.up()`` and no port mappings."""
    from esoconf.kind.cluster import kind_config

    config = kind_config(node_image="kindest/node:v1.33.4@sha256:" + "0" * 64)
    maps_ports = any(node.get("extraPortMappings") for node in config["nodes"])
    live_tier = README.split("## Live tier", 1)[1].split("\n## ", 1)[0]
    claims_ports = re.search(r"kind config (still )?maps (one|a NodePort|\S+ port)", live_tier) is not None
    assert "kind config maps no host port" in live_tier or claims_ports
    assert claims_ports is maps_ports, "README and the kind config disagree about a host port mapping"
