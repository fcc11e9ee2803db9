"""Every claim is proven to be checked: each mutant of the fixture charts fails exactly the claims it breaks."""

from __future__ import annotations

from collections.abc import Callable
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
from shared_renders import SharedRenders, compose, groups

import esoconf.render.helm
from esoconf.claims import load_claims
from esoconf.runner import run

GROUPS = {m.id: group for group in groups(MUTANTS + MUTANTS_2X) for m in group}


@pytest.fixture(scope="module")
def helm() -> Path:
    return helm_binary()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> SharedRenders:
    """One per process (xdist worker): renders shared by the mutants of a group (tests/shared_renders.py)."""
    return SharedRenders(run, tmp_path_factory.mktemp("shared-renders"))


@pytest.fixture
def sharing(shared: SharedRenders, monkeypatch: pytest.MonkeyPatch) -> Callable[[Mutant, Path], None]:
    """``sharing(mutant, chart)``: the render tier's helm calls for ``chart`` go through the shared renders."""
    monkeypatch.setattr(esoconf.render.helm, "run", shared)

    def register(mutant: Mutant, chart: Path) -> None:
        if mutant.id in GROUPS:
            shared.register(GROUPS[mutant.id], mutant, chart)
    return register


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_fails_exactly_the_claims_it_breaks(mutant: Mutant, suite: pytest.Pytester, tmp_path: Path,
                                                   helm: Path, sharing: Callable[[Mutant, Path], None]) -> None:
    mutated = apply(mutant, tmp_path / "charts")
    sharing(mutant, mutated)
    chart = mutated if mutant.package == ESO else CHARTS[ESO]
    vault_chart = CHARTS[VAULT] if mutant.package == ESO else mutated
    run = run_render_tier(suite, tmp_path, helm, chart, vault_chart)
    assert run.verdicts, f"the render tier wrote no claim records:\n{run.pytest.stdout.str()[-3000:]}"
    expected = mutant.breaks | BASELINE_FAILING[mutant.package]
    assert run.failing == expected, (
        f"mutant {mutant.id} should fail {sorted(expected)}, failed {sorted(run.failing)} "
        f"(verdicts {run.verdicts})")


@pytest.mark.parametrize("mutant", MUTANTS_2X, ids=str)
def test_2x_mutant_through_the_umbrella_fails_exactly_the_claims_it_breaks(
        mutant: Mutant, suite: pytest.Pytester, tmp_path: Path, helm: Path,
        sharing: Callable[[Mutant, Path], None]) -> None:
    """The 2.x fixture package through the fixture umbrella: a renamed policy with the same traffic fails nothing
    new; a policy (or an umbrella value) that stops admitting Vault:8200 fails the traffic claim."""
    mutated = apply(mutant, tmp_path / "charts")
    sharing(mutant, mutated)
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


def test_shared_renders_equal_each_mutant_rendered_alone(tmp_path: Path, helm: Path) -> None:
    """The sharing is exact: for the largest group, with the package's default values and with every switch on,
    each member's composed output is byte for byte what helm renders for the mutant alone."""
    group = max(GROUPS.values(), key=len)
    shared = SharedRenders(run, tmp_path / "shared")
    package = group[0].package
    values = [tmp_path / "defaults.yaml", tmp_path / "switches.yaml"]
    values[0].write_text("{}\n")
    values[1].write_text("networkPolicies: {enabled: true}\nistio: {enabled: true, hardened: {enabled: true}}\n")
    compared = 0
    for mutant in group:
        chart = apply(mutant, tmp_path / mutant.id)
        shared.register(group, mutant, chart)
        for file in values:
            cmd = [str(helm), "template", package, str(chart), "-f", str(file)]
            assert shared(cmd).stdout == run(cmd).stdout, f"{mutant.id} with {file.name}: composed != rendered"
            compared += 1
    assert shared.shared == compared and shared.fallbacks == 0 and len(group) > 2


def test_composing_refuses_what_it_cannot_place_exactly() -> None:
    base = "---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/b.yaml\nkind: B\n"
    assert compose(base, base, frozenset({"templates/a.yaml"})) == base
    more = base.replace("kind: A\n", "kind: A\n---\n# Source: c/templates/a.yaml\nkind: A\n")
    assert compose(base, more, frozenset({"templates/a.yaml"})) is None, "a new document: helm alone knows its place"
