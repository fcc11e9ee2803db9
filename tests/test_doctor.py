"""doctor: each check against a faked machine, the table, the tier verdicts and the exit code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from esoconf import config as cfg
from esoconf import doctor, doctor_cli
from esoconf.runner import CommandError, Result
from esoconf.tools import Tool, ToolError

GIB = doctor.GIB
DOCKER_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
)


@dataclass
class Machine:
    """A fake machine: what each probe answers. Defaults: everything the live tier needs."""

    tools: dict[str, str] = field(
        default_factory=lambda: {"helm": "v3.17.2", "kubectl": "v1.33.4", "kind": "v0.30.0"}
    )
    docker_cli: bool = True
    docker_engine: bool = True
    mem_available_gib: float = 16
    disk_free_gib: float = 100
    inotify: dict[str, int] = field(
        default_factory=lambda: {"max_user_watches": 524288, "max_user_instances": 512}
    )
    renders: bool = True
    cluster_up: bool = True
    daemonsets: str = "kindnet kube-proxy"  # `kubectl get daemonsets -A` names
    python: tuple[int, ...] = (3, 11, 7)
    commands: list[tuple[str, ...]] = field(default_factory=list)

    def find_tool(self, name: str, explicit: str | None = None) -> Tool:
        if name not in self.tools:
            raise ToolError(f"{name} v0.0.1+ is needed: not on PATH nor in .tools/bin. Fix: install {name}")
        major, minor, patch = (int(p) for p in self.tools[name].lstrip("v").split("."))
        return Tool(name, Path(f"/fake/{name}"), (major, minor, patch), "PATH")

    def run(self, cmd: Sequence[str], **_: object) -> Result:
        argv = tuple(cmd)
        self.commands.append(argv)
        verb = argv[1]
        if verb == "info" and not self.docker_engine:
            raise CommandError(argv, 1, f"Server:\n{DOCKER_DOWN}")
        if verb == "template" and not self.renders:
            raise CommandError(argv, 1, 'Error: template: x/templates/a.yaml:3: function "nope" not defined')
        if "version" in argv and "--kubeconfig" in argv and not self.cluster_up:
            raise CommandError(argv, 1, "The connection to the server 127.0.0.1:6443 was refused")
        if "daemonsets" in argv:
            return Result(argv, 0, self.daemonsets, "", 0.0)
        out = {
            "info": "28.2.2",
            "template": "kind: A\n---\nkind: B\n",
            "--kubeconfig": '{"serverVersion": {"gitVersion": "v1.33.4"}}',
        }.get(verb, "")
        return Result(argv, 0, out, "", 0.0)

    def read_text(self, path: str) -> str:
        if path == "/proc/meminfo":
            return f"MemTotal: 33554432 kB\nMemAvailable: {int(self.mem_available_gib * 1024 * 1024)} kB\n"
        return f"{self.inotify[Path(path).name]}\n"

    def probes(self) -> doctor.Probes:
        return doctor.Probes(
            run=self.run,
            which=lambda n: f"/usr/bin/{n}" if self.docker_cli else None,
            read_text=self.read_text,
            disk_free=lambda _: int(self.disk_free_gib * GIB),
            find_tool=self.find_tool,
            python=self.python,
            platform="linux",
        )


@pytest.fixture
def chart(tmp_path: Path) -> str:
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: external-secrets\nversion: 1.0.0\n")
    return str(tmp_path / "chart")


def results_for(machine: Machine, **settings: str) -> dict[str, doctor.CheckResult]:
    config = cfg.resolve(settings, env={})
    return {r.name: r for r in doctor.run_checks(doctor.Context(config, machine.probes()))}


def test_ready_machine_can_run_every_tier(chart: str) -> None:
    results = results_for(Machine(), chart=chart)

    assert [r.name for r in results.values() if r.status != "ok"] == []
    assert doctor.tier_verdicts(list(results.values())) == {"render": "", "e2e": ""}
    assert results["chart"].detail.endswith("renders (2 objects with default values)")


@pytest.mark.parametrize(
    ("machine", "check", "says", "fix"),
    [
        (
            Machine(docker_engine=False),
            "docker",
            f"docker CLI found, engine unreachable: {DOCKER_DOWN}",
            "start a Docker engine",
        ),
        (Machine(docker_cli=False), "docker", "no docker CLI on PATH", "install Docker Engine"),
        (
            Machine(tools={"helm": "v3.17.2", "kubectl": "v1.33.4"}),
            "kind",
            "kind v0.0.1+ is needed",
            "install kind",
        ),
        (
            Machine(tools={"helm": "v3.17.2", "kind": "v0.30.0"}),
            "kubectl",
            "kubectl v0.0.1+ is needed",
            "install kubectl",
        ),
        (Machine(mem_available_gib=3.5), "memory", "3.5 GiB available", "need 8 GiB"),
        (Machine(disk_free_gib=12), "disk", "12.0 GiB free", "free 20 GiB"),
        (
            Machine(inotify={"max_user_watches": 8192, "max_user_instances": 512}),
            "inotify",
            "max_user_watches=8192 < 524288",
            "sudo sysctl -w fs.inotify.max_user_watches=524288",
        ),
    ],
    ids=[
        "engine-unreachable",
        "no-docker-cli",
        "no-kind",
        "no-kubectl",
        "low-memory",
        "low-disk",
        "low-inotify",
    ],
)
def test_machine_problem_blocks_e2e_only(
    machine: Machine, check: str, says: str, fix: str, chart: str
) -> None:
    results = results_for(machine, chart=chart)

    failed = results[check]
    assert (failed.status, failed.tiers_blocked) == ("FAIL", ("e2e",))
    assert says in failed.detail and fix in failed.fix
    verdicts = doctor.tier_verdicts(list(results.values()))
    assert verdicts["render"] == "" and verdicts["e2e"].startswith(f"{check}: ")


@pytest.mark.parametrize(
    ("machine", "check"),
    [
        (Machine(tools={"kubectl": "v1.33.4", "kind": "v0.30.0"}), "helm"),
        (Machine(renders=False), "chart"),
        (Machine(python=(3, 9, 18)), "python"),
    ],
    ids=["no-helm", "chart-does-not-render", "python-too-old"],
)
def test_problem_blocks_render_and_e2e(machine: Machine, check: str, chart: str) -> None:
    results = results_for(machine, chart=chart)

    assert results[check].tiers_blocked == ("render", "e2e")
    assert all(why.startswith(f"{check}: ") for why in doctor.tier_verdicts(list(results.values())).values())


def test_chart_not_configured_is_a_warning_that_blocks_nothing() -> None:
    result = results_for(Machine())["chart"]

    assert (result.status, result.tiers_blocked) == ("warn", ())
    assert "--chart" in result.fix


def test_chart_pointing_nowhere_blocks_both_tiers(tmp_path: Path) -> None:
    result = results_for(Machine(), chart=str(tmp_path / "missing"))["chart"]

    assert result.tiers_blocked == ("render", "e2e")
    assert "no such file or directory" in result.detail


def test_existing_cluster_needs_no_docker_kind_or_local_capacity(tmp_path: Path, chart: str) -> None:
    machine = Machine(
        docker_engine=False,
        tools={"helm": "v3.17.2", "kubectl": "v1.33.4"},
        mem_available_gib=1,
        inotify={"max_user_watches": 1, "max_user_instances": 1},
    )
    results = results_for(machine, chart=chart, kubeconfig=str(tmp_path / "kubeconfig"), kube_context="prod")

    assert [r.name for r in results.values() if not r.ok] == []
    assert results["cluster"].detail == "API server reachable (v1.33.4)"
    assert next(c for c in machine.commands if "--kubeconfig" in c)[4:6] == ("--context", "prod")


def test_existing_cluster_on_cilium_is_warned_what_the_cni_must_do(tmp_path: Path) -> None:
    """ESO's only egress to DNS, istiod and the API server is ipBlock 0.0.0.0/0: Cilium never applies it to
    pod IPs, so ESO's sidecar never gets ready and the chart would be blamed."""
    results = results_for(Machine(daemonsets="cilium kube-proxy"), kubeconfig=str(tmp_path / "kubeconfig"))
    cni = results["cni"]
    assert cni.status == "warn" and cni.detail.startswith("Cilium found: the CNI must enforce NetworkPolicy")
    assert "ipBlock" in cni.detail and "networkPolicies.additionalPolicies" in cni.fix
    assert results_for(Machine(), kubeconfig=str(tmp_path / "kubeconfig"))["cni"].ok


def test_unreachable_existing_cluster_blocks_e2e(tmp_path: Path) -> None:
    results = results_for(Machine(cluster_up=False), kubeconfig=str(tmp_path / "kubeconfig"))

    assert results["cluster"].tiers_blocked == ("e2e",)
    assert "connection to the server 127.0.0.1:6443 was refused" in results["cluster"].detail


def test_main_prints_table_and_tier_lines_and_exits_1_when_e2e_cannot_run(
    chart: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ESOCONF_CHART", raising=False)

    code = doctor_cli.main(["--chart", chart], probes=Machine(docker_engine=False).probes())

    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert [cell.strip() for cell in out[0].split(" | ")] == ["check", "status", "detail", "fix"]
    docker_row = next(line for line in out if line.startswith("docker"))
    assert [cell.strip() for cell in docker_row.split(" | ")][:2] == ["docker", "FAIL"]
    assert "start a Docker engine" in docker_row
    assert out[-5:-3] == [
        "render: can run",
        f"e2e: cannot run here: docker: docker CLI found, engine unreachable: {DOCKER_DOWN}",
    ]
    assert [line.split(":")[0] for line in out[-3:]] == ["local", "vault", "node"]  # the Docker-free tiers' lines


def test_main_exits_0_when_e2e_can_run(chart: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor_cli.main(["--chart", chart], probes=Machine().probes()) == 0
    assert capsys.readouterr().out.splitlines()[-5:-3] == ["render: can run", "e2e: can run"]


def test_local_rows_say_what_the_local_platform_and_vault_tier_lack(monkeypatch: pytest.MonkeyPatch) -> None:
    from esoconf.platforms.local import binaries
    from esoconf.platforms.local import doctor as local_doctor

    def no_vault(*args: object, **kwargs: object) -> None:
        raise ToolError("no Vault server binary: openbao v2.7.2 (not in /cache). Fix: install it")

    monkeypatch.setattr(binaries, "find_vault_server", no_vault)
    monkeypatch.setattr(local_doctor, "local_blockers", lambda config: "local platform binaries missing: etcd")
    text, _ = doctor_cli.report(doctor.Context(cfg.resolve({}, env={}), Machine(docker_engine=False).probes()))
    rows = {line.split(" | ")[0].strip(): line for line in text.splitlines() if " | " in line}
    assert "FAIL" in rows["vault"] and "install-tools --if-missing --set local openbao" in rows["vault"]
    assert "FAIL" in rows["local"] and "etcd" in rows["local"]
    assert text.splitlines()[-2].startswith("vault: cannot run here: vault: no Vault server binary")


def test_main_bad_setting_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor_cli.main(["--profile", "nope"], probes=Machine().probes()) == 3
    assert capsys.readouterr().err.startswith("ERROR: doctor: unknown profile 'nope': choose one of")


def test_e2e_blockers_is_the_e2e_verdict(chart: str) -> None:
    config = cfg.resolve({"chart": chart}, env={})

    assert doctor.e2e_blockers(config, Machine().probes()) == ""
    assert doctor.e2e_blockers(config, replace(Machine(), disk_free_gib=1).probes()).startswith(
        "disk: 1.0 GiB"
    )


def test_cluster_line_fails_when_kind_cannot_create_one() -> None:
    machine = Machine()
    del machine.tools["kind"]
    results = results_for(machine)
    assert results["cluster"].status == "FAIL" and "kind (which would create one) is not usable" in \
        results["cluster"].detail


def test_kubectl_too_far_from_the_cluster_is_a_warning(tmp_path: Path) -> None:
    machine = Machine()
    machine.tools["kubectl"] = "v1.37.1"
    results = results_for(machine, kubeconfig=str(tmp_path / "kubeconfig"))
    assert results["cluster"].status == "warn"
    assert "kubectl v1.37.1 is more than one minor version from Kubernetes v1.33.4" in results["cluster"].detail


@pytest.mark.parametrize(("kubectl", "cluster", "warns"), [
    ((1, 33, 4), "v1.34.0", False), ((1, 37, 1), "v1.33.4", True), ((1, 32, 4), "v1.34.0", True),
    ((1, 33, 0), "version unknown", False), (None, "v1.33.4", False)])
def test_kubectl_skew(kubectl: tuple[int, int, int] | None, cluster: str, warns: bool) -> None:
    from esoconf.tools import kubectl_skew

    assert bool(kubectl_skew(kubectl, cluster)) == warns


def test_every_line_fits_200_characters_even_when_everything_fails() -> None:
    """The issue saw doctor lines of ~980 characters: details and fixes wrap, tier lines are cut naming the table."""
    machine = replace(Machine(docker_engine=False), disk_free_gib=1)
    del machine.tools["kind"]
    text, code = doctor_cli.report(doctor.Context(cfg.resolve({}, env={}), machine.probes()))

    assert code == 1
    assert max(len(line) for line in text.splitlines()) <= 200, max(text.splitlines(), key=len)
    assert any(line.startswith("e2e: cannot run here: docker: ") for line in text.splitlines())
