"""The CRDs behind every ClusterSecretStore and ExternalSecret the doc renders: the package installs its own
crds/, the controller it runs was released with its own CRDs. They must be the same API."""

from __future__ import annotations

import pytest
from render_cases import DOC_TOKEN_DATA, ESO_SCHEMA_CASES

from esoconf.render.crds import against_controller, compare
from esoconf.render.schema import assert_valid, summary

pytestmark = pytest.mark.render


@pytest.mark.claim("CRD-1")
def test_installed_crds_are_the_controllers_crds(tier, evidence):
    comparison = compare(tier.installed_crds(DOC_TOKEN_DATA), tier.controller_crds())
    evidence(comparison.summary())
    assert not comparison, f"chart defect: {comparison.summary()}"


@pytest.mark.claim("CRD-2")
@pytest.mark.parametrize("case", ESO_SCHEMA_CASES, ids=str)
def test_rendered_eso_objects_validate_against_the_controllers_crds(case, tier, render, evidence):
    rendered = render(case)
    findings = against_controller(tier.controller_schemas(), rendered.objects)
    assert_valid(findings, rendered.values_file)
    evidence(f"against the CRDs of {tier.controller_crds().release or tier.controller_crds().label}: "
             f"{summary(findings)}")
