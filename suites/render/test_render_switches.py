"""The doc states its contracts without conditions; the package renders differently with the umbrella's switches.

The unconditional claims (NET-1, LBL-1, TOK-*, K8S-*, ES-*) run on every setting in ``SWITCHES``
(render_cases.py); this file checks that the table leaves out no umbrella value the package reads.
"""

from __future__ import annotations

import pytest
from render_cases import DOC_TOKEN_DATA, SWITCHES, UMBRELLA_FLIPS

from esoconf.render.contracts import rendering_changes

pytestmark = pytest.mark.render


@pytest.mark.claim("SW-1")
@pytest.mark.parametrize("flip", UMBRELLA_FLIPS, ids=str)
def test_umbrella_value_outside_the_switch_table_changes_nothing(flip, render, evidence):
    changes = rendering_changes(render(DOC_TOKEN_DATA), render(flip.case))
    assert not changes, f"the package reads umbrella value {'.'.join(flip.path)} ({flip} changes " \
                        f"{', '.join(changes[:4])}) but no variation in SWITCHES (suites/render/render_cases.py) " \
                        f"sets it: the unconditional claims are not checked with it"
    evidence(f"{flip}: same objects as Big Bang defaults; switches covered: {', '.join(map(str, SWITCHES))}")
