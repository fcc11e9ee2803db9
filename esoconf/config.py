"""Settings: one name each, three ways to set it.

Precedence, highest first: command-line option, environment variable, profile file
(``manifests/profiles/<profile>.yaml``), then the default below. ``Config.source(name)`` says which one won.

Every bad input raises :class:`ConfigError` with one actionable line (the plugin turns it into a
pytest usage error).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import yamlio

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = PROJECT_ROOT / "manifests"
PROFILES_DIR = MANIFESTS / "profiles"
VERSIONS_FILE = MANIFESTS / "versions.yaml"
ENV_PREFIX = "ESOCONF_"
# a tox env's own defaults ("name=value,..."): below the user's option, env and profile, shown as [tox.ini]
TOX_DEFAULTS_ENV = "ESOCONF_TOX_DEFAULTS"
# ESOCONF_* variables that are not settings, never called misspelled: the bootstrap venv (scripts/tox), tox
# defaults (tox.ini), the local platform's tools cache (esoconf.platforms.local.binaries) and the local tier's
# xdist workers
OTHER_ENV = frozenset({"ESOCONF_BOOTSTRAP_VENV", TOX_DEFAULTS_ENV, "ESOCONF_TOOLS_CACHE", "ESOCONF_LOCAL_WORKERS",
                       "ESOCONF_NODE_WORKERS"})


class ConfigError(Exception):
    """A configuration or usage error; its message is one actionable line."""


class EnvironmentProblem(ConfigError):
    """The input is fine but this machine cannot serve it before the run starts (no network to fetch a chart, a
    read-only or full disk): one line, exit 2 (environment), not 3."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _one_of(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if str(value) not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)
    return parse


def _bounded_float(high: float) -> Callable[[Any], float]:
    """A finite number > 0 and <= ``high`` (``nan``, ``inf`` and 1e308 would reach every timeout)."""
    def parse(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be > 0 and <= {high:g}, got {value!r}") from None
        if not math.isfinite(number) or number <= 0 or number > high:
            raise ValueError(f"must be > 0 and <= {high:g}, got {value!r}")
        return number
    return parse


def _bounded_int(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        text = str(value).strip()
        if isinstance(value, bool) or not text.lstrip("-").isdigit() or not low <= int(text) <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, got {value!r}")
        return int(text)
    return parse


TIMEOUT_SCALE_MAX = 100.0  # a 100x slower machine would take hours per case: more is a typo
RERUNS_MAX = 1


@dataclass(frozen=True)
class Setting:
    name: str
    help: str
    default: Any = None
    parse: Callable[[Any], Any] = str
    flag: bool = False
    junit: str | None = None  # JUnit testsuite property name, if recorded

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("profile", "profile file under manifests/profiles (local, nightly, release, airgap)", "local"),
    Setting("chart", "chart under test: a chart directory, a .tgz, an oci:// reference or a git URL "
            "(the last two need --chart-version and network), `pinned` (the release in versions.yaml) or "
            "`reference` (offline first look: the suite's own reference fixture charts and doc)",
            None, junit="chart"),
    Setting("chart_version", "version/tag of --chart when it is an OCI reference or a git URL (a local chart's "
            "version is its Chart.yaml: giving one is a usage error)", None,
            junit="chart_version"),
    Setting("vault_chart", "Big Bang Vault package chart (same forms as --chart, `pinned` too); optional for "
            "render, the pinned release for the live tier",
            None, junit="vault_chart"),
    Setting("vault_chart_version", "version/tag of --vault-chart when remote", None),
    Setting("umbrella_chart", "Big Bang umbrella chart that hands the packages their values (same forms as "
            "--chart, `pinned`: the umbrella of the package release in versions.yaml); default: none, the "
            "suite's own adapter (esoconf/adapter.py) stands in for it", None, junit="umbrella_chart"),
    Setting("umbrella_chart_version", "version/tag of --umbrella-chart when remote", None),
    Setting("doc", "VAULT_INTEGRATION.md under test (default: docs/VAULT_INTEGRATION.md in the package "
            "repo that holds the chart)", None, junit="doc"),
    Setting("artifacts_dir", "where reports and diagnostics are written", "artifacts"),
    Setting("timeout_scale", f"multiply every named timeout (slow machines: 2; > 0, at most {TIMEOUT_SCALE_MAX:g})",
            1.0, _bounded_float(TIMEOUT_SCALE_MAX)),
    Setting("keep_cluster", "keep the kind cluster after the run", False, _bool, flag=True),
    Setting("keep_on_failure", "keep a failed test's namespace and objects for debugging", False, _bool,
            flag=True),
    Setting("platform", "where the live tier runs: kind (created here), local (real ESO, kube-apiserver, "
            "etcd and Vault as local processes, no Docker), node (a real single-node Kubernetes without Docker, in "
            "network namespaces; root) or existing (--kubeconfig); default: existing with --kubeconfig, else kind",
            None, _one_of("kind", "local", "existing", "node"), junit="platform"),
    Setting("eso_bin", "local platform: the ESO controller binary to run (default: the one built for "
            "--eso-version by scripts/install-tools --set local)", None),
    Setting("eso_version", "local platform: the ESO controller release to run (default: the chart's "
            "appVersion)", None, junit="eso_version"),
    Setting("vault_bin", "local platform and vault tier: the Vault server binary (default: `vault` on PATH, "
            "else the OpenBao `bao` installed by scripts/install-tools)", None),
    Setting("local_crds", "local and node platforms: which CRDs to install: chart (the chart's crds/ and CRD "
            "templates) or controller (deploy/crds/bundle.yaml of the controller's ESO release)", "chart",
            _one_of("chart", "controller")),
    Setting("kubeconfig", "use an existing cluster from this kubeconfig instead of creating kind", None),
    Setting("kube_context", "context in --kubeconfig (default: its current context); without --kubeconfig: in "
            "$KUBECONFIG or ~/.kube/config", None),
    Setting("cluster_name", "kind cluster name (created or reused)", "eso-conformance"),
    Setting("images", "image set: registry1 (Iron Bank, needs credentials), upstream (public), airgap "
            "(tarballs loaded into kind)", "upstream", _one_of("registry1", "upstream", "airgap")),
    Setting("image_archive_dir", "folder of image tarballs for --images airgap", None),
    Setting("eso_image", "ESO controller image (default: from manifests/versions.yaml for --images)", None,
            junit="eso_image"),
    Setting("vault_version", "Vault server version for the live tier (the Vault image's tag)", None,
            junit="vault_version"),
    Setting("istio_version", "Istio version installed for the live tier (base/istiod charts and images)", None,
            junit="istio_version"),
    Setting("kubernetes_version", "Kubernetes version of the kind node image", None,
            junit="kubernetes_version"),
    Setting("helm", "path to the helm binary (default: PATH, then .tools/bin)", None),
    Setting("kubectl", "path to the kubectl binary (default: PATH, then .tools/bin)", None),
    Setting("kind", "path to the kind binary (default: PATH, then .tools/bin)", None),
    Setting("reuse_platform", "skip installing platform pieces whose fingerprint matches", False, _bool,
            flag=True),
    Setting("clean_start", "delete leftovers of earlier runs (by label) before starting", False, _bool,
            flag=True),
    Setting("from_chart_version", "upgrade test: install this previous release first", None),
    Setting("reruns", "nightly: rerun a failed test this many times (0 or 1) and report it as flaky; "
            "ignored with --gate", 0, _bounded_int(0, RERUNS_MAX)),
    Setting("gate", "release-gate mode: no reruns, any error is a failure", False, _bool, flag=True),
    Setting("allow_controller_skew", "accept, under --gate, live verdicts observed on another ESO controller "
            "release than the chart deploys (recorded in the report)", False, _bool, flag=True),
    Setting("report_json", "write one JSON record per claim to this path", None),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def load_versions(path: Path = VERSIONS_FILE) -> dict[str, Any]:
    # libyaml's loader: every run reads the pins several times (settings, each tool), the pure-Python one is slow
    data = yamlio.load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of pinned versions")
    return data


PROFILE_SUFFIXES = (".yaml", ".yml", ".toml")


def profile_path(name: str, profiles_dir: Path = PROFILES_DIR) -> Path:
    """A profile name under ``profiles_dir``, or a path to a profile file of one's own."""
    if name.endswith(PROFILE_SUFFIXES) or "/" in name:
        if Path(name).is_file():
            return Path(name)
        raise ConfigError(f"--profile {name}: no such profile file; give a profile name "
                          f"(files in {profiles_dir}) or an existing .yaml/.toml file")
    for suffix in PROFILE_SUFFIXES:
        candidate = profiles_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for p in profiles_dir.glob("*") if p.suffix in PROFILE_SUFFIXES})
    raise ConfigError(f"unknown profile {name!r}: choose one of {', '.join(known) or '(none found)'} "
                      f"(files in {profiles_dir})")


def load_profile(name: str, profiles_dir: Path = PROFILES_DIR) -> dict[str, Any]:
    path = profile_path(name, profiles_dir)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        first = f"{exc.problem or exc.context}" + (f" (line {mark.line + 1})" if mark else "")
        raise ConfigError(f"profile {path} is not valid YAML: {first}; fix the file or pick another "
                          f"--profile") from None
    except (yaml.YAMLError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"profile {path} is not valid {path.suffix[1:].upper()}: {first}; fix the file "
                          f"or pick another --profile") from None
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"profile {path} must be a mapping of setting: value, got {type(data).__name__}")
    unknown = sorted(set(data) - set(SETTINGS_BY_NAME) - {"description"})
    if unknown:
        raise ConfigError(f"profile {path}: unknown setting(s) {', '.join(unknown)}; known settings are "
                          f"listed in docs/configuration.md")
    return data


@dataclass
class Config:
    values: dict[str, Any]
    sources: dict[str, str]
    versions: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # said beside the chart in the header and every report (`--chart reference`)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        return self.sources[name]

    def table(self) -> list[tuple[str, str, str]]:
        return [(s.name, _show(self.values[s.name]), self.sources[s.name]) for s in SETTINGS]

    def junit_properties(self) -> dict[str, str]:
        props = {s.junit: _show(self.values[s.name]) for s in SETTINGS if s.junit}
        return props


def _show(value: Any) -> str:
    return "-" if value is None else str(value)


def resolve(cli: Mapping[str, Any], env: Mapping[str, str] | None = None,
            profiles_dir: Path = PROFILES_DIR, versions_file: Path = VERSIONS_FILE) -> Config:
    """Compute the effective configuration. ``cli`` maps setting name to value (None = not given)."""
    env = os.environ if env is None else env
    tox_defaults = _tox_defaults(env.get(TOX_DEFAULTS_ENV, ""))

    def raw(setting: Setting, profile: Mapping[str, Any]) -> tuple[Any, str]:
        if cli.get(setting.name) is not None:
            return cli[setting.name], "option"
        if setting.env in env:
            return env[setting.env], "env"
        if setting.name in profile:
            return profile[setting.name], "profile"
        if setting.name in tox_defaults:
            return tox_defaults[setting.name], "tox.ini"
        return setting.default, "default"

    profile_name, _ = raw(SETTINGS_BY_NAME["profile"], {})
    profile = load_profile(str(profile_name), profiles_dir)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        value, source = raw(setting, profile)
        if value is not None and source != "default":
            try:
                value = setting.parse(value)
            except (TypeError, ValueError) as exc:
                where = {"option": setting.option, "env": setting.env, "tox.ini": TOX_DEFAULTS_ENV,
                         "profile": f"profile key {setting.name}"}[source]
                raise ConfigError(f"{where}: {exc}") from None
        values[setting.name] = value
        sources[setting.name] = source
    versions = load_versions(versions_file)
    note = _expand_reference(values, sources)
    _expand_pinned(values, sources, versions)
    _fill_version_defaults(values, sources, versions)
    return Config(values, sources, versions, note)


def _tox_defaults(text: str) -> dict[str, str]:
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    unknown = sorted(name.strip() for name, _, _ in pairs if name.strip() not in SETTINGS_BY_NAME)
    if unknown:
        raise ConfigError(f"{TOX_DEFAULTS_ENV} (tox.ini set_env): unknown setting(s) {', '.join(unknown)}")
    return {name.strip(): value.strip() for name, _, value in pairs}


REFERENCE = "reference"
REFERENCE_NOTE = "reference chart, not a Big Bang release"
_FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
# the suite's own fixture packages and doc (written from the documented interface; the self-tests' reference)
REFERENCE_CHARTS = {"chart": _FIXTURES / "charts" / "external-secrets", "vault_chart": _FIXTURES / "charts" / "vault"}
REFERENCE_DOC = _FIXTURES / "docs" / "VAULT_INTEGRATION.md"


def _expand_reference(values: dict[str, Any], sources: dict[str, str]) -> str:
    """``--chart reference``: the conformance run on the suite's own reference charts and doc, with no network. The
    Vault package follows unless the user named one (a tox env's ``pinned`` default would need the network); the
    returned note goes beside the chart everywhere a verdict is shown, so it is never read as one on a release."""
    if values.get("chart") != REFERENCE:
        return ""
    values["chart"], values["chart_version"] = str(REFERENCE_CHARTS["chart"]), None
    if values.get("vault_chart") == REFERENCE or sources["vault_chart"] in ("default", "tox.ini"):
        values["vault_chart"], values["vault_chart_version"] = str(REFERENCE_CHARTS["vault_chart"]), None
        sources["vault_chart"] = sources["chart"]
    if values.get("doc") is None:
        values["doc"], sources["doc"] = str(REFERENCE_DOC), sources["chart"]
    return REFERENCE_NOTE


PINNED = "pinned"
PINNED_CHARTS = {"chart": "external_secrets", "vault_chart": "vault", "umbrella_chart": "umbrella"}


def pinned_release(versions: Mapping[str, Any], eso_version: str | None) -> dict[str, str]:
    """The Big Bang release triple (umbrella, ESO package, Vault package) of versions.yaml ``releases`` whose ESO
    package is ``eso_version`` (default: charts.external_secrets.version)."""
    wanted = str(eso_version or versions["charts"]["external_secrets"]["version"])
    for row in versions.get("releases") or []:
        if str(row["external_secrets"]) == wanted:
            return {key: str(value) for key, value in row.items()}
    known = ", ".join(str(r["external_secrets"]) for r in versions.get("releases") or [])
    raise ConfigError(f"--chart-version {wanted}: no Big Bang release pinned with this ESO package in "
                      f"manifests/versions.yaml releases (pinned: {known or 'none'}); add its umbrella/ESO/Vault "
                      f"triple there")


def _expand_pinned(values: dict[str, Any], sources: dict[str, str], versions: dict[str, Any]) -> None:
    """``--chart pinned`` / ``--vault-chart pinned`` / ``--umbrella-chart pinned``: the public releases of one Big
    Bang release triple in versions.yaml (git URLs and tags, fetched where the machine has network); the triple is
    the one of --chart-version (default: the pinned ESO package release)."""
    if not any(values.get(setting) == PINNED for setting in PINNED_CHARTS):
        return
    release = pinned_release(versions, values.get("chart_version"))
    for setting, key in PINNED_CHARTS.items():
        if values.get(setting) == PINNED:
            values[setting], values[f"{setting}_version"] = str(versions["charts"][key]["git"]), release[key]
            sources[f"{setting}_version"] = "versions.yaml"


def _fill_version_defaults(values: dict[str, Any], sources: dict[str, str], versions: dict[str, Any]) -> None:
    images = versions.get("images", {})
    derived = {
        "eso_image": images.get("external_secrets", {}).get(
            "registry1" if values["images"] == "registry1" else "upstream"),
        "vault_version": str(images.get("vault", {}).get("upstream", "")).rpartition(":")[2] or None,
        "istio_version": str(versions.get("charts", {}).get("istio", {}).get("version", "")) or None,
        "kubernetes_version": versions.get("kubernetes", {}).get("version"),
    }
    for name, value in derived.items():
        if values[name] is None and value:
            values[name] = value
            sources[name] = "versions.yaml"
    if values.get("platform") is None:  # the live platform: --kubeconfig means the user's own cluster
        values["platform"] = "existing" if values.get("kubeconfig") else "kind"
    elif values["platform"] == "existing" and not values.get("kubeconfig"):
        raise ConfigError("--platform existing needs --kubeconfig (the cluster to test in)")


def node_image_for(versions: Mapping[str, Any], kubernetes_version: str | None) -> str:
    """The pinned kind node image of ``kubernetes_version`` (default: versions.yaml kubernetes.version)."""
    pins = versions["kubernetes"]
    wanted = str(kubernetes_version or pins["version"])
    wanted = wanted if wanted.startswith("v") else f"v{wanted}"
    images = pins["node_images"]
    if wanted not in images:
        raise ConfigError(f"--kubernetes-version {wanted}: no kind node image pinned for it; pinned: "
                          f"{', '.join(images)} (add one to kubernetes.node_images in manifests/versions.yaml)")
    return str(images[wanted])


def given(option: str, value: Any, source: str = "option") -> str:
    """How the user gave ``value`` for ``option``, for error lines: ``--chart X``, ``ESOCONF_CHART=X`` or
    ``profile key chart: X`` (a line that names an option the user never typed sends them looking in vain)."""
    name = option.removeprefix("--").replace("-", "_")
    if source == "env":
        return f"{ENV_PREFIX}{name.upper()}={value}"
    if source == "profile":
        return f"profile key {name}: {value}"
    return f"{option} {value}"


def misspelled_env(env: Mapping[str, str]) -> list[str]:
    """One warning per ``ESOCONF_*`` variable that is no setting (it would be silently ignored)."""
    import difflib

    known = [s.env for s in SETTINGS]
    warnings = []
    for name in sorted(n for n in env if n.startswith(ENV_PREFIX) and n not in known and n not in OTHER_ENV):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "see docs/configuration.md"
        warnings.append(f"{name} is not a setting and is ignored ({hint})")
    return warnings


REMOTE_CHART = re.compile(r"^(oci://|https?://|git@|git\+|ssh://)")


def is_remote_chart(ref: str) -> bool:
    return bool(REMOTE_CHART.match(ref))


def check_chart_ref(ref: str, version: str | None, option: str = "--chart", source: str = "option") -> None:
    """Validate a chart reference up front; one actionable line on failure (naming it as it was given)."""
    shown = given(option, ref, source)
    if is_remote_chart(ref):
        if not version:
            raise ConfigError(f"{shown} is remote: also give {option}-version (a chart version "
                              f"or git tag)")
        return
    path = Path(ref)
    if not path.exists():
        raise ConfigError(f"{shown}: no such file or directory; pass a chart directory (with "
                          f"Chart.yaml), a .tgz, an oci:// reference or a git URL")
    if path.is_dir() and not (path / "Chart.yaml").is_file():
        hint = " (did you mean its chart/ subfolder?)" if (path / "chart" / "Chart.yaml").is_file() else ""
        raise ConfigError(f"{shown}: folder has no Chart.yaml{hint}; point it at the chart directory")
    if path.is_file() and not path.name.endswith((".tgz", ".tar.gz")):
        raise ConfigError(f"{shown}: not a chart archive (.tgz) or directory")


def default_doc_for(chart: str | None) -> Path | None:
    """docs/VAULT_INTEGRATION.md in the package repo that holds a local chart directory."""
    if not chart or is_remote_chart(chart):
        return None
    path = Path(chart).resolve()
    for parent in [path, *path.parents][:4]:
        candidate = parent / "docs" / "VAULT_INTEGRATION.md"
        if candidate.is_file():
            return candidate
    return None
