"""The node run's host resources are kinds of the one cleanup registry: what a killed run left (network namespaces,
pod cgroups, mounts below its folder, kubelet's kernel settings) is removed by the same path as a local run's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from esoconf.cleanup import RunFolder
from esoconf.platforms.node import host, resources


def test_a_killed_node_runs_namespaces_cgroups_and_settings_are_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netns_dir, cgroups = tmp_path / "netns", tmp_path / "cgroup"
    netns_dir.mkdir()
    (netns_dir / "esoconf-x-node").touch()
    (cgroups / "memory" / "kubepods" / "pod1").mkdir(parents=True)
    (cgroups / "memory" / "kubepods" / "pod1" / "cgroup.procs").write_text("4242\n")  # a container left running
    settings = {"vm.overcommit_memory": "1"}  # what kubelet set; the run had found "0"
    monkeypatch.setattr(host, "NETNS_DIR", netns_dir)
    monkeypatch.setattr(host, "CGROUP_ROOT", cgroups)
    monkeypatch.setattr(host, "read_sysctls", lambda keys: {k: settings[k] for k in keys})
    monkeypatch.setattr(host, "restore_sysctls", lambda saved: settings.update(saved) or [])
    removed: list[str] = []
    killed: list[int] = []
    monkeypatch.setattr(resources.os, "kill", lambda pid, sig: killed.append(pid))  # never a real process

    def remove_netns(names):  # type: ignore[no-untyped-def]
        removed.extend(names)
        for name in names:
            (netns_dir / name).unlink()
        return []

    monkeypatch.setattr(host, "remove_netns", remove_netns)
    monkeypatch.setattr(host, "remove_cgroups", lambda names: [shutil.rmtree(cgroups / "memory" / n) for n in names])
    folder = RunFolder.create("node-test", root=tmp_path, watch=False)
    for resource in (resources.netns("esoconf-x-node"), resources.netns("esoconf-x-gone"),
                     resources.cgroup("kubepods"), resources.mounts(folder.path),
                     resources.sysctls({"vm.overcommit_memory": "0"})):
        folder.track(resource)

    left = {r.label() for r in folder.remove()}

    assert left == {"netns esoconf-x-node (esoconf-x-node)", "node-cgroup kubepods (cgroup kubepods)",
                    "sysctls kubelet (vm.overcommit_memory)"}, "only what is still there is removed"
    assert removed == ["esoconf-x-node"] and killed == [4242] and not (cgroups / "memory" / "kubepods").exists()
    assert settings == {"vm.overcommit_memory": "0"} and not folder.path.exists()
