"""Which ESO controller ran, and whether it is the one the chart under test deploys.

Every platform that runs a controller it did not pull from the chart's image by digest says here how it got it
(the route: ``image``, ``git``, ``modules`` or ``--eso-bin``), what the binary itself tells of its version (Go
build info: the ESO module as the main module of a checkout build, or as a dependency of a module-proxy build),
and its digest. The ESO release whose expectations apply is the binary's own word where it tells; otherwise
``--eso-version``, the cache's record, or (said so) the chart's appVersion. When that release is not the one
the chart deploys (its controller image's tag, else its appVersion), the run has *controller skew*: every live
verdict then reads "observed on controller vX (the chart deploys vY)" and ``--gate`` fails unless
``--allow-controller-skew``.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..render.crds import ESO_MODULE
from ..runner import CommandError, run

SKEW_PROPERTY = "controller-skew"  # test user property: the skew line every live verdict of the run reads


def told_version(binary: Path, go: str | None = None) -> str:
    """The ESO release the binary says it was built from (``go version -m``), or "" when it tells nothing
    (no Go here, a ``(devel)`` build, a binary without build info)."""
    go = go or shutil.which("go")
    if not go:
        return ""
    try:
        out = run([go, "version", "-m", str(binary)], timeout=60, check=False)
    except CommandError:
        return ""
    return version_in_build_info(out.stdout) if out.returncode == 0 else ""


def version_in_build_info(text: str) -> str:
    """``vX.Y.Z`` of the ESO module in ``go version -m`` output (``mod``: a checkout build; ``dep``: a wrapper
    module's build), without ``+dirty``; "" when the module is absent or ``(devel)``."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in ("mod", "dep") and parts[1] == ESO_MODULE and parts[2].startswith("v"):
            return parts[2].split("+", 1)[0]
    return ""


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def deployed_version(rendered: Iterable[Mapping[str, Any]], app_version: str) -> tuple[str, str]:
    """(the ESO release the chart deploys, where that was read): the rendered controller image's tag, else the
    chart's appVersion."""
    for obj in rendered:
        if obj.get("kind") != "Deployment":
            continue
        for container in (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []:
            image = str(container.get("image") or "")
            args = [str(a) for a in container.get("args") or []]
            if "external-secrets" in image and not (args and args[0] in {"webhook", "certcontroller"}):
                tag = image.rsplit("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
                if tag:
                    return tag, f"image {image}"
    return app_version, "appVersion"


def same_release(a: str, b: str) -> bool:
    return a.strip().lstrip("v") == b.strip().lstrip("v")


@dataclass(frozen=True)
class ControllerRun:
    """The controller a platform ran."""

    route: str  # image | git | modules | --eso-bin | cluster (the chart's own image, pulled by a kubelet)
    version: str  # the ESO release whose expectations apply
    version_from: str  # the binary's Go build info | --eso-version | the tools cache record | assumed: appVersion
    told: str = ""  # what the binary itself says ("" when it tells nothing)
    digest: str = ""  # the image digest, else the binary's sha256
    origin: str = ""  # image reference, git tag or module@version
    deployed: str = ""  # the release the chart deploys
    deployed_from: str = ""

    @property
    def skew(self) -> str:
        if not self.deployed or same_release(self.version, self.deployed):
            return ""
        return f"observed on controller {self.version} (the chart deploys {self.deployed})"

    def differences(self) -> list[str]:
        told = self.told or "nothing (no Go build info naming the ESO module)"
        lines = [f"ESO controller: route {self.route}{f' ({self.origin})' if self.origin else ''}, "
                 f"digest {self.digest or 'unknown'}; the binary tells {told}; expectations of ESO "
                 f"{self.version} (from {self.version_from})"]
        if self.skew:
            lines.append(f"controller skew: {self.skew}; the chart's release read from its {self.deployed_from}")
        return lines


def choose_version(told: str, given: str | None, recorded: str, app_version: str) -> tuple[str, str]:
    """(the ESO release whose expectations apply, where it came from): the binary's word first."""
    if told:
        return told, "the binary's Go build info"
    if given:
        return given, "--eso-version"
    if recorded and recorded != "given":
        return recorded, "the tools cache record"
    return app_version, "assumed: the chart's appVersion (the binary does not tell)"
