"""The cluster provider: what the in-cluster platform (:mod:`.setup`) asks of whoever makes or reaches the cluster
(``kind``, ``node``, ``existing``): bring it up, load images, say what it can show, tear it down.

Setup never names a provider: it asks the registry (:mod:`esoconf.platforms`) for the one the configuration
chooses (:func:`provider_name`) and talks to it only through :class:`ClusterProvider`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from ...config import Config
    from ...live.platform import Phases
    from .inputs import Tools


class ClusterProvider(Protocol):
    """Make or reach a cluster, load images, say what it can show, tear down."""

    name: str  # kind, node, existing
    mesh: bool  # Istio can be installed (kind, existing); node has no Istio data plane
    local_images: bool  # every image the charts render is built here and loaded under its name (node)
    keeps_releases: bool  # the releases stay with the cluster at the end (kind: deleted with it, or kept)
    outlives_run: bool  # the cluster can outlive the run (--keep-on-failure keeps it); node: never
    context: str | None  # the kubeconfig context (existing: --kube-context)
    # its processes are the xdist worker's that made it (node): that worker takes it down only when every other
    # worker of the run is done (esoconf.live.workers); the others attach with its attach_plan()
    lives_in_worker: bool

    def up(self) -> Path:
        """Make or reach the cluster; its kubeconfig."""
        ...

    def load_rendered(self, objects: Iterable[Mapping[str, Any]], also: Iterable[str] = ()) -> list[str]:
        """Load every image the rendered objects' pods name, and ``also``; report lines (name -> what runs)."""
        ...

    def load_archives(self, directory: str | Path | None) -> None:
        """``--images airgap``: the image tarballs in ``directory``."""
        ...

    def install_controller_crds(self, helm: Path, kubectl: Path) -> str:
        """``--local-crds controller`` (a provider with ``local_images``): the controller release's CRD bundle."""
        ...

    def controller_version(self) -> str | None:
        """The ESO controller that runs when it is not the chart's image (node: the build); None: the chart's."""
        ...

    def check_alive(self) -> None:
        """Raise when a process the provider runs died (node); nothing otherwise."""
        ...

    def evidence(self) -> list[str]:
        """What really ran (the report's environment section)."""
        ...

    def down(self) -> list[str]:
        """Undo what the provider made (a kind cluster only when this run created it); what is left behind."""
        ...

    def teardown_plan(self) -> dict[str, Any] | None:
        """What the last process of an xdist run must undo (JSON-able), None when nothing."""
        ...

    def attach_plan(self) -> dict[str, Any] | None:
        """What another xdist worker of the run attaches with (JSON-able, no secret; the registry entry's
        ``attach`` reads it); None: the others reach the cluster as this one did."""
        ...


# (config, tools, run id, phases, artifacts folder) -> the provider, not yet up
ProviderFactory = Callable[["Config", "Tools", str, "Phases", Path], ClusterProvider]


def provider_name(config: Config) -> str:
    """The provider the configuration chooses: node, an existing cluster (``--kubeconfig``), else kind."""
    if config.platform == "node":
        return "node"
    return "existing" if config.kubeconfig else "kind"


class NothingToHandOver:
    """A provider with no plan for the xdist controller or for other workers (they reach the cluster themselves)."""

    def teardown_plan(self) -> dict[str, Any] | None:
        return None

    def attach_plan(self) -> dict[str, Any] | None:
        return None


class PulledImages(NothingToHandOver):
    """Defaults of a provider whose cluster pulls the images the charts name (kind, existing)."""

    mesh = True
    local_images = False
    lives_in_worker = False
    context: str | None = None

    def load_rendered(self, objects: Iterable[Mapping[str, Any]], also: Iterable[str] = ()) -> list[str]:
        return []  # the cluster pulls them

    def install_controller_crds(self, helm: Path, kubectl: Path) -> str:
        raise NotImplementedError("only a provider that builds its images installs the controller's CRDs")

    def controller_version(self) -> str | None:
        return None

    def check_alive(self) -> None:
        return None

    def evidence(self) -> list[str]:
        return []

