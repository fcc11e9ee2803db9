"""Finding helm, kubectl and kind: explicit option, then PATH, then the project-local tools folder.

Each found binary is version-checked against the pinned minimum in ``manifests/versions.yaml``.
A missing or too-old tool is one line that says how to install it.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import PROJECT_ROOT, ConfigError, given, load_versions
from .runner import CommandError, run

TOOLS_DIR = PROJECT_ROOT / ".tools" / "bin"
INSTALL_HINT = "run `python scripts/install-tools` (into .tools/bin)"

VERSION_ARGS: dict[str, list[str]] = {
    "helm": ["version", "--short"],
    "kubectl": ["version", "--client"],
    "kind": ["version"],
}
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


class ToolError(ConfigError):
    """A tool is missing, broken or too old (one actionable line)."""


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path
    version: tuple[int, int, int]
    source: str  # option | env | profile | PATH | tools-dir

    @property
    def version_str(self) -> str:
        return "v" + ".".join(map(str, self.version))


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION_RE.search(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _candidates(name: str, explicit: str | None, tools_dir: Path, source: str) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if explicit:
        return [(source, Path(explicit))]
    on_path = shutil.which(name)
    if on_path:
        found.append(("PATH", Path(on_path)))
    local = tools_dir / name
    if local.is_file():
        found.append(("tools-dir", local))
    return found


_VERSIONS_SEEN: dict[tuple[str, str, int, int], tuple[int, int, int] | None] = {}


def _binary_version(name: str, path: Path) -> tuple[int, int, int] | None:
    """The version a binary prints, asked once per process for each (path, size, mtime)."""
    stat = path.stat()
    key = (name, str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _VERSIONS_SEEN:
        out = run([str(path), *VERSION_ARGS[name]], timeout=20)
        _VERSIONS_SEEN[key] = parse_version(out.stdout + out.stderr)
    return _VERSIONS_SEEN[key]


def find_tool(name: str, explicit: str | None = None, *, tools_dir: Path = TOOLS_DIR,
              versions: dict[str, Any] | None = None, source: str = "option") -> Tool:
    """Return the first candidate that runs and meets the pinned minimum; else one-line ToolError.
    ``source`` says where ``explicit`` came from (option, env, profile): the error names it that way."""
    versions = versions or load_versions()
    pins = versions["tools"][name]
    minimum = parse_version(str(pins["minimum"]))
    assert minimum is not None
    problems: list[str] = []
    for found_in, path in _candidates(name, explicit, tools_dir, source):
        shown = given(f"--{name}", path, found_in) if explicit else str(path)
        if path.is_dir():
            problems.append(f"{shown} is a directory, not the {name} binary")
            continue
        if not path.is_file():
            problems.append(f"{shown} does not exist")
            continue
        if not os.access(path, os.X_OK):
            problems.append(f"{shown} is not executable (chmod +x it)")
            continue
        try:
            version = _binary_version(name, path)
        except CommandError as exc:
            problems.append(f"{path} does not run ({exc.note or f'exit code {exc.returncode}'})")
            continue
        if version is None:
            problems.append(f"{path} printed no version")
            continue
        if version < minimum:
            shown = "v" + ".".join(map(str, version))
            problems.append(f"{path} is {shown}, older than the minimum {pins['minimum']}")
            continue
        return Tool(name, path, version, found_in)
    why = "; ".join(problems) if problems else "not on PATH nor in .tools/bin"
    flag = f"--{name}"
    hint = INSTALL_HINT if pins.get("registry_package") else (
        f"install {name} {pins['version']} from its release onto PATH or into .tools/bin (needs internet)")
    raise ToolError(f"{name} {pins['minimum']}+ is needed: {why}. Fix: {hint}, or pass {flag} PATH")


def kubectl_skew(kubectl: tuple[int, int, int] | None, kubernetes_version: str | None) -> str:
    """A warning when kubectl is more than one minor version away from the cluster's Kubernetes (the skew
    kubectl supports), "" otherwise."""
    cluster = parse_version(str(kubernetes_version or ""))
    if kubectl is None or cluster is None or abs(kubectl[1] - cluster[1]) <= 1 and kubectl[0] == cluster[0]:
        return ""
    return (f"kubectl v{'.'.join(map(str, kubectl))} is more than one minor version from Kubernetes "
            f"v{'.'.join(map(str, cluster))} (kubectl supports +/-1): install the pinned kubectl")


def helm_home_env(base: Path) -> dict[str, str]:
    """helm must not read or write the user's helm config: private cache/config/data homes under ``base``."""
    return {f"HELM_{part}_HOME": str(base / part.lower()) for part in ("CACHE", "CONFIG", "DATA")}
