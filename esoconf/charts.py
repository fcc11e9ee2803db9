"""Chart references (--chart, --vault-chart) resolved to something ``helm template`` can read.

Forms: a chart directory (used as is), a ``.tgz`` (helm reads it as is), ``oci://`` (``helm pull
--version``) and a git URL (``git clone --depth 1 --branch <version>``, then its ``chart/`` folder).
Remote ones are cached under ``<cache>/charts``. Failures are one actionable line.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import yamlio
from .config import ConfigError, EnvironmentProblem, check_chart_ref, is_remote_chart
from .runner import CommandError, run

FETCH_TIMEOUT = 300.0


@dataclass(frozen=True)
class ChartInfo:
    path: Path
    name: str
    version: str
    app_version: str
    values: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


# the first look that needs no network, named where a fetch fails (`--chart pinned` on a machine without it)
OFFLINE = " (offline: try `--chart reference`, the suite's own reference charts)"


def _slug(ref: str, version: str) -> str:
    tail = re.sub(r"[^A-Za-z0-9._-]+", "-", ref.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
    return f"{tail}-{version}-{hashlib.sha256(ref.encode()).hexdigest()[:8]}"


# what git and helm print when the network, not the reference, is the problem (observed: git "fatal: unable to
# access '...': Could not resolve host: repo1.dso.mil"; helm 'Get "https://...": dial tcp: lookup ... no such host')
UNREACHABLE = re.compile(r"(?i)could not resolve host|no such host|dial tcp|failed to connect|connection (refused|"
                         r"timed out|reset)|network is unreachable|no route to host|i/o timeout|tls handshake timeout|"
                         r"temporary failure in name resolution")


def _fetch_failed(exc: CommandError, message: str, shown: str) -> ConfigError:
    """A failed fetch: the environment's fault (exit 2, naming what the tool said about the network) when the
    network could not be reached, else the input's (``message``)."""
    lines = f"{exc.stderr_tail or ''}\n{exc.note or ''}".splitlines()
    found = next(((line, m) for line in lines if (m := UNREACHABLE.search(line))), None)
    if found is None and exc.returncode is not None:
        return ConfigError(message)
    why = re.sub(r" after \d+ ms", "", found[0][found[1].start():])[:70].rstrip() if found else (
        f"no answer within {FETCH_TIMEOUT:g}s")
    return EnvironmentProblem(f"{shown}: network unreachable ({why}); use a local chart or "
                              f"`--chart reference`")


def _first_line(exc: CommandError) -> str:
    lines = [line.strip() for line in (exc.stderr_tail or exc.note or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("fatal:", "error:"))]
    return (errors or lines or [f"exit code {exc.returncode}"])[0 if errors else -1]


def git_clone(url: str, version: str, dest: Path, option: str = "--chart") -> Path:
    """Shallow clone of tag/branch ``version``; returns the chart folder inside it."""
    if not (dest / ".git").is_dir():
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            run(["git", "clone", "--quiet", "--depth", "1", "--branch", version, url, str(dest)],
                timeout=FETCH_TIMEOUT, env={"GIT_TERMINAL_PROMPT": "0"})
        except CommandError as exc:
            raise _fetch_failed(exc, f"{option} {url}: git clone of {version!r} failed ({_first_line(exc)}); check "
                                     f"the URL, the tag and network access, or pass a local chart directory{OFFLINE}",
                                f"{option} {url}@{version}") from None
    for candidate in (dest / "chart", dest):
        if (candidate / "Chart.yaml").is_file():
            return candidate
    raise ConfigError(f"{option} {url}@{version}: no chart/Chart.yaml in the repository; pass the chart directory")


def helm_pull(ref: str, version: str, dest: Path, helm: str | Path, env: dict[str, str] | None = None,
              option: str = "--chart") -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    existing = sorted(dest.glob("*.tgz"))
    if existing:
        return existing[0]
    try:
        run([str(helm), "pull", ref, "--version", version, "--destination", str(dest)], env=env,
            timeout=FETCH_TIMEOUT)
    except CommandError as exc:
        raise _fetch_failed(exc, f"{option} {ref}: helm pull --version {version} failed ({_first_line(exc)}); check "
                                 f"the reference, registry login and network access, or pass a local chart{OFFLINE}",
                            f"{option} {ref}:{version}") from None
    pulled = sorted(dest.glob("*.tgz"))
    if not pulled:
        raise ConfigError(f"{option} {ref}: helm pull produced no .tgz in {dest}")
    return pulled[0]


def resolve_chart(ref: str, version: str | None, *, cache_dir: Path, helm: str | Path = "helm",
                  helm_env: dict[str, str] | None = None, option: str = "--chart") -> Path:
    """A local path helm can template (directory or .tgz)."""
    check_chart_ref(ref, version, option)
    if not is_remote_chart(ref):
        return Path(ref).resolve()
    assert version is not None  # checked above
    dest = cache_dir / "charts" / _slug(ref, version)
    if ref.startswith("oci://"):
        return helm_pull(ref, version, dest, helm, helm_env, option)
    url = ref.removeprefix("git+")
    return git_clone(url, version, dest, option)


def _read_member(archive: Path, relative: str) -> str | None:
    """The text of ``<chart>/<relative>`` in a chart archive (None when absent)."""
    wanted = relative.split("/")
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if parts[1:] == wanted and member.isfile():
                handle = tar.extractfile(member)
                return handle.read().decode("utf-8") if handle else None
    return None


def _member(chart: Path, name: str) -> str:
    return str(chart / name) if chart.is_dir() else f"{chart}:{name}"


def _parse_chart_yaml(chart: Path, name: str, text: str, option: str) -> Any:
    """One of the chart's YAML files; a syntax error is one line naming the file and line."""
    try:
        return yamlio.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{option} {chart}: {_member(chart, name)} is not valid YAML: {problem}{where}; fix "
                          f"the chart") from None


def chart_file(chart: Path, relative: str) -> str | None:
    """The text of a file of a chart directory or archive, e.g. ``crds/Kptfile`` (None when absent)."""
    if chart.is_dir():
        path = chart / relative
        return path.read_text(encoding="utf-8") if path.is_file() else None
    try:
        return _read_member(chart, relative)
    except (tarfile.TarError, OSError):
        return None


def chart_info(path: Path, option: str = "--chart") -> ChartInfo:
    """Chart.yaml and values.yaml of a chart directory or archive."""
    if path.is_dir():
        chart_text = (path / "Chart.yaml").read_text(encoding="utf-8") if (path / "Chart.yaml").is_file() else None
        values_file = path / "values.yaml"
        values_text = values_file.read_text(encoding="utf-8") if values_file.is_file() else ""
    else:
        try:
            chart_text = _read_member(path, "Chart.yaml")
            values_text = _read_member(path, "values.yaml") or ""
        except (tarfile.TarError, OSError, UnicodeDecodeError) as exc:
            why = "not a gzip-compressed tar file" if isinstance(exc, tarfile.ReadError) else (
                str(exc).splitlines()[0].rstrip(":"))
            raise ConfigError(f"{option} {path}: not a readable chart archive ({why}); pass a `helm package` "
                              f".tgz or a chart directory") from None
    if chart_text is None:
        raise ConfigError(f"{option} {path}: no Chart.yaml; point it at a chart directory or .tgz")
    meta = _parse_chart_yaml(path, "Chart.yaml", chart_text, option) or {}
    values = _parse_chart_yaml(path, "values.yaml", values_text, option) or {}
    if not isinstance(meta, dict):
        raise ConfigError(f"{option} {path}: {_member(path, 'Chart.yaml')} is not a mapping; fix the chart")
    return ChartInfo(path, str(meta.get("name", "?")), str(meta.get("version", "?")),
                     str(meta.get("appVersion", "")), values if isinstance(values, dict) else {})


# what a chart must look like to be the package under test
EXPECTED_PACKAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "--chart": ("external-secrets", ("clusterSecretStoreConfiguration", "externalSecretsConfiguration",
                                     "networkPolicies", "upstream")),
    "--vault-chart": ("vault", ("networkPolicies", "istio", "upstream")),
    "--umbrella-chart": ("bigbang", ("addons", "istiod", "networkPolicies")),
}


def check_package(info: ChartInfo, option: str) -> None:
    """One line when ``info`` is not the Big Bang package ``option`` expects."""
    name, keys = EXPECTED_PACKAGES[option]
    missing = [key for key in keys if key not in info.values]
    if info.name != name or missing:
        why = f"its Chart.yaml name is {info.name!r}" if info.name != name else (
            f"its values.yaml lacks {', '.join(missing)}")
        raise ConfigError(f"{option} {info.path} is not the Big Bang {name} package ({why}); pass the package "
                          f"chart (the chart/ folder of the {name} package repository)")
