"""The node platform's pure parts: its network, configuration files, image archives and teardown helpers."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from esoconf.platforms.local.pki import make_cluster_pki
from esoconf.platforms.node import host
from esoconf.platforms.node.configs import NodePaths, containerd_config, kube_proxy_config, kubelet_config, with_flags
from esoconf.platforms.node.imagebuild import FileEntry, ImageRecipe, archive_bytes, pod_images, shell_files


def test_the_network_is_made_inside_the_run_namespaces_never_in_the_hosts() -> None:
    ns = host.Namespaces.for_run("20261204-abcdef123456")
    commands = host.netns_commands(ns)

    assert ns.names == ("esoconf-abcdef123456-node", "esoconf-abcdef123456-uplink")
    for cmd in commands:
        assert cmd[:3] == ["ip", "netns", "add"] or cmd[1] == "-n", cmd  # every link/address/route is namespaced
    veth = next(cmd for cmd in commands if "veth" in cmd)
    assert veth[-2:] == ["netns", ns.uplink]  # its peer goes straight into the uplink namespace
    assert ns.enter() == ["nsenter", f"--net=/run/netns/{ns.node}", "--"]  # network only: one mount namespace


def test_containerd_kubelet_and_kube_proxy_carry_the_settings_this_machine_needs(tmp_path: Path) -> None:
    paths = NodePaths(tmp_path)
    toml = containerd_config(paths, "registry.k8s.io/pause:3.10")
    kubelet = kubelet_config(paths, make_cluster_pki(tmp_path / "pki"))
    proxy = kube_proxy_config(tmp_path / "k")

    assert "restrict_oom_score_adj = true" in toml and "SystemdCgroup = false" in toml
    assert f'address = "{paths.containerd_socket}"' in toml and 'sandbox_image = "registry.k8s.io/pause:3.10"' in toml
    assert (kubelet["cgroupDriver"], kubelet["failCgroupV1"]) == ("cgroupfs", False)
    assert kubelet["containerRuntimeEndpoint"] == f"unix://{paths.containerd_socket}"
    assert str(kubelet["podLogsDir"]).startswith(str(tmp_path))
    assert proxy["conntrack"]["maxPerCore"] == 0 and proxy["conntrack"]["min"] == 0


def test_with_flags_replaces_drops_and_adds() -> None:
    argv = ["bin", "--a=1", "--b=2", "--c"]
    assert with_flags(argv, {"--a": "9", "--b": None, "--d": "4"}) == ["bin", "--a=9", "--c", "--d=4"]


def test_an_image_archive_is_one_layer_tagged_with_the_exact_name(tmp_path: Path) -> None:
    binary = tmp_path / "ctl"
    binary.write_bytes(b"\x7fELF fake")
    recipe = ImageRecipe("a stand-in", (FileEntry("bin/ctl", binary), *shell_files(with_bash=True)),
                         entrypoint=("/bin/ctl",))
    name = "registry1.dso.mil/ironbank/opensource/external-secrets/external-secrets:v1.3.1"

    with tarfile.open(fileobj=io.BytesIO(archive_bytes(name, recipe))) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(outer.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        layer = outer.extractfile("layer.tar").read()  # type: ignore[union-attr]

    assert manifest[0]["RepoTags"] == [name] and manifest[0]["Layers"] == ["layer.tar"]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert config["config"]["Entrypoint"] == ["/bin/ctl"] and config["architecture"] == "amd64"
    with tarfile.open(fileobj=io.BytesIO(layer)) as inner:
        members = {m.name: m for m in inner.getmembers()}
    assert members["bin/ctl"].mode == 0o755 and members["bin/nc"].issym() and members["tmp"].mode == 0o1777
    assert "bin/bash" in members  # a hook written for POSIX sh runs under the stand-in's bash


def test_pod_images_lists_every_container_image_of_the_rendered_objects() -> None:
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {
        "initContainers": [{"name": "i", "image": "b:1"}], "containers": [{"name": "c", "image": "a:1"}]}}}}
    job = {"kind": "Job", "spec": {"template": {"spec": {"containers": [{"name": "w", "image": "a:1"}]}}}}
    assert pod_images([deployment, job, {"kind": "ConfigMap", "data": {"image": "not-a-pod"}}]) == ["a:1", "b:1"]


def test_mounts_under_finds_the_run_folders_mounts_deepest_first() -> None:
    info = "\n".join([
        "22 1 0:21 / /run/x rw - tmpfs tmpfs rw",
        "30 22 0:30 / /tmp/run/kubelet/pods/a/volumes/tok rw - tmpfs tmpfs rw",
        "31 22 0:31 / /tmp/run/containerd/state/rootfs rw - overlay overlay rw",
        "32 22 0:32 / /tmp/runner rw - tmpfs tmpfs rw",
    ])
    assert host.mounts_under(Path("/tmp/run"), info) == [
        "/tmp/run/kubelet/pods/a/volumes/tok", "/tmp/run/containerd/state/rootfs"]


def test_remove_cgroups_removes_nested_folders_and_reports_what_stays(tmp_path: Path) -> None:
    (tmp_path / "memory" / "kubepods" / "burstable" / "pod1").mkdir(parents=True)
    (tmp_path / "cpu" / "kubepods").mkdir(parents=True)
    (tmp_path / "cpu" / "other").mkdir(parents=True)

    assert host.remove_cgroups(["kubepods"], root=tmp_path, wait=0) == []
    assert not (tmp_path / "memory" / "kubepods").exists() and (tmp_path / "cpu" / "other").exists()


def test_restore_sysctls_reports_a_key_it_cannot_put_back() -> None:
    assert host.restore_sysctls({"no.such.key": "1"}) == ["no.such.key"]


@pytest.mark.parametrize("text,count", [("\t\t\t\tqueue,\n" * 10, 10), ("\t\t\t\tqueue,\n" * 9, 9)])
def test_the_nfqueue_adaptation_applies_only_to_the_source_it_was_made_for(
    installer, tmp_path: Path, text: str, count: int
) -> None:
    source = tmp_path / "module"
    (source / "pkg" / "networkpolicy").mkdir(parents=True)
    (source / "pkg" / "networkpolicy" / "controller.go").write_text("package networkpolicy\n" + text)
    (source / "pkg" / "networkpolicy" / "dnsagent.go").write_text(
        "&expr.Queue{Num: uint16(n.nfQueueID), Flag: expr.QueueFlagBypass},\n")
    if count != 10:
        with pytest.raises(installer.InstallError, match="no longer applies to pkg/networkpolicy/controller.go"):
            installer.adapt_xtqueue(source, tmp_path / "adapted", "kube-network-policies v0.8.0")
        return
    adapted = installer.adapt_xtqueue(source, tmp_path / "adapted", "kube-network-policies v0.8.0")
    controller = (adapted / "pkg" / "networkpolicy" / "controller.go").read_text()
    assert controller.count("nfqueueTarget(queue),") == 10 and "\t\t\t\tqueue,\n" not in controller
    assert "nfqueueTarget(&expr.Queue" in (adapted / "pkg" / "networkpolicy" / "dnsagent.go").read_text()
    shim = (adapted / "pkg" / "networkpolicy" / "zz_nfqueue_xt.go").read_text()
    assert 'Name: "NFQUEUE", Rev: 3' in shim


def test_the_node_set_is_listed_and_versioned_from_versions_yaml(installer) -> None:
    text = Path(installer.VERSIONS_FILE).read_text()
    local = installer.parse_block(text, "local")
    local["node_recipes"] = node = installer.parse_block(text, "node")
    local.update(node)
    versions = installer.local_versions(local, None)
    assert {c: versions[c] for c in installer.NODE_COMPONENTS} == {
        "pause": "v1.0.0", "coredns": "v1.12.1", "kube-network-policies": "v0.8.0",
        "kube-network-policies-xtqueue": "v0.8.0", "kubelet": "v1.34.4", "kube-proxy": "v1.34.4",
        "kube-scheduler": "v1.34.4"}


def test_installer_and_node_lookup_agree_on_binary_names(installer) -> None:
    from esoconf.platforms.node.binaries import binary_name

    assert {c: binary_name(c) for c in installer.NODE_COMPONENTS} == installer.NODE_BINARY


def test_missing_node_binaries_are_one_line_naming_both_install_commands(tmp_path: Path) -> None:
    from esoconf.platforms.node.binaries import find_node_binaries
    from esoconf.tools import ToolError

    with pytest.raises(ToolError) as info:
        find_node_binaries(tmp_path, "v0.16.2", Path("/bin/kubectl"))
    message = str(info.value)
    assert "\n" not in message and "kubelet v1.34.4" in message and "eso v0.16.2" in message
    assert message.endswith("Fix: run python scripts/install-tools --if-missing --set local --eso-version v0.16.2 "
                            "&& python scripts/install-tools --if-missing --set node")


def test_new_files_in_libcnis_cache_are_removed_and_old_ones_kept(tmp_path: Path) -> None:
    cache = tmp_path / "cni"
    (cache / "results").mkdir(parents=True)
    (cache / "results" / "theirs").write_text("x")
    before = host.files_under(cache)
    (cache / "results" / "cni-loopback-abc-lo").write_text("y")
    (cache / "networks" / "esoconf-1").mkdir(parents=True)

    assert host.remove_new_files(cache, before) == []
    assert sorted(p.name for p in cache.rglob("*")) == ["results", "theirs"]
    assert host.remove_new_files(cache, None) == [] and not cache.exists()  # it was not there before the run


def test_sigterm_unwinds_like_ctrl_c_only_where_nobody_handles_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    from esoconf.platforms.node import cluster

    installed: list[object] = []
    monkeypatch.setattr(signal, "signal", lambda signum, handler: installed.append(handler))
    monkeypatch.setattr(signal, "getsignal", lambda signum: signal.SIG_DFL)
    cluster.interrupt_on_sigterm()
    assert installed == [cluster._interrupt]
    with pytest.raises(KeyboardInterrupt):
        cluster._interrupt(signal.SIGTERM, None)

    monkeypatch.setattr(signal, "getsignal", lambda signum: print)  # someone else's handler: left alone
    cluster.interrupt_on_sigterm()
    assert installed == [cluster._interrupt]
