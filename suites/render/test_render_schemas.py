"""Every rendered object is what the API server would accept (Kubernetes schemas and the chart's CRDs)."""

from __future__ import annotations

import pytest
from render_cases import SCHEMA_CASES

from esoconf.render.schema import assert_has_schema, assert_valid, summary

pytestmark = pytest.mark.render


@pytest.mark.claim("SCH-1")
@pytest.mark.parametrize("case", SCHEMA_CASES, ids=str)
def test_every_rendered_object_validates_strictly(case, tier, render, evidence):
    rendered = render(case)
    schemas = tier.schemas(case.package)
    schemas.add_crds(rendered.objects)
    findings = schemas.check_all(rendered.objects)
    assert_valid(findings, rendered.values_file)
    evidence(summary(findings))


@pytest.mark.claim("SCH-2")
@pytest.mark.parametrize("case", SCHEMA_CASES, ids=str)
def test_every_rendered_object_has_a_schema(case, tier, render, evidence):
    rendered = render(case)
    findings = tier.schemas(case.package).check_all(rendered.objects)
    assert_has_schema(findings)
    evidence(summary(findings))
