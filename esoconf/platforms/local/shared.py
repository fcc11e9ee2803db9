"""One local platform for every pytest-xdist worker of a run.

The first worker builds the platform and hands its processes over to the run (:meth:`Supervisor.hand_over`);
it writes an attach plan next to the workers' temp folders. The other workers attach: they connect to the same
API server and Vault, read the run's seeded values back, and run their own processes (a second ESO install)
under a supervisor of their own, registered in the same run folder. The xdist controller stops everything
registered there and removes the private run folder once every worker is done (:func:`teardown`); the run
folder's watchdog does it when the controller was killed. The Vault root token stays in a 0600 file in the
private run folder; the plan only names that file.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from esoconf.cleanup import RunFolder
from esoconf.redact import REDACT
from esoconf.wait import Timeouts

from ...live.kube import Kube
from ...live.platform import Phases, attach_seed
from ...live.vault import VaultSeeder
from .kubeapi import ControlPlane
from .pki import ClusterPki
from .platform import LocalPlatform
from .processes import Supervisor
from .release import LocalRelease, Tools
from .vault_server import VaultServerInfo, register_dev_secrets

PLAN_GLOB = "esoconf-local-*.json"


def plan_name(run_id: str) -> str:
    return PLAN_GLOB.replace("*", run_id)


def hand_over(local: LocalPlatform) -> dict[str, Any]:
    """Leave the platform's processes to the run; the plan other workers attach with."""
    run_dir = local.supervisor.run_dir
    token_file = run_dir / "vault-root-token"
    token_file.write_text(local.vault_info.root_token, encoding="utf-8")
    token_file.chmod(0o600)
    processes = local.supervisor.hand_over()
    pki = local.plane.pki
    return {
        "run_dir": str(run_dir),
        "processes": {name: [pid, str(log)] for name, (pid, log) in processes.items()},
        "api_server": local.plane.url,
        "etcd": local.plane.etcd_url,
        "admin_kubeconfig": str(local.plane.admin_kubeconfig),
        "pki": {name: str(getattr(pki, name)) for name in ClusterPki.__dataclass_fields__},
        "helm": str(local.tools.helm),
        "kubectl": str(local.tools.kubectl),
        "helm_env": dict(local.tools.helm_env),
        "vault": {"url": local.vault_info.url, "product": local.vault_info.product,
                  "version": local.vault_info.version, "token_file": str(token_file)},
        "eso": {"binary": str(local.eso_binary), "version": local.eso_version, "namespace": local.eso_namespace,
                "release": local.eso_release, "chart": str(local.primary.chart), "values": local.primary.values},
        "evidence": local.evidence,
        "controller_skew": local.controller_skew,
        "phases": local.phases.durations if local.phases else {},
    }


def attach(plan: dict[str, Any], run_id: str, timeouts: Timeouts) -> LocalPlatform:
    """The platform another worker built, seen from this worker."""
    import hvac

    run_dir = Path(plan["run_dir"])
    supervisor = Supervisor(run_dir)
    supervisor.handed_over = {name: (int(pid), Path(log)) for name, (pid, log) in plan["processes"].items()}
    pki = ClusterPki(**{name: Path(path) for name, path in plan["pki"].items()})
    plane = ControlPlane(plan["api_server"], pki, Path(plan["admin_kubeconfig"]), plan["etcd"])
    tools = Tools(Path(plan["helm"]), Path(plan["kubectl"]), plane.admin_kubeconfig, plan["helm_env"])
    token = Path(plan["vault"]["token_file"]).read_text(encoding="utf-8")
    REDACT.add(token)
    for _, log in supervisor.handed_over.values():  # the dev server's unseal key, before any log is copied
        supervisor.before_copy.append(functools.partial(register_dev_secrets, log))
    vault_info = VaultServerInfo(plan["vault"]["url"], plan["vault"]["product"], plan["vault"]["version"], token)
    kube = Kube.connect(str(plane.admin_kubeconfig), None, tools.kubectl_argv(), timeouts)
    seeder = VaultSeeder(hvac.Client(url=vault_info.url, token=token))
    eso = plan["eso"]
    primary = LocalRelease(eso["release"], eso["namespace"], Path(eso["chart"]), eso["values"], ())
    return LocalPlatform.assemble(
        kube=kube, seeder=seeder, vault_info=vault_info, primary=primary, eso_version=eso["version"], run_id=run_id,
        timeouts=timeouts, supervisor=supervisor, plane=plane, tools=tools, eso_binary=Path(eso["binary"]),
        seed=attach_seed(seeder, kube), phases=Phases(durations=dict(plan["phases"])), evidence=list(plan["evidence"]),
        controller_skew=str(plan.get("controller_skew") or ""),
    )


def teardown(plan: dict[str, Any]) -> list[str]:
    """Stop every process registered in the run folder (the handed-over ones and any a worker left) and remove
    the folder; returns what had to be stopped."""
    return [resource.label() for resource in RunFolder(Path(plan["run_dir"])).remove()]


def write_plan(path: Path, plan: dict[str, Any]) -> None:
    path.write_text(json.dumps(plan), encoding="utf-8")
    path.chmod(0o600)
