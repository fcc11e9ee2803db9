"""Images without a registry or Docker: one-layer image archives (the docker-archive format: ``manifest.json``, a
config JSON and one layer tar) written from binaries, loaded into the node's containerd with
``ctr -n k8s.io images import`` under the exact names the charts render (pods keep ``IfNotPresent``).

Each image is a stand-in for the published one: :class:`ImageRecipe` says what is inside, and the report lists
name -> contents (:func:`describe`).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...runner import run

BUSYBOX = Path("/bin/busybox")
# busybox applets the probe and script images need (its wget segfaults here, exit 139: probes use nc)
APPLETS = ("sh", "nc", "sleep", "echo", "cat", "grep", "seq", "printf", "ls", "env", "true", "false", "test",
           "mkdir", "rm", "timeout", "id", "hostname", "head", "tr", "wc", "sed", "date")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class FileEntry:
    path: str  # inside the image, no leading slash
    source: Path | None = None  # a file to copy (mode 0755)
    text: str | None = None  # or its content
    link: str | None = None  # or a symlink target
    mode: int = 0o755


@dataclass(frozen=True)
class ImageRecipe:
    """What goes into one image."""

    contents: str  # for the report: what runs under this name
    files: tuple[FileEntry, ...]
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = (PATH_ENV,)
    stand_in: bool = True


def shell_files(with_bash: bool = False) -> tuple[FileEntry, ...]:
    """busybox (Debian busybox-static) with applet links, /tmp; ``with_bash``: a /bin/bash that runs sh (a
    stand-in for the scripts of chart hooks written for POSIX sh)."""
    files = [FileEntry("bin/busybox", BUSYBOX)]
    files += [FileEntry(f"bin/{applet}", link="busybox") for applet in APPLETS]
    if with_bash:
        files.append(FileEntry("bin/bash", text='#!/bin/sh\nexec /bin/sh "$@"\n'))
    return tuple(files)


VAULT_ENTRYPOINT = """#!/bin/sh
# stand-in for Vault's docker-entrypoint.sh: drop a leading `vault`, run OpenBao as vault
if [ "${1:-}" = "vault" ]; then shift; fi
exec /bin/vault "$@"
"""


def archive_bytes(name: str, recipe: ImageRecipe) -> bytes:
    """A docker-archive tar (one layer) tagged ``name``."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(f.path).parent) for f in recipe.files if str(Path(f.path).parent) != "."} | {"tmp"})
        for folder in dirs:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        for entry in recipe.files:
            info = tarfile.TarInfo(entry.path)
            if entry.link is not None:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.link, 0o777
                tar.addfile(info)
            elif entry.source is not None:
                info.size, info.mode = entry.source.stat().st_size, entry.mode
                with entry.source.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                data = (entry.text or "").encode()
                info.size, info.mode = len(data), entry.mode
                tar.addfile(info, io.BytesIO(data))
    layer_data = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_data).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": list(recipe.env), "Entrypoint": list(recipe.entrypoint) or None,
                   "Cmd": list(recipe.cmd) or None, "WorkingDir": "/",
                   "Labels": {"org.eso-conformance.stand-in": recipe.contents}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "eso-vault-conformance esoconf.platforms.node.imagebuild"}],
    }
    config_data = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_data).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [name], "Layers": ["layer.tar"]}]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for member, data in (("layer.tar", layer_data), (config_name, config_data),
                             ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(member)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass
class ImageLoader:
    """Writes each archive into ``folder`` and imports it into the node's containerd (namespace k8s.io)."""

    ctr_prefix: Sequence[str]  # e.g. ["ctr", "--address", sock]
    folder: Path
    loaded: dict[str, str] = field(default_factory=dict)  # name -> contents

    def load(self, images: Mapping[str, ImageRecipe]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, recipe in images.items():
            if name in self.loaded:
                continue
            archive = self.folder / (hashlib.sha256(name.encode()).hexdigest()[:16] + ".tar")
            archive.write_bytes(archive_bytes(name, recipe))
            run([*self.ctr_prefix, "-n", "k8s.io", "images", "import", str(archive)],
                timeout=300)
            archive.unlink()
            self.loaded[name] = recipe.contents

    def names(self) -> list[str]:
        out = run([*self.ctr_prefix, "-n", "k8s.io", "images", "ls", "-q"], timeout=60).stdout
        return [line.strip() for line in out.splitlines() if line.strip()]


def describe(loaded: Mapping[str, str]) -> list[str]:
    """Report lines: image name -> what runs under it."""
    return [f"{name} -> {contents}" for name, contents in sorted(loaded.items())]


def pod_images(objects: Iterable[Mapping[str, object]]) -> list[str]:
    """Every container image the rendered objects' pod templates name (the exact names to load)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, Mapping):
            for key in ("containers", "initContainers"):
                for container in node.get(key) or []:
                    if isinstance(container, Mapping) and container.get("image"):
                        found.append(str(container["image"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for obj in objects:
        walk(obj)
    return sorted(set(found))
