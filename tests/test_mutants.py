"""Every claim is proven to be checked: each mutant of the fixture charts fails exactly the claims it breaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutants import (
    BASELINE_2X,
    BASELINE_FAILING,
    CHARTS,
    ESO,
    ESO_2X,
    FIXTURE_DOC,
    MUTANTS,
    MUTANTS_2X,
    UMBRELLA,
    VAULT,
    Mutant,
    apply,
    helm_binary,
    run_render_tier,
)

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


@pytest.mark.parametrize("mutant", MUTANTS_2X, ids=str)
def test_2x_mutant_through_the_umbrella_fails_exactly_the_claims_it_breaks(mutant: Mutant, suite: pytest.Pytester,
                                                                           tmp_path: Path, helm: Path) -> None:
    """The 2.x fixture package through the fixture umbrella: a renamed policy with the same traffic fails nothing
    new; a policy (or an umbrella value) that stops admitting Vault:8200 fails the traffic claim."""
    mutated = apply(mutant, tmp_path / "charts")
    umbrella = mutated if mutant.package == UMBRELLA else CHARTS[UMBRELLA]
    chart = mutated if mutant.package == ESO_2X else CHARTS[ESO_2X]
    run = run_render_tier(suite, tmp_path, helm, chart, CHARTS[VAULT], FIXTURE_DOC, "--umbrella-chart", str(umbrella))
    expected = mutant.breaks | BASELINE_2X
    assert run.failing == expected, f"mutant {mutant.id} should fail {sorted(expected)}, failed {sorted(run.failing)}"


def test_every_claim_has_a_killing_mutant() -> None:
    killed = set().union(*(m.breaks for m in MUTANTS + MUTANTS_2X))
    unkilled = sorted(set(load_claims()) - killed)
    assert not unkilled, f"claims no mutant proves are checked: {unkilled}"


def test_mutants_only_name_known_claims() -> None:
    unknown = {m.id: sorted(m.breaks - set(load_claims())) for m in MUTANTS if m.breaks - set(load_claims())}
    assert not unknown, f"mutants name claims missing from manifests/claims.yaml: {unknown}"
