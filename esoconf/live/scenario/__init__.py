"""The verbs live tests are written in, split by what they do; ``Scenario`` composes them.

- ``manifests``  what the doc has the user make (token Secret, AuthorizationPolicy, a second install's values);
                 the chart's own stores and ExternalSecrets are rendered, never built (:mod:`esoconf.eso_objects`)
- ``core``       what every verb shares: the platform (only through
                 :class:`~esoconf.live.platform.LivePlatform`), names, applying, cleanup, ``World``
- ``arrange``    seed Vault, render the chart with the case's values and apply its store, broken as a case says
- ``observe``    waits and version-aware expectations, negative holds, the doc's own commands, the mesh
- ``fix``        the documented fixes and the shared-state changes of the serial cases
- ``judge``      where a case ended, what the target Secret holds, the upgrade sampler
- ``scene``      ``Scenario`` and the pytest fixtures (``doc_shapes``, ``scenario``) the suites import

Everything is applied through ``platform.kube``; Vault is seeded through ``platform.vault``. Waits use
:mod:`esoconf.wait` with the named timeouts; negative assertions hold for a window.
"""

from esoconf.eso_objects import CSS, ES, SS, Ref

from .arrange import Arranging
from .core import ScenarioCore, World
from .fix import Fixing, SharedChange, previous_chart
from .judge import CaseOutcome, Judging, Sample, digest, judge_samples, sample_while
from .observe import Observation, Observing, has_sidecar
from .scene import Scenario, doc_shapes, scenario

__all__ = [
    "CSS",
    "ES",
    "SS",
    "Arranging",
    "CaseOutcome",
    "Fixing",
    "Judging",
    "Observation",
    "Observing",
    "Ref",
    "Sample",
    "Scenario",
    "ScenarioCore",
    "SharedChange",
    "World",
    "digest",
    "doc_shapes",
    "has_sidecar",
    "judge_samples",
    "previous_chart",
    "sample_while",
    "scenario",
]
