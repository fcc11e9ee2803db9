"""The live case tables and the doc shapes they are built from (no cluster)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from esoconf.claims import CLAIMS_FILE, load_claims
from esoconf.config import PROJECT_ROOT, ConfigError
from esoconf.known_defects import load_defects
from esoconf.live import cases
from esoconf.live.cases import (
    FAILURE_CASES,
    SYNC_CASES,
    TROUBLESHOOTING_CASES,
    DocShapes,
    parse_vault_write_role,
    tr_command,
)
from esoconf.live.expectations import PATTERNS, pattern
from esoconf.live.verdicts import LIVE_CLAIMS_FILE, all_claims, is_claim_id

DOC = PROJECT_ROOT / "tests" / "fixtures" / "docs" / "VAULT_INTEGRATION.md"
REQUIRED_FAILURES = {
    "missing-authz-policy",
    "missing-vault-ingress-label",
    "network-policies-disabled",
    "token-trailing-newline",
    "token-carriage-return",
    "k8s-auth-default-policy",
    "role-not-bound",
    "missing-vault-key",
    "missing-property",
    "missing-token-secret",
    "missing-token-key",
    "referent-token-no-namespace",
}


def test_sync_matrix_is_auth_times_fetch_plus_another_mount() -> None:
    assert [c.id for c in SYNC_CASES] == [
        "token-data",
        "token-dataFrom",
        "kubernetes-data",
        "kubernetes-dataFrom",
        "kubernetes-data-at-kubernetes-other",  # the doc's mountPath is the CRD default: this one shows it is used
    ]


@pytest.mark.parametrize(
    "table",
    [SYNC_CASES, FAILURE_CASES, TROUBLESHOOTING_CASES, cases.PREREQUISITE_CASES],
    ids=["sync", "failure", "troubleshooting", "prerequisites"],
)
def test_case_ids_are_unique_and_readable(table: tuple) -> None:
    ids = cases.ids(table)
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(-[A-Za-z0-9]+)*", i) for i in ids), ids


def test_every_documented_failure_mode_has_a_case() -> None:
    assert set(cases.ids(FAILURE_CASES)) | set(cases.ids(TROUBLESHOOTING_CASES)) == REQUIRED_FAILURES


@pytest.mark.parametrize(
    "case", [c for c in FAILURE_CASES + TROUBLESHOOTING_CASES if c.pattern], ids=lambda c: c.id
)
def test_failure_patterns_exist(case: cases.FailureCase) -> None:
    assert pattern(case.pattern)  # raises on an unknown name


def test_store_failures_name_their_stage_and_claims_their_outcome() -> None:
    for case in FAILURE_CASES:
        assert (case.stage is not None) == (case.store == "failure"), case.id
        assert (case.claim is None) == (case.doc_says is None), case.id


def test_doc_shapes_follow_the_doc() -> None:
    shapes = DocShapes.load(DOC)
    assert shapes.sources["token"]["auth"] == {
        "type": "token",
        "secretName": "vault-token",
        "namespace": "external-secrets",
        "key": "token",
    }
    assert shapes.sources["kubernetes"]["auth"]["serviceAccountRef"] == {
        "name": "external-secrets",
        "namespace": "external-secrets",
    }
    assert shapes.role == {
        "mount": "kubernetes",
        "name": "eso-role",
        "params": {
            "bound_service_account_names": "external-secrets",
            "bound_service_account_namespaces": "external-secrets",
            "policies": "default",
            "ttl": "1h",
        },
    }
    assert shapes.label_check[-1] == "jsonpath={.items[0].metadata.labels.vault-ingress}"
    assert shapes.token_clean == ("tr", "-d", "\\r\\n")
    assert shapes.token_secret == {"name": "vault-token", "namespace": "external-secrets", "key": "token"}
    assert shapes.authz_policy["spec"]["action"] == "ALLOW"
    assert cases.VAULT_INGRESS_NETWORKPOLICY in DOC.read_text(encoding="utf-8")


def test_doc_shapes_name_the_missing_piece(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(DOC.read_text(encoding="utf-8").replace("tr -d", "sed -e"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"no `tr -d"):
        DocShapes.load(doc)


def test_command_parsers() -> None:
    role = parse_vault_write_role("vault write auth/k8s/role/r \\\n  policies=a,b \\\n  ttl=1h\n")
    assert role == {"mount": "k8s", "name": "r", "params": {"policies": "a,b", "ttl": "1h"}}
    assert tr_command("X=\"$(tr -d '\\n' < f)\"") == ("tr", "-d", "\\n")


def test_live_claims_are_well_formed_and_distinct_from_render_claims() -> None:
    claims = all_claims()  # raises when an id is in both files
    live = set(load_claims(LIVE_CLAIMS_FILE))
    assert {"TRB-1", "TRB-2", "TRB-3", "TRB-4", "TRB-5", "TOK-NS-1", "MESH-1"} <= live
    assert all(is_claim_id(i) for i in claims)
    # TRB-2 is judged on its failure class (a connection failure, cleared by the label): no doc error
    assert {i for i in live if i in load_defects()} == {"TRB-1", "TRB-3", "TRB-5"}


def test_every_claim_the_suites_use_is_defined() -> None:
    if not CLAIMS_FILE.is_file():
        pytest.skip("manifests/claims.yaml (render tier) not written yet: shared ids cannot be checked")
    missing = sorted(cases.ALL_CLAIMS_USED - set(all_claims()))
    assert not missing, f"claim ids used by the live suites but defined nowhere: {missing}"


def test_patterns_compile() -> None:
    for name in PATTERNS:
        assert pattern(name).pattern


def test_claims_of_tests_that_never_settle_are_not_doc_errors() -> None:
    # sync and prerequisite tests assert and never raise ClaimRefuted: a doc_error flag on their claims
    # would turn every pass into a strict XPASS failure
    plain = {c for s in SYNC_CASES for c in s.claims} | {c.claim for c in cases.PREREQUISITE_CASES}
    assert not [c for c in plain if c in load_defects()]
