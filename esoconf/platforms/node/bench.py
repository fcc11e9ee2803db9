"""Benchmark of the node platform (``scripts/bench-node``): bring-up from built binaries, the whole tier, peak
memory, and nothing left behind (processes, network namespaces, mounts, cgroups, sysctls).

    scripts/bench-node bring-up                      # up, measured, down, leftovers checked
    scripts/bench-node tier -- --chart tests/fixtures/charts/external-secrets [--vault-chart ...]

Memory is the machine's (``MemTotal - MemAvailable`` above the idle baseline, sampled every 0.2 s): container
processes are children of containerd's shims, not of the suite, so a process-tree sum would miss them.
Exit 0 when every budget holds and nothing is left, 1 when one is exceeded or something is left, 2 when the
platform could not come up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ...wait import WaitTimeout, wait_for
from . import host

BUDGETS = {"bring_up_s": 30.0, "tier_s": 360.0, "peak_mb": 2560.0}
ROOT = Path(__file__).resolve().parents[3]


def used_bytes() -> int:
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, value = line.partition(":")
        info[key] = int(value.split()[0]) * 1024
    return info["MemTotal"] - info["MemAvailable"]


@contextlib.contextmanager
def peak_memory() -> Iterator[dict[str, float]]:
    """``{"peak_mb": ...}`` above the baseline at entry, filled in at exit."""
    baseline, peak, stop = used_bytes(), [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], used_bytes() - baseline)
            stop.wait(0.2)

    result: dict[str, float] = {}
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["peak_mb"] = round(peak[0] / 2**20, 1)


def leftovers(sysctls: dict[str, str], cni_cache: frozenset[str] | None | bool = False) -> list[str]:  # noqa: FBT001
    """What a node run must not leave: its namespaces, mounts, processes, pod cgroups, changed sysctls, new files
    in libcni's cache (``cni_cache``: what was there before; False: not checked)."""
    found = [f"netns {name}" for name in host.leftover_netns()]
    found += [f"mount {point}" for point in host.mounts_under(Path("/tmp")) if "/esoconf-node-" in point]
    found += [f"cgroup {path}" for path in host.cgroup_dirs("kubepods")]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            with contextlib.suppress(OSError):
                if b"esoconf-node-" in (proc / "cmdline").read_bytes():
                    found.append(f"process {proc.name}")
    if not isinstance(cni_cache, bool):
        before: frozenset[str] = cni_cache or frozenset()
        found += [f"file {path}" for path in sorted(set(map(str, host.CNI_CACHE.rglob("*"))) - before)]
    found += [f"sysctl {key} now {value} (was {sysctls[key]})"
              for key, value in host.read_sysctls(sysctls).items() if value != sysctls[key]]
    return found


def bring_up(args: argparse.Namespace) -> dict[str, object]:
    from ...tools import find_tool
    from ..local.binaries import cache_dir
    from .binaries import find_node_binaries
    from .cluster import NodeCluster

    binaries = find_node_binaries(cache_dir(), args.eso_version, find_tool("kubectl", None).path)
    cluster = NodeCluster(binaries, time.strftime("bench-%H%M%S"))
    with peak_memory() as memory:
        start = time.monotonic()
        cluster.up()
        up = time.monotonic() - start
        nodes = cluster.kubectl("get", "nodes", "-o", "wide")
        pods = cluster.kubectl("get", "pods", "-A", "-o", "wide")
        left = cluster.down()
    return {"bring_up_s": round(up, 1), **memory, "phases": cluster.phases.durations, "left_by_down": left,
            "nodes": nodes, "pods": pods, "evidence": cluster.evidence}


def tier(args: argparse.Namespace) -> dict[str, object]:
    with peak_memory() as memory:
        start = time.monotonic()
        code = subprocess.run([str(ROOT / "scripts" / "tox"), "-e", "node", "--", *args.rest], check=False).returncode
        seconds = time.monotonic() - start
    return {"tier_s": round(seconds, 1), **memory, "exit_code": code}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench-node", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("bring-up", "tier"))
    parser.add_argument("--eso-version", default="v0.16.2")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    args.rest = [a for a in args.rest if a != "--"]
    if os.geteuid() != 0:
        print("bench-node: the node platform needs root (network namespaces, containerd, kubelet)", file=sys.stderr)
        return 2
    sysctls = host.read_sysctls(host.KUBELET_SYSCTLS)
    cni_cache = host.files_under(host.CNI_CACHE)
    try:
        result = bring_up(args) if args.what == "bring-up" else tier(args)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the node was torn down on the way out; say so
        result = {"interrupted": str(exc) or "SIGINT"}
    except Exception as exc:  # noqa: BLE001 - one line
        print(f"bench-node: {type(exc).__name__}: {exc}", file=sys.stderr)
        result = {"error": str(exc)}
    # the run folder's watchdog (esoconf.cleanup) notices its folder is gone within 0.5 s: give what a clean
    # teardown leaves a few seconds to go before calling it left behind
    with contextlib.suppress(WaitTimeout):
        wait_for(lambda: leftovers(sysctls, cni_cache), lambda left: not left, timeout=5, what="nothing left",
                 interval=0.5)
    result["leftovers"] = leftovers(sysctls, cni_cache)
    print(json.dumps(result, indent=2, default=str))
    if "interrupted" in result:
        return 130
    if "error" in result:
        return 2
    over = [key for key, budget in BUDGETS.items() if key in result and float(result[key]) > budget]  # type: ignore[arg-type]
    for key in over:
        print(f"bench-node: {key} {result[key]} exceeds the budget {BUDGETS[key]}", file=sys.stderr)
    if result.get("exit_code"):
        return int(result["exit_code"])  # type: ignore[call-overload]
    return 1 if over or result["leftovers"] else 0


if __name__ == "__main__":
    sys.exit(main())
