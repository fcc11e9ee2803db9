"""Every claim is proven to be checked: each mutant of the fixture charts fails exactly the claims it breaks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from shared_renders import SharedRenders, compose, files_of, groups

import esoconf.render.helm
from esoconf.claims import load_claims
from esoconf.runner import run

GROUPS = {m.id: group for group in groups(MUTANTS + MUTANTS_2X) for m in group}
# the proofs read the verdicts, never a traceback: Python's own (pytest's parses each failing test's source)
VERDICTS_ONLY = ("--tb=native",)


def quick_cover(mutants: tuple[Mutant, ...]) -> frozenset[str]:
    """The mutants the quick loop runs: one after another the one killing most claims no earlier one kills (of the
    1.x package, shared renders first, on a tie), until every claim has a killing mutant. Every other proof is marked
    `mutants`: `scripts/tox -e slow` (and CI) runs the whole table."""
    chosen: list[Mutant] = []
    left = set().union(*(m.breaks for m in mutants))
    while left:
        best = max(mutants, key=lambda m: (len(m.breaks & left), m in MUTANTS, m.id in GROUPS))
        chosen.append(best)
        left -= best.breaks
    return frozenset(m.id for m in chosen)


QUICK = quick_cover(MUTANTS + MUTANTS_2X)


def table(mutants: tuple[Mutant, ...]) -> list[Any]:
    return [pytest.param(m, id=m.id, marks=[] if m.id in QUICK else [pytest.mark.mutants]) for m in mutants]


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


@pytest.mark.parametrize("mutant", table(MUTANTS))
def test_mutant_fails_exactly_the_claims_it_breaks(mutant: Mutant, suite: pytest.Pytester, tmp_path: Path,
                                                   helm: Path, sharing: Callable[[Mutant, Path], None]) -> None:
    mutated = apply(mutant, tmp_path / "charts")
    sharing(mutant, mutated)
    chart = mutated if mutant.package == ESO else CHARTS[ESO]
    vault_chart = CHARTS[VAULT] if mutant.package == ESO else mutated
    run = run_render_tier(suite, tmp_path, helm, chart, vault_chart, FIXTURE_DOC, *VERDICTS_ONLY)
    assert run.verdicts, f"the render tier wrote no claim records:\n{run.pytest.stdout.str()[-3000:]}"
    expected = mutant.breaks | BASELINE_FAILING[mutant.package]
    assert run.failing == expected, (
        f"mutant {mutant.id} should fail {sorted(expected)}, failed {sorted(run.failing)} "
        f"(verdicts {run.verdicts})")


@pytest.mark.parametrize("mutant", table(MUTANTS_2X))
def test_2x_mutant_through_the_umbrella_fails_exactly_the_claims_it_breaks(
        mutant: Mutant, suite: pytest.Pytester, tmp_path: Path, helm: Path,
        sharing: Callable[[Mutant, Path], None]) -> None:
    """The 2.x fixture package through the fixture umbrella: a renamed policy with the same traffic fails nothing
    new; a policy (or an umbrella value) that stops admitting Vault:8200 fails the traffic claim."""
    mutated = apply(mutant, tmp_path / "charts")
    sharing(mutant, mutated)
    umbrella = mutated if mutant.package == UMBRELLA else CHARTS[UMBRELLA]
    chart = mutated if mutant.package == ESO_2X else CHARTS[ESO_2X]
    run = run_render_tier(suite, tmp_path, helm, chart, CHARTS[VAULT], FIXTURE_DOC, "--umbrella-chart", str(umbrella),
                          *VERDICTS_ONLY)
    expected = mutant.breaks | BASELINE_2X
    assert run.failing == expected, f"mutant {mutant.id} should fail {sorted(expected)}, failed {sorted(run.failing)}"


def test_every_claim_has_a_killing_mutant() -> None:
    killed = set().union(*(m.breaks for m in MUTANTS + MUTANTS_2X))
    unkilled = sorted(set(load_claims()) - killed)
    assert not unkilled, f"claims no mutant proves are checked: {unkilled}"


def test_the_quick_loop_has_a_killing_mutant_for_every_claim() -> None:
    quick = [m for m in MUTANTS + MUTANTS_2X if m.id in QUICK]
    unkilled = sorted(set(load_claims()) - set().union(*(m.breaks for m in quick)))
    assert not unkilled and len(quick) < len(MUTANTS + MUTANTS_2X), f"the quick loop proves no check of {unkilled}"


def test_mutants_only_name_known_claims() -> None:
    unknown = {m.id: sorted(m.breaks - set(load_claims())) for m in MUTANTS if m.breaks - set(load_claims())}
    assert not unknown, f"mutants name claims missing from manifests/claims.yaml: {unknown}"


# the doc's objects (a token and a kubernetes store, ExternalSecrets with data and dataFrom) with every switch off
# and on: the templates the mutants edit render documents with these
DOC_OBJECTS = """clusterSecretStoreConfiguration:
  enabled: true
  clusterSecretStoreList:
    - {name: vault-secrets, source: {provider: vault, server: "https://vault.example.com:8200", path: kv, version: v2,
       auth: {type: token, secretName: vault-token, namespace: external-secrets, key: token}}}
    - {name: vault-k8s, source: {provider: vault, server: "https://vault.example.com:8200", path: kv, version: v2,
       auth: {type: kubernetes, mountPath: kubernetes, role: eso-role,
              serviceAccountRef: {name: external-secrets, namespace: external-secrets}}}}
externalSecretsConfiguration:
  enabled: true
  secretList:
    - {name: vault-secrets, namespace: external-secrets, secrets: {targetName: my-app-secret, targetPolicy: Owner,
       data: [{secretKey: username, remoteRef: {key: my-app/config, property: username}}]}}
    - {name: vault-k8s, namespace: external-secrets, secrets: {targetName: my-other-secret, targetPolicy: Owner,
       dataFrom: [{extract: {key: my-app/config}}]}}
"""
SWITCHES_OFF = "monitoring: {enabled: false}\n"
SWITCHES_ON = ("networkPolicies: {enabled: true}\nistio: {enabled: true, hardened: {enabled: true}}\n"
               "monitoring: {enabled: true}\n")


def test_shared_renders_equal_each_mutant_rendered_alone(tmp_path: Path, helm: Path) -> None:
    """The sharing is exact: for the members of the largest group that edit its most edited file (the first one's
    version under the file's own name, the others' as variant files beside it), with the doc's objects and every
    switch off and on, each composed output is byte for byte what helm renders for the mutant alone."""
    group = max(GROUPS.values(), key=len)
    file = Counter(f for m in group for f in files_of(m)).most_common(1)[0][0]
    shared = SharedRenders(run, tmp_path / "shared")
    package = group[0].package
    values = [tmp_path / "switches-off.yaml", tmp_path / "switches-on.yaml"]
    values[0].write_text(DOC_OBJECTS + SWITCHES_OFF)
    values[1].write_text(DOC_OBJECTS + SWITCHES_ON)
    compared = changed = 0
    reference = {file_: run([str(helm), "template", package, str(CHARTS[package]), "-f", str(file_)]).stdout
                 for file_ in values}
    for mutant in (m for m in group if file in files_of(m)):
        chart = apply(mutant, tmp_path / mutant.id)
        shared.register(group, mutant, chart)
        for file_ in values:
            cmd = [str(helm), "template", package, str(chart), "-f", str(file_)]
            alone = run(cmd).stdout
            assert shared(cmd).stdout == alone, f"{mutant.id} with {file_.name}: composed != rendered"
            compared += 1
            changed += alone != reference[file_]
    assert shared.shared == compared and shared.fallbacks == 0
    assert changed > len(values) * 2, f"only {changed} of {compared} mutant renders differ from the reference"


def test_composing_refuses_what_it_cannot_place_exactly() -> None:
    base = "---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/b.yaml\nkind: B\n"
    assert compose(base, base, {"templates/a.yaml": "templates/a.yaml"}) == base
    more = base.replace("kind: A\n", "kind: A\n---\n# Source: c/templates/a.yaml\nkind: A\n")
    assert compose(base, more, {"templates/a.yaml": "templates/a.yaml"}) is None, \
        "a new document: helm alone knows its place"
    variant = base + "---\n# Source: c/templates/a.variant-1.yaml\nkind: A\nchanged: true\n"
    assert compose(base, variant, {"templates/a.yaml": "templates/a.variant-1.yaml"}) == base.replace(
        "kind: A\n", "kind: A\nchanged: true\n"), "a variant's documents, under the file's own name"
