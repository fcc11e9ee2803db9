"""kind as a cluster provider of the in-cluster platform (:mod:`esoconf.platforms.incluster.setup`): a kind cluster
created or reused by name (:class:`.cluster.KindEnvironment`); the images are pulled by the cluster, or loaded from
tarballs (``--images airgap``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import Config, node_image_for
from ...live.platform import Phases
from ...tools import find_tool
from ..incluster.images import image_archives
from ..incluster.provider import ClusterProvider, PulledImages
from .cluster import KindEnvironment

if TYPE_CHECKING:  # pragma: no cover
    from ..incluster.inputs import Tools


@dataclass
class KindProvider(PulledImages):
    cluster: KindEnvironment
    phases: Phases
    name: str = "kind"
    keeps_releases: bool = True  # deleted with the cluster, or kept with it for reuse
    outlives_run: bool = True

    def up(self) -> Path:
        self.phases.note("cluster", self.cluster.up().reason)
        return self.cluster.kubeconfig

    def load_archives(self, directory: str | Path | None) -> None:
        for archive in image_archives(directory):
            self.cluster.load_archive(archive)

    def down(self) -> list[str]:
        self.cluster.down()  # only a cluster this run created and nobody asked to keep
        return []

    def teardown_plan(self) -> dict[str, Any] | None:
        return self.cluster.teardown_plan()


def kind_provider(config: Config, tools: Tools, run_id: str, phases: Phases, artifacts: Path) -> ClusterProvider:
    return KindProvider(KindEnvironment(
        config.cluster_name,
        find_tool("kind", config.kind).path,
        tools.kubectl,
        node_image_for(config.versions, config.kubernetes_version),
        artifacts / "kind",
        keep_cluster=bool(config.keep_cluster),
    ), phases)
