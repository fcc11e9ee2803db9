"""Every claim is proven to be checked: each mutant of the fixture charts fails exactly the claims it breaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutants import BASELINE_FAILING, CHARTS, ESO, MUTANTS, VAULT, Mutant, apply, helm_binary, run_render_tier

from esoconf.claims import load_claims


@pytest.fixture(scope="module")
def helm() -> Path:
    return helm_binary()


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_fails_exactly_the_claims_it_breaks(mutant: Mutant, suite: pytest.Pytester, tmp_path: Path,
                                                   helm: Path) -> None:
    mutated = apply(mutant, tmp_path / "charts")
    chart = mutated if mutant.package == ESO else CHARTS[ESO]
    vault_chart = CHARTS[VAULT] if mutant.package == ESO else mutated
    run = run_render_tier(suite, tmp_path, helm, chart, vault_chart)
    assert run.verdicts, f"the render tier wrote no claim records:\n{run.pytest.stdout.str()[-3000:]}"
    expected = mutant.breaks | BASELINE_FAILING[mutant.package]
    assert run.failing == expected, (
        f"mutant {mutant.id} should fail {sorted(expected)}, failed {sorted(run.failing)} "
        f"(verdicts {run.verdicts})")


def test_every_claim_has_a_killing_mutant() -> None:
    killed = set().union(*(m.breaks for m in MUTANTS))
    unkilled = sorted(set(load_claims()) - killed)
    assert not unkilled, f"claims no mutant proves are checked: {unkilled}"


def test_mutants_only_name_known_claims() -> None:
    unknown = {m.id: sorted(m.breaks - set(load_claims())) for m in MUTANTS if m.breaks - set(load_claims())}
    assert not unknown, f"mutants name claims missing from manifests/claims.yaml: {unknown}"
