"""What the node platform makes on the host, and one teardown function per resource kind.

The node lives in network namespaces the run creates (``esoconf-<id>-node`` and an empty ``-uplink`` where
unroutable packets die), joined by a veth pair created inside them, with private addresses only: nothing is
added to the host's network namespace, its iptables/nftables are never touched. Daemons are started with
``nsenter --net=`` (not ``ip netns exec``, which gives each daemon its own mount namespace, so kubelet's volume
mounts would be invisible to containerd/runc).

Kubelet changes a few kernel-wide sysctls as it starts (``vm.overcommit_memory``, ``kernel.panic``,
``kernel.panic_on_oops``, ...): they are recorded before and put back at the end (:func:`restore_sysctls`).

The teardown functions (:func:`remove_netns`, :func:`unmount_under`, :func:`remove_cgroups`,
:func:`restore_sysctls`) each undo one kind of resource, take what to undo as plain data, never raise, and return
what they could not undo: the cleanup registry (signals, leftovers) calls them the same way.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...runner import run

NETNS_DIR = Path("/run/netns")
PREFIX = "esoconf-"
NODE_IP = "10.250.0.1"
UPLINK_IP = "10.250.0.254"
NODE_CIDR = "24"
POD_CIDR = "10.244.0.0/16"
NODE_POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
# what kubelet writes outside the node's network namespace (kernel-wide), put back at the end
KUBELET_SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
# inside the node's network namespace only
NODE_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"}
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Namespaces:
    """The run's two network namespaces."""

    node: str
    uplink: str

    @classmethod
    def for_run(cls, run_id: str) -> Namespaces:
        short = run_id[-12:]
        return cls(f"{PREFIX}{short}-node", f"{PREFIX}{short}-uplink")

    @property
    def names(self) -> tuple[str, str]:
        return (self.node, self.uplink)

    def enter(self) -> list[str]:
        """The prefix that runs a command in the node's network namespace (and only that one)."""
        return ["nsenter", f"--net={NETNS_DIR / self.node}", "--"]


def netns_commands(ns: Namespaces) -> list[list[str]]:
    """The `ip` commands that make the node's network (pure: unit-tested)."""
    node, up = ns.node, ns.uplink
    return [
        ["ip", "netns", "add", node],
        ["ip", "netns", "add", up],
        ["ip", "-n", node, "link", "set", "lo", "up"],
        ["ip", "-n", up, "link", "set", "lo", "up"],
        # created inside the node namespace, its peer straight into the uplink one: never in the host's
        ["ip", "-n", node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", up],
        ["ip", "-n", node, "addr", "add", f"{NODE_IP}/{NODE_CIDR}", "dev", "eth0"],
        ["ip", "-n", up, "addr", "add", f"{UPLINK_IP}/{NODE_CIDR}", "dev", "eth0"],
        ["ip", "-n", node, "link", "set", "eth0", "up"],
        ["ip", "-n", up, "link", "set", "eth0", "up"],
        ["ip", "-n", node, "route", "add", "default", "via", UPLINK_IP],
    ]


def make_netns(ns: Namespaces) -> None:
    for cmd in netns_commands(ns):
        run(cmd, timeout=30)
    for key, value in NODE_SYSCTLS.items():
        run([*ns.enter(), "sysctl", "-q", "-w", f"{key}={value}"], timeout=30)


# --- teardown, one function per resource kind --------------------------------------------------------------


def run_quiet(cmd: Sequence[str], timeout: float = 30) -> tuple[int, str]:
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def netns_pids(name: str) -> list[int]:
    code, out = run_quiet(["ip", "netns", "pids", name])
    return [int(p) for p in out.split()] if code == 0 else []


def remove_netns(names: Iterable[str]) -> list[str]:
    """Kill what still runs in each namespace, then delete it; returns the names still present."""
    left = []
    for name in names:
        if not (NETNS_DIR / name).exists():
            continue
        for pid in netns_pids(name):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, 9)
        run_quiet(["ip", "netns", "delete", name])
        if (NETNS_DIR / name).exists():
            left.append(name)
    return left


def mounts_under(root: Path, mountinfo: str | None = None) -> list[str]:
    """Mount points at or below ``root`` (deepest first), from /proc/self/mountinfo."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    prefix = str(root).rstrip("/")
    points = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 4:
            point = fields[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_under(roots: Iterable[Path]) -> list[str]:
    """Unmount everything below each root (lazily when busy); returns the mount points still there."""
    for _ in range(3):
        points = [p for root in roots for p in mounts_under(root)]
        if not points:
            return []
        for point in points:
            if run_quiet(["umount", point])[0] != 0:
                run_quiet(["umount", "-l", point])
    return [p for root in roots for p in mounts_under(root)]


def cgroup_dirs(name: str, root: Path | None = None) -> list[Path]:
    """``name`` (a top-level cgroup such as ``kubepods``) in every hierarchy that has it (below
    :data:`CGROUP_ROOT`, read at call time)."""
    root = CGROUP_ROOT if root is None else root
    if not root.is_dir():
        return []
    return [h / name for h in sorted(root.iterdir()) if (h / name).is_dir()]


def remove_cgroups(names: Iterable[str], root: Path | None = None, wait: float = 10.0) -> list[str]:
    """Remove the cgroups (deepest first) once their processes are gone; returns those still present."""
    deadline = time.monotonic() + wait
    left: list[Path] = []
    while True:
        left = []
        for top in (d for name in names for d in cgroup_dirs(name, root)):
            for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()
            if top.exists():
                left.append(top)
        if not left or time.monotonic() > deadline:
            return [str(p) for p in left]
        time.sleep(0.5)


def read_sysctls(keys: Iterable[str]) -> dict[str, str]:
    values = {}
    for key in keys:
        with contextlib.suppress(OSError):
            values[key] = Path("/proc/sys", *key.split(".")).read_text().strip()
    return values


def restore_sysctls(saved: Mapping[str, str]) -> list[str]:
    """Write back each recorded value that changed; returns the keys that could not be restored."""
    failed = []
    for key, value in saved.items():
        path = Path("/proc/sys", *key.split("."))
        with contextlib.suppress(OSError):
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
        if read_sysctls([key]).get(key) != value:
            failed.append(key)
    return failed


CNI_CACHE = Path("/var/lib/cni")  # libcni's result cache: containerd's CNI calls write there, whatever we configure


def files_under(root: Path) -> frozenset[str] | None:
    """Every path below ``root`` (None when ``root`` does not exist): what was there before the run."""
    return frozenset(str(p) for p in root.rglob("*")) if root.exists() else None


def remove_new_files(root: Path, before: frozenset[str] | None) -> list[str]:
    """Remove what appeared below ``root`` since ``before`` (``root`` itself when it was not there); returns
    what is still there."""
    import shutil

    if not root.exists():
        return []
    if before is None:
        shutil.rmtree(root, ignore_errors=True)
        return [str(root)] if root.exists() else []
    for path in sorted((p for p in root.rglob("*") if str(p) not in before), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
    return sorted(str(p) for p in root.rglob("*") if str(p) not in before)


def leftover_netns() -> list[str]:
    """Network namespaces an earlier node run left behind."""
    return sorted(p.name for p in NETNS_DIR.glob(f"{PREFIX}*")) if NETNS_DIR.is_dir() else []
