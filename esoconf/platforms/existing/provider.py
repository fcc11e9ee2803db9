"""An existing cluster as a cluster provider of the in-cluster platform (:mod:`esoconf.platforms.incluster.setup`):
reached through ``--kubeconfig`` (and ``--kube-context``), never created or deleted here; at the end the run
uninstalls only the releases it added (unless ``--keep-cluster``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...config import Config, ConfigError
from ...live.platform import Phases
from ..incluster.provider import ClusterProvider, PulledImages

if TYPE_CHECKING:  # pragma: no cover
    from ..incluster.inputs import Tools


@dataclass
class ExistingProvider(PulledImages):
    kubeconfig: Path
    context: str | None = None
    name: str = "existing"
    keeps_releases: bool = False  # undo only what this run added
    outlives_run: bool = True

    def up(self) -> Path:
        return self.kubeconfig

    def load_archives(self, directory: str | Path | None) -> None:
        raise ConfigError("--images airgap loads tarballs into kind; with --kubeconfig preload the images")

    def down(self) -> list[str]:
        return []  # never deleted here


def existing_provider(config: Config, tools: Tools, run_id: str, phases: Phases, artifacts: Path
                      ) -> ClusterProvider:
    return ExistingProvider(Path(str(config.kubeconfig)), config.kube_context)
