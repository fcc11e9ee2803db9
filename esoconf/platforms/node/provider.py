"""The node cluster as a cluster provider of the in-cluster platform (:mod:`esoconf.platforms.incluster.setup`):
make the cluster, load the images the charts render (built here, under their exact names), say what it can show
(no mesh), tear it all down.

Which binary runs under which chart image (all stand-ins, listed in the report):
the ESO controller built for the run under the chart's ESO image; OpenBao under the Vault image (an entrypoint
drops a leading ``vault``); kubectl + busybox (with a ``bash`` that runs ``sh``) under the wait-job hook's kubectl
image; busybox-static under any busybox image (the canary and the probes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import Config, ConfigError
from ...live.platform import Phases
from ..incluster.provider import NothingToHandOver
from ..local.processes import Supervisor
from .binaries import NodeBinaries
from .cluster import NodeCluster
from .imagebuild import VAULT_ENTRYPOINT, FileEntry, ImageRecipe, describe, pod_images, shell_files

if TYPE_CHECKING:  # pragma: no cover
    from ..incluster.inputs import Tools
    from ..incluster.provider import ClusterProvider


def chart_image_recipe(name: str, binaries: NodeBinaries) -> ImageRecipe:
    """The stand-in for one image a chart renders, chosen by its repository name; ConfigError when none fits."""
    repository = name.rpartition(":")[0] or name
    base = repository.rsplit("/", 1)[-1]
    eso_version = binaries.versions["eso"]
    if base == "external-secrets":
        return ImageRecipe(f"ESO controller {eso_version} built from Go modules (stand-in; the tag names the "
                           f"chart's release)", (FileEntry("bin/external-secrets", binaries.eso),),
                           entrypoint=("/bin/external-secrets",))
    if base in {"vault", "openbao"}:
        return ImageRecipe(f"OpenBao {binaries.versions['openbao']} (`bao` as /bin/vault, stand-in for Vault)",
                           (FileEntry("bin/vault", binaries.vault), FileEntry("bin/bao", link="vault"),
                            FileEntry("usr/local/bin/docker-entrypoint.sh", text=VAULT_ENTRYPOINT),
                            *shell_files()),
                           entrypoint=("/usr/local/bin/docker-entrypoint.sh",), cmd=("server", "-dev"),
                           env=("PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"))
    if base == "kubectl":
        return ImageRecipe("kubectl (the suite's) + busybox-static, /bin/bash runs sh (stand-in)",
                           (FileEntry("bin/kubectl", binaries.kubectl), *shell_files(with_bash=True)),
                           entrypoint=("/bin/kubectl",), env=("PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"))
    if base == "busybox":
        return ImageRecipe("Debian busybox-static with applet links (stand-in; probes use nc)", shell_files(),
                           cmd=("sh",))
    raise ConfigError(f"node platform: no local stand-in for image {name} (rendered by the chart): the node "
                      f"platform builds images for ESO, Vault, kubectl and busybox only")


@dataclass
class NodeProvider:
    """make the cluster, load images, say what it can show, tear down."""

    cluster: NodeCluster
    mesh: bool = False
    name: str = "node"
    loaded: dict[str, str] = field(default_factory=dict)
    local_images: bool = True
    keeps_releases: bool = False
    outlives_run: bool = False  # its processes die with the run: never kept
    context: str | None = None
    lives_in_worker: bool = True  # its daemons, namespaces and mounts are the process's that made it

    def up(self) -> Path:
        self.cluster.up()
        assert self.cluster.kubeconfig is not None
        return self.cluster.kubeconfig

    def load_images(self, names: Iterable[str]) -> list[str]:
        assert self.cluster.images is not None
        wanted = {name: chart_image_recipe(name, self.cluster.binaries) for name in sorted(set(names))
                  if name not in self.cluster.images.loaded}
        self.cluster.images.load(wanted)
        return describe(self.cluster.images.loaded)

    def load_rendered(self, objects: Iterable[Mapping[str, Any]], also: Iterable[str] = ()) -> list[str]:
        return self.load_images([*pod_images(objects), *also])

    def load_archives(self, directory: str | Path | None) -> None:
        raise ConfigError("--images airgap: the node platform builds every image here (no archives)")

    def install_controller_crds(self, helm: Path, kubectl: Path) -> str:
        """``--local-crds controller``: the CRD bundle of the controller's own release, before the charts (a
        chart's crds/ that lacks one the controller uses, e.g. GeneratorState, stops dataFrom syncs)."""
        from ..local.release import Tools, controller_crds, install_crds

        assert self.cluster.kubeconfig is not None
        version = self.cluster.binaries.versions["eso"]
        names = install_crds(Tools(helm, kubectl, self.cluster.kubeconfig), controller_crds(version), timeout=120)
        line = f"{len(names)} CRDs from ESO {version}'s bundle (--local-crds controller)"
        self.cluster.evidence.append(line)
        return line

    def controller_version(self) -> str | None:
        return self.cluster.binaries.versions["eso"]  # the build under the chart's image name

    def check_alive(self) -> None:
        if self.cluster.supervisor is not None:
            self.cluster.supervisor.check_alive()

    def teardown_plan(self) -> dict[str, Any] | None:
        return None  # the node goes with the process that made it

    def attach_plan(self) -> dict[str, Any] | None:
        """What another xdist worker attaches with (:class:`AttachedNode`); names no secret."""
        supervisor = self.cluster.supervisor
        processes = {name: [m.pid, str(m.log)] for name, m in supervisor.processes.items()} if supervisor else {}
        return {"kubeconfig": str(self.cluster.kubeconfig), "eso_version": self.controller_version(),
                "evidence": self.evidence(), "processes": processes,
                "run_dir": str(supervisor.run_dir) if supervisor else ""}

    def evidence(self) -> list[str]:
        images = describe(self.cluster.images.loaded) if self.cluster.images else []
        return [*self.cluster.evidence, *(f"image {line}" for line in images)]

    def down(self) -> list[str]:
        return self.cluster.down()


@dataclass
class AttachedNode(NothingToHandOver):
    """The node another xdist worker of the run built (:meth:`NodeProvider.attach_plan`), seen from this worker:
    its images and CRDs are in place, its processes are the builder's (watched here, never stopped here: the
    builder takes the node down once every other worker is done)."""

    kubeconfig: Path
    eso_version: str
    lines: list[str]
    supervisor: Supervisor
    name: str = "node"
    mesh: bool = False
    local_images: bool = True
    keeps_releases: bool = False
    outlives_run: bool = False
    context: str | None = None
    lives_in_worker: bool = False

    @classmethod
    def from_plan(cls, plan: Mapping[str, Any]) -> AttachedNode:
        supervisor = Supervisor(Path(plan["run_dir"]))
        supervisor.handed_over = {name: (int(pid), Path(log)) for name, (pid, log) in plan["processes"].items()}
        return cls(Path(plan["kubeconfig"]), str(plan["eso_version"]), list(plan["evidence"]), supervisor)

    def up(self) -> Path:
        return self.kubeconfig

    def load_rendered(self, objects: Iterable[Mapping[str, Any]], also: Iterable[str] = ()) -> list[str]:
        return ["loaded by the worker that built the node"]

    def load_archives(self, directory: str | Path | None) -> None:
        raise ConfigError("--images airgap: the node platform builds every image here (no archives)")

    def install_controller_crds(self, helm: Path, kubectl: Path) -> str:
        return "installed by the worker that built the node"

    def controller_version(self) -> str | None:
        return self.eso_version

    def check_alive(self) -> None:
        self.supervisor.check_alive()

    def evidence(self) -> list[str]:
        return list(self.lines)

    def down(self) -> list[str]:
        return []


def node_provider(config: Config, tools: Tools, run_id: str, phases: Phases, artifacts: Path) -> ClusterProvider:
    from ..local.binaries import cache_dir
    from ..local.doctor import eso_version_for
    from .binaries import find_node_binaries

    pinned = str(config.versions.get("local", {}).get("eso", {}).get("version", ""))
    binaries = find_node_binaries(cache_dir(), eso_version_for(config) or pinned, tools.kubectl)
    return NodeProvider(NodeCluster(binaries, run_id, phases=phases))
