"""esoconf.doc: the doc's code blocks by section; a changed doc is one line naming the section."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from esoconf.config import ConfigError
from esoconf.doc import SECTIONS, load_doc, parse_markdown

DOCS = Path(__file__).resolve().parent / "fixtures" / "docs"
SHARED_DOC = Path(__file__).resolve().parents[2] / "shared" / "docs" / "VAULT_INTEGRATION.md"


@pytest.fixture(scope="module")
def doc():
    return load_doc(DOCS / "VAULT_INTEGRATION.md")


@pytest.mark.parametrize(("section", "path"), [
    ("token", ("addons", "externalSecrets", "values", "clusterSecretStoreConfiguration")),
    ("kubernetes", ("addons", "externalSecrets", "values", "clusterSecretStoreConfiguration")),
    ("data", ("addons", "externalSecrets", "values", "externalSecretsConfiguration")),
    ("dataFrom", ("addons", "externalSecrets", "values", "externalSecretsConfiguration")),
    ("network", ("addons", "vault", "values", "istio", "hardened", "customAuthorizationPolicies")),
    ("troubleshooting", ("upstream", "podLabels")),
], ids=str)
def test_each_section_yields_its_yaml_values(doc, section: str, path: tuple[str, ...]) -> None:
    node = doc.yaml(section).data
    for key in path:
        assert key in node, f"{section}: {key} missing"
        node = node[key]


def test_the_auth_kind_tells_token_and_kubernetes_apart(doc) -> None:
    def auth(section: str) -> dict:
        values = doc.yaml(section).data["addons"]["externalSecrets"]["values"]
        return values["clusterSecretStoreConfiguration"]["clusterSecretStoreList"][0]["source"]["auth"]

    assert auth("token")["type"] == "token"
    assert auth("kubernetes") == {"type": "kubernetes", "mountPath": "kubernetes", "role": "eso-role",
                                  "serviceAccountRef": {"name": "external-secrets", "namespace": "external-secrets"}}


def test_shell_blocks_are_text_with_their_section(doc) -> None:
    [create] = doc.shell("token-secret")
    assert create.lang == "shell" and create.text.startswith("kubectl create secret generic vault-token")
    assert create.data is None and create.section[-1] == "Create a Secret containing your Vault Token"


def test_indented_block_inside_a_list_item_is_dedented() -> None:
    snippets, _ = parse_markdown("## T\n\n1. item\n   ```yaml\n   a:\n     b: 1\n   ```\n")
    assert snippets[0].text == "a:\n  b: 1\n" and snippets[0].section == ("T",)


def test_heading_match_ignores_case_and_markdown() -> None:
    doc = load_doc(DOCS / "VAULT_INTEGRATION.md")
    assert [s.section[-1] for s in doc.blocks("data")] == ["Using individual keys (`data`)"]


def published_doc() -> Path | None:
    """The published doc, which lives outside this repository: ESOCONF_DOC, else the workspace's shared copy."""
    given = os.environ.get("ESOCONF_DOC")
    if given:
        return Path(given)
    return SHARED_DOC if SHARED_DOC.is_file() else None


NO_PUBLISHED_DOC = ("the published VAULT_INTEGRATION.md is not in this repository (tests/fixtures/docs holds a copy, "
                    "which the other tests use): set ESOCONF_DOC=<path to the package repo's "
                    "docs/VAULT_INTEGRATION.md> to check the current one")


def test_the_current_published_doc_parses() -> None:
    published = published_doc()
    if published is None:
        pytest.skip(NO_PUBLISHED_DOC)
    doc = load_doc(published)
    assert all(doc.blocks(key) for key in SECTIONS)


@pytest.mark.parametrize(("name", "message"), [
    ("no-yaml.md", "has no ```yaml code blocks"),
    ("bad-yaml.md", "the YAML block in section"),
    ("renamed-section.md", "doc changed: section 'Authentication Method: Kubernetes' not found"),
])
def test_broken_doc_is_one_line(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_doc(DOCS / "broken" / name)
    text = str(caught.value)
    assert message in text and "\n" not in text


def test_bad_yaml_names_section_and_line(tmp_path: Path) -> None:
    text = (DOCS / "VAULT_INTEGRATION.md").read_text().replace("        enabled: true\n      clusterSecretStore",
                                                              "        enabled: [true\n      clusterSecretStore", 1)
    bad = tmp_path / "doc.md"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=r"section 'Authentication Method: Token / Big Bang Override Values' "
                                          r"does not parse \(line \d+"):
        load_doc(bad)


def test_missing_doc_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_doc(tmp_path / "missing.md")
