"""`doctor`'s checks: can this machine run each tier? (The command, with each registered platform's row, is
:mod:`esoconf.doctor_cli`.)

Each check is a function ``check_x(ctx) -> CheckResult``; ``ctx`` carries the effective configuration
and the probes (``run``, ``which``, file readers, ...) so tests can swap in fakes. A failed check
names the tiers it blocks; a failed check that blocks no tier is a warning.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import config as cfg
from . import runner
from .tools import Tool, find_tool, helm_home_env, kubectl_skew

TIERS = ("render", "e2e")
LOCAL_TIERS = ("local", "vault", "node")  # the Docker-free live tiers: their own checks and verdict lines
USAGE = 3  # as the suite's usage error (esoconf.report.Exit.USAGE)
PYTHON_MINIMUM = (3, 11)
GIB = 1024**3
E2E_MEMORY_GIB = 8
E2E_DISK_GIB = 20
# kind nodes run many inotify users; too-low limits make pods fail with "too many open files"
INOTIFY_MINIMUMS = {"max_user_watches": 524288, "max_user_instances": 512}
LIVE_WITH_KIND = ("e2e",)  # tiers blocked by machine limits only when kind creates the cluster


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    tiers_blocked: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "FAIL" if self.tiers_blocked else "warn"


@dataclass
class Probes:
    """Everything the checks observe about the machine (tests pass fakes)."""

    run: Callable[..., runner.Result] = runner.run
    which: Callable[[str], str | None] = shutil.which
    read_text: Callable[[str], str] = lambda path: Path(path).read_text(encoding="utf-8")
    disk_free: Callable[[str], int] = lambda path: shutil.disk_usage(path).free
    find_tool: Callable[..., Tool] = find_tool
    python: tuple[int, ...] = tuple(sys.version_info[:3])
    platform: str = sys.platform


@dataclass
class Context:
    config: cfg.Config
    probes: Probes = field(default_factory=Probes)

    @property
    def uses_kind(self) -> bool:
        """An existing cluster (--kubeconfig) needs neither kind nor Docker nor local capacity."""
        return not self.config.kubeconfig


def result_row(name: str, problem: str | None, detail_ok: str, fix: str, blocks: Iterable[str]) -> CheckResult:
    if problem is None:
        return CheckResult(name, True, detail_ok)
    return CheckResult(name, False, problem, fix, tuple(blocks))


def check_python(ctx: Context) -> CheckResult:
    version = ".".join(map(str, ctx.probes.python))
    problem = None if tuple(ctx.probes.python[:2]) >= PYTHON_MINIMUM else f"Python {version} is too old"
    return result_row(
        "python",
        problem,
        f"Python {version}",
        f"use Python {'.'.join(map(str, PYTHON_MINIMUM))}+ (tox picks it from PATH)",
        TIERS,
    )


def _tool_check(name: str, blocks: tuple[str, ...]) -> Callable[[Context], CheckResult]:
    def check(ctx: Context) -> CheckResult:
        try:
            tool = ctx.probes.find_tool(name, ctx.config.values.get(name))
        except cfg.ConfigError as exc:  # ToolError: one line that already says how to fix it
            text = str(exc)
            problem, _, fix = text.partition(" Fix: ")
            return CheckResult(name, False, problem.rstrip("."), fix or text, blocks)
        return CheckResult(name, True, f"{tool.version_str} at {tool.path} ({tool.source})")

    check.__name__ = f"check_{name}"
    return check


check_helm = _tool_check("helm", TIERS)
check_kubectl = _tool_check("kubectl", ("e2e",))


def check_kind(ctx: Context) -> CheckResult:
    if not ctx.uses_kind:
        return CheckResult("kind", True, "not needed: --kubeconfig names an existing cluster")
    return _tool_check("kind", LIVE_WITH_KIND)(ctx)


def check_docker(ctx: Context) -> CheckResult:
    if not ctx.uses_kind:
        return CheckResult("docker", True, "not needed: --kubeconfig names an existing cluster")
    return check_docker_engine(ctx)


def check_docker_engine(ctx: Context, blocks: tuple[str, ...] = LIVE_WITH_KIND) -> CheckResult:
    """A reachable Docker engine (kind, and the quick `vault` tier's testcontainers, need one)."""
    fix = (
        "start a Docker engine (e.g. `sudo systemctl start docker`, or set DOCKER_HOST), or run against "
        "an existing cluster with --kubeconfig"
    )
    cli = ctx.probes.which("docker")
    if cli is None:
        return CheckResult(
            "docker",
            False,
            "no docker CLI on PATH (kind needs a Docker engine)",
            "install Docker Engine (https://docs.docker.com/engine/install/) " + fix[len("start") :],
            blocks,
        )
    out = _probe(
        ctx,
        CheckResult("docker", False, "docker CLI found, engine unreachable", fix, blocks),
        [cli, "info", "--format", "{{.ServerVersion}}"],
        timeout=15,
    )
    if isinstance(out, CheckResult):
        return out
    return CheckResult("docker", True, f"engine {out.stdout.strip() or '?'} reachable")


def _probe(ctx: Context, failed: CheckResult, cmd: list[str], **kwargs: Any) -> runner.Result | CheckResult:
    """Run a probe command; on failure, ``failed`` with the last line of stderr appended to its detail."""
    try:
        return ctx.probes.run(cmd, **kwargs)
    except runner.CommandError as exc:
        lines = [line.strip() for line in (exc.stderr_tail or "").splitlines() if line.strip()]
        reason = lines[-1] if lines else exc.note or f"exit code {exc.returncode}"
        return replace(failed, detail=f"{failed.detail}: {reason}")


def check_memory(ctx: Context) -> CheckResult:
    if not ctx.uses_kind:
        return CheckResult("memory", True, "not checked: existing cluster")
    try:
        meminfo = ctx.probes.read_text("/proc/meminfo")
    except OSError:
        return CheckResult(
            "memory",
            False,
            "cannot read /proc/meminfo; check by hand",
            f"make sure {E2E_MEMORY_GIB} GiB are free for kind",
        )
    fields = {
        k.strip(): v.split()[0] for k, _, v in (line.partition(":") for line in meminfo.splitlines()) if v
    }
    available = int(fields.get("MemAvailable", fields.get("MemFree", "0"))) * 1024
    problem = None if available >= E2E_MEMORY_GIB * GIB else f"{available / GIB:.1f} GiB available"
    return result_row(
        "memory",
        problem,
        f"{available / GIB:.1f} GiB available",
        f"free memory or use a bigger machine: kind + Istio + Vault + ESO need {E2E_MEMORY_GIB} GiB",
        LIVE_WITH_KIND,
    )


def check_disk(ctx: Context) -> CheckResult:
    if not ctx.uses_kind:
        return CheckResult("disk", True, "not checked: existing cluster")
    where = "/var/lib/docker" if os.path.isdir("/var/lib/docker") else str(cfg.PROJECT_ROOT)
    try:
        free = ctx.probes.disk_free(where)
    except OSError as exc:
        return CheckResult("disk", False, f"cannot stat {where}: {exc.strerror}", "check free disk by hand")
    problem = None if free >= E2E_DISK_GIB * GIB else f"{free / GIB:.1f} GiB free on {where}"
    return result_row(
        "disk",
        problem,
        f"{free / GIB:.0f} GiB free on {where}",
        f"free {E2E_DISK_GIB} GiB for node and workload images (`docker system prune`)",
        LIVE_WITH_KIND,
    )


def check_inotify(ctx: Context) -> CheckResult:
    if not ctx.probes.platform.startswith("linux"):
        return CheckResult("inotify", True, f"not Linux ({ctx.probes.platform}): Docker runs in a VM")
    if not ctx.uses_kind:
        return CheckResult("inotify", True, "not checked: existing cluster")
    low: list[str] = []
    seen: list[str] = []
    for key, minimum in INOTIFY_MINIMUMS.items():
        try:
            value = int(ctx.probes.read_text(f"/proc/sys/fs/inotify/{key}").strip())
        except (OSError, ValueError):
            low.append(f"{key} unreadable")
            continue
        seen.append(f"{key}={value}")
        if value < minimum:
            low.append(f"{key}={value} < {minimum}")
    settings = " ".join(f"fs.inotify.{k}={v}" for k, v in INOTIFY_MINIMUMS.items())
    problem = f"{', '.join(low)} (kind pods fail with 'too many open files')" if low else None
    return result_row("inotify", problem, ", ".join(seen), f"sudo sysctl -w {settings}", LIVE_WITH_KIND)


def helm_env() -> dict[str, str]:
    """helm must not read or write the user's helm config: private cache/config/data under the temp dir."""
    return helm_home_env(Path(tempfile.gettempdir()) / "esoconf-helm")


def check_chart(ctx: Context) -> CheckResult:
    chart = ctx.config.chart
    fix = "pass --chart <chart dir|.tgz> (or set ESOCONF_CHART) when you run a tier"
    if not chart:
        return CheckResult("chart", False, "no chart configured yet (--chart / ESOCONF_CHART)", fix)
    try:
        cfg.check_chart_ref(chart, ctx.config.chart_version)
    except cfg.ConfigError as exc:
        return CheckResult("chart", False, str(exc), fix, TIERS)
    if cfg.is_remote_chart(chart):
        return CheckResult(
            "chart", True, f"{chart}@{ctx.config.chart_version} (remote: not fetched by doctor)"
        )
    try:
        helm = ctx.probes.find_tool("helm", ctx.config.values.get("helm"))
    except cfg.ConfigError:
        return CheckResult(
            "chart", False, f"{chart} exists; not rendered (no usable helm)", "see the helm line"
        )
    fix = "fix the chart, or point --chart at a chart that renders with its default values"
    out = _probe(
        ctx,
        CheckResult("chart", False, f"helm template {chart} fails", fix, TIERS),
        [str(helm.path), "template", "doctor", chart],
        env=helm_env(),
        timeout=120,
    )
    if isinstance(out, CheckResult):
        return out
    documents = sum(1 for line in out.stdout.splitlines() if line.startswith("kind:"))
    return CheckResult("chart", True, f"{chart} renders ({documents} objects with default values)")


def check_cluster(ctx: Context) -> CheckResult:
    if ctx.uses_kind:
        try:
            ctx.probes.find_tool("kind", ctx.config.values.get("kind"))
        except cfg.ConfigError:
            return CheckResult("cluster", False, "none: no --kubeconfig, and kind (which would create one) is not "
                               "usable", "see the kind line, or pass --kubeconfig", ("e2e",))
        return CheckResult("cluster", True, f"kind creates one (no --kubeconfig; Kubernetes "
                                            f"{ctx.config.kubernetes_version})")
    try:
        kubectl = ctx.probes.find_tool("kubectl", ctx.config.values.get("kubectl"))
    except cfg.ConfigError:
        return CheckResult(
            "cluster", False, "not checked (no usable kubectl)", "see the kubectl line", ("e2e",)
        )
    cmd = _kubectl_cmd(ctx, kubectl.path)
    fix = "check --kubeconfig/--kube-context (`kubectl cluster-info`)"
    out = _probe(
        ctx,
        CheckResult("cluster", False, "cannot reach the API server", fix, ("e2e",)),
        [*cmd, "version", "-o", "json"],
        timeout=30,
    )
    if isinstance(out, CheckResult):
        return out
    try:
        server = json.loads(out.stdout)["serverVersion"]["gitVersion"]
    except (ValueError, KeyError, TypeError):
        server = "version unknown"
    skew = kubectl_skew(kubectl.version, server)
    if skew:  # works, mostly: a warning, not a blocker
        return CheckResult("cluster", False, f"API server reachable ({server}); {skew}",
                           "`python scripts/install-tools kubectl` (the pinned one)")
    return CheckResult("cluster", True, f"API server reachable ({server})")


def _kubectl_cmd(ctx: Context, kubectl: Path) -> list[str]:
    cmd = [str(kubectl), "--kubeconfig", ctx.config.kubeconfig, "--request-timeout=10s"]
    if ctx.config.kube_context:
        cmd += ["--context", ctx.config.kube_context]
    return cmd


# The ESO package's NetworkPolicies let ESO reach DNS, the API server and istiod only through
# `allow-egress-external` (ipBlock 0.0.0.0/0; its `allow-istiod-egress` needs a namespace label the suite
# sets on istio-system): the CNI must enforce NetworkPolicy AND match ipBlock against pod and API server IPs
CNI_REQUIREMENT = (
    "the CNI must enforce NetworkPolicy and match ipBlock rules against pod IPs and the API server "
    "(kindnet, Calico do; Cilium does not)"
)
CNI_FIX = (
    "use such a CNI, or give the ESO package egress policies for kube-dns, the API server and istiod "
    "(networkPolicies.additionalPolicies)"
)


def check_cni(ctx: Context) -> CheckResult:
    """Existing cluster: warn about a CNI that would make ESO's sidecar never ready (the chart blamed)."""
    if ctx.uses_kind:
        return CheckResult("cni", True, "kindnet (kind's default): enforces NetworkPolicy, ipBlock by pod IP")
    not_checked = CheckResult("cni", False, f"not checked; {CNI_REQUIREMENT}", CNI_FIX)
    try:
        kubectl = ctx.probes.find_tool("kubectl", ctx.config.values.get("kubectl"))
    except cfg.ConfigError:
        return not_checked
    names = [*_kubectl_cmd(ctx, kubectl.path), "get", "daemonsets", "-A", "-o", "jsonpath={.items[*].metadata.name}"]
    out = _probe(ctx, not_checked, names, timeout=30)
    if isinstance(out, CheckResult):
        return out
    if "cilium" in out.stdout.split():
        return CheckResult("cni", False, f"Cilium found: {CNI_REQUIREMENT}", CNI_FIX)
    return CheckResult("cni", True, CNI_REQUIREMENT)


CHECKS: tuple[Callable[[Context], CheckResult], ...] = (
    check_python,
    check_helm,
    check_kubectl,
    check_docker,
    check_kind,
    check_memory,
    check_disk,
    check_inotify,
    check_chart,
    check_cluster,
    check_cni,
)
def run_checks(
    ctx: Context, checks: Sequence[Callable[[Context], CheckResult]] = CHECKS
) -> list[CheckResult]:
    return [check(ctx) for check in checks]


def blockers(results: Iterable[CheckResult], tier: str) -> list[CheckResult]:
    return [r for r in results if not r.ok and tier in r.tiers_blocked]


def tier_verdicts(results: Sequence[CheckResult]) -> dict[str, str]:
    """tier -> "" when it can run, else the reasons it cannot."""
    return {tier: "; ".join(f"{r.name}: {r.detail}" for r in blockers(results, tier)) for tier in TIERS}


def e2e_blockers(config: cfg.Config, probes: Probes | None = None) -> str:
    """Why the live tier cannot run here ("" when it can); used by the pytest gate."""
    return tier_verdicts(run_checks(Context(config, probes or Probes())))["e2e"]


def vault_blockers(config: cfg.Config, probes: Probes | None = None) -> str:
    """Why the quick `vault` tier (testcontainers Vault, no kind, no helm) cannot run here ("" when it can).
    It needs a Docker engine even when --kubeconfig names a cluster."""
    result = check_docker_engine(Context(config, probes or Probes()), ("vault",))
    return "" if result.ok else f"{result.name}: {result.detail}"


CELL_WIDTH = 72  # detail and fix wrap at this width: every line of the table stays under 200 characters
LINE_MAX = 200


def format_table(results: Sequence[CheckResult]) -> str:
    rows = [("check", "status", "detail", "fix")] + [(r.name, r.status, r.detail, r.fix) for r in results]
    cells = [(name, status, textwrap.wrap(detail, CELL_WIDTH) or [""], textwrap.wrap(fix, CELL_WIDTH) or [""])
             for name, status, detail, fix in rows]
    widths = [max(len(c[0]) for c in cells), max(len(c[1]) for c in cells),
              max(len(line) for c in cells for line in c[2])]
    lines = []
    for number, (name, status, detail, fix) in enumerate(cells):
        for i in range(max(len(detail), len(fix))):
            row = (name if i == 0 else "", status if i == 0 else "", detail[i] if i < len(detail) else "")
            lines.append(" | ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=True)),
                                     fix[i] if i < len(fix) else ""]).rstrip())
        if number == 0:
            lines.append("-+-".join("-" * w for w in [*widths, len("fix")]))
    return "\n".join(lines)


def format_verdicts(verdicts: Mapping[str, str]) -> str:
    """One line per tier, at most :data:`LINE_MAX` characters (the table above has every detail)."""
    def line(tier: str, why: str) -> str:
        text = f"{tier}: cannot run here: {why}"
        more = " ... (see the table)"
        return text if len(text) <= LINE_MAX else text[:LINE_MAX - len(more)].rstrip() + more
    return "\n".join(f"{tier}: can run" if not why else line(tier, why) for tier, why in verdicts.items())
