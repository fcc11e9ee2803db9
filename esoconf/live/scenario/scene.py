"""``Scenario``: the verbs of one test (arrange, observe, fix, judge) over one platform, and the pytest
fixtures the suites import."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from esoconf.config import ConfigError

from ..cases import Auth, DocShapes, Fetch
from .arrange import Arranging
from .core import World
from .fix import Fixing
from .judge import Judging
from .traffic import Probing


class Scenario(Arranging, Fixing, Judging, Probing):
    """One test's namespace, names and verbs; the composite verbs of a whole documented path live here."""

    def synced(self, auth: Auth, fetch: Fetch, *, refresh: bool = False, mount: str | None = None) -> World:
        """The documented path end to end: store Ready, ExternalSecret synced, Secret holds the Vault data."""
        __tracebackhide__ = True
        world = self.arrange(auth, fetch, refresh=refresh, mount=mount)
        self.wait_store_ready(world.store)
        self.apply_es(world)
        self.wait_es_synced(world.es)
        self.assert_secret_data(world.target, world.expected)
        return world

    def wait_recovered(self, world: World) -> None:
        """After a fix (and a forced resync): store Ready, ExternalSecret synced, Secret holds the data."""
        __tracebackhide__ = True
        self.wait_store_ready(world.store, nudge=True)
        if self.kube.get(world.es.kind, world.es.name, world.es.namespace) is None:
            self.apply_es(world)
        self.wait_es_synced(world.es, nudge=True)
        self.assert_secret_data(world.target, world.expected)


# --------------------------------------------------------------------------------------------------
# pytest fixtures (imported by the suites: `from esoconf.live.scenario import doc_shapes, scenario`)


@pytest.fixture(scope="session")
def doc_shapes(conformance_config: Any) -> DocShapes:
    """The doc under test (--doc, or the one next to --chart), as the shapes the live cases use."""
    if not conformance_config.doc:
        pytest.fail(
            "the live tier follows the doc under test: pass --doc PATH/VAULT_INTEGRATION.md "
            "(or a --chart directory inside the package repo)",
            pytrace=False,
        )
    try:
        return DocShapes.load(conformance_config.doc)
    except ConfigError as exc:
        pytest.fail(str(exc), pytrace=False)


REWRITE_PROPERTY = "rewrite"  # user property (esoconf.report_plugin reads it): field: before → after


@pytest.fixture
def scenario(
    platform: Any, namespace: str, doc_shapes: DocShapes, request: pytest.FixtureRequest
) -> Iterator[Scenario]:
    """The verbs for one test, in its own namespace; cluster-scoped objects and Vault policies/roles it
    created are removed afterwards (the namespace fixture removes the rest). The rewrites made to the chart's
    rendered objects are recorded on the test (JUnit properties, the report's evidence)."""
    scene = Scenario(platform, namespace, doc_shapes)
    try:
        yield scene
    finally:
        for line in scene.rewrites:
            request.node.user_properties.append((REWRITE_PROPERTY, line))
        scene.cleanup()
