"""The README stays true: its two commands exist, and its tables cover every setting and claim."""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path

import pytest

from esoconf.claims import load_claims
from esoconf.config import PROJECT_ROOT, SETTINGS
from esoconf.configdoc import COMMAND

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
# the README and the docs it points to: every command they show must work from a fresh clone
DOCS = "\n".join([README, *(p.read_text(encoding="utf-8") for p in sorted((PROJECT_ROOT / "docs").glob("*.md")))])


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
def test_configuration_reference_lists_every_setting(setting) -> None:  # type: ignore[no-untyped-def]
    reference = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    row = re.search(rf"^\| `{re.escape(setting.option)}` \| `{setting.env}` \| `{setting.name}` \|", reference, re.M)
    assert row, f"docs/configuration.md has no row for {setting.option}: run `{COMMAND}`"
    assert "docs/configuration.md" in README.split("## Configuration", 1)[1], "README does not point to the reference"


def test_claim_table_lists_every_render_claim() -> None:
    ids = {claim_id for claim_id in load_claims() if not claim_id.startswith("ES-VAR-")}
    missing = sorted(i for i in ids if f"| {i} |" not in README)
    assert not missing, f"README claim table misses {missing}"


def test_readme_says_what_the_kind_config_maps() -> None:
    """The live platform creates kind with ``KindEnvironment.up()`` and no port mappings."""
    from esoconf.platforms.kind.cluster import kind_config

    config = kind_config(node_image="kindest/node:v1.33.4@sha256:" + "0" * 64)
    maps_ports = any(node.get("extraPortMappings") for node in config["nodes"])
    live_tier = (PROJECT_ROOT / "docs" / "live-tier.md").read_text(encoding="utf-8").split("## Live tier", 1)[1]
    claims_ports = re.search(r"kind config (still )?maps (one|a NodePort|\S+ port)", live_tier) is not None
    assert "kind config maps no host port" in live_tier or claims_ports
    assert claims_ports is maps_ports, "docs/live-tier.md and the kind config disagree about a host port mapping"


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


FENCED = re.compile(r"```bash\n(.*?)```", re.S)
INLINE = re.compile(r"`([^`\n]+)`")
# the suite's own commands: in the README each must be one a fresh clone can run as written
SUITE_COMMANDS = ("tox", "pytest", "report", "doctor", "bench-render", "install-tools", "run")


def readme_commands() -> list[str]:
    """Every command the README shows: lines of its bash blocks and inline code that starts like a command."""
    commands = [line.split("#")[0].strip() for block in FENCED.findall(DOCS) for line in block.splitlines()]
    commands += [span for span in INLINE.findall(DOCS)
                 if span.split()[0].removeprefix("python").strip() in SUITE_COMMANDS
                 or span.startswith(("scripts/", "python scripts/"))]
    return [c for c in commands if c]


def test_every_command_the_readme_shows_works_from_a_fresh_clone() -> None:
    """Commands are entry points in scripts/ (they make or use the suite's environment), never bare
    `pytest`/`report`/`doctor`/`tox` (not on PATH in a fresh clone); every `scripts/tox -e X` names a tox env."""
    envs = configparser.ConfigParser(interpolation=None)
    envs.read(PROJECT_ROOT / "tox.ini")
    known_envs = {s.removeprefix("testenv:") for s in envs.sections() if s.startswith("testenv:")}
    problems = []
    commands = readme_commands()
    for command in commands:
        words = command.split()
        program = words[1] if words[0] == "python" and len(words) > 1 else words[0]
        if not program.startswith("scripts/"):
            if program in SUITE_COMMANDS:
                problems.append(f"{command!r}: `{program}` is not on PATH in a fresh clone (use scripts/...)")
            continue
        path = PROJECT_ROOT / program
        if not (path.is_file() and path.stat().st_mode & 0o111):
            problems.append(f"{command!r}: {program} is not an executable in the repository")
        if program == "scripts/tox" and "-e" in words:
            problems += [f"{command!r}: no tox env {env!r}" for env in words[words.index("-e") + 1].split(",")
                         if env not in known_envs]
    assert len(commands) > 10 and not problems, "\n".join(problems)


def test_the_readme_command_check_catches_a_bare_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "DOCS", "run `report diff a b` or `scripts/tox -e nope`")
    assert readme_commands() == ["report diff a b", "scripts/tox -e nope"]
    with pytest.raises(AssertionError):
        test_every_command_the_readme_shows_works_from_a_fresh_clone()


def test_entry_points_run_in_the_suite_environment() -> None:
    """scripts/report, scripts/doctor and the system-python start of scripts/bench-render all go through
    scripts/run (the shared tox environment), so none of them needs the suite installed by hand."""
    for name in ("report", "doctor"):
        assert f'/run" {name} "$@"' in (PROJECT_ROOT / "scripts" / name).read_text(encoding="utf-8")
    assert '"scripts" / "run"' in (PROJECT_ROOT / "scripts" / "bench-render").read_text(encoding="utf-8")


@pytest.mark.slow
def test_bench_render_cleans_its_temporary_folder(tmp_path: Path) -> None:
    """scripts/bench-render as the README writes it (the suite's python here): it reports and leaves nothing."""
    import os
    import subprocess

    from mutants import CHARTS, ESO, FIXTURE_DOC, VAULT, helm_binary

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "bench-render"), "--chart", str(CHARTS[ESO]),
                           "--vault-chart", str(CHARTS[VAULT]), "--doc", str(FIXTURE_DOC), "--helm",
                           str(helm_binary())], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "helm renders" in done.stdout, done.stderr[-2000:]
    assert list(tmp_path.iterdir()) == [], "bench-render left files in TMPDIR"


def test_readme_is_a_ten_minute_map() -> None:
    """The README stays short (the rest lives in docs/), lists every live claim too, and every doc it links exists."""
    assert len(README.encode("utf-8")) <= 12 * 1024, "README.md is over 12 KB: move the detail to docs/"
    live = set(load_claims(PROJECT_ROOT / "manifests" / "claims-live.yaml", ("e2e",)))
    missing = sorted(i for i in live if f"| {i} |" not in README)
    assert not missing, f"README claim table misses the live claims {missing}"
    links = re.findall(r"\]\(((?:docs/)[^)#]+)\)", README)
    assert links and all((PROJECT_ROOT / link).is_file() for link in links), links
