"""Can the `local` platform run here? The same answers the doctor table and the pytest gate give."""

from __future__ import annotations

from pathlib import Path

from esoconf.charts import chart_info
from esoconf.config import Config, ConfigError, is_remote_chart
from esoconf.tools import find_tool

from .binaries import find_local_binaries


def eso_version_for(config: Config) -> str | None:
    """--eso-version, else the local chart's appVersion (a remote chart is resolved later)."""
    if config.eso_version:
        return str(config.eso_version)
    if config.chart and not is_remote_chart(str(config.chart)):
        try:
            return chart_info(Path(config.chart)).app_version
        except ConfigError:
            return None
    return None


def local_blockers(config: Config) -> str:
    """Why the local platform cannot run here ("" when it can): helm, kubectl and the platform's binaries."""
    problems: list[str] = []
    for tool in ("helm", "kubectl"):
        try:
            find_tool(tool, config.values.get(tool))
        except ConfigError as exc:
            problems.append(str(exc))
    # no chart and no --eso-version (e.g. the doctor alone): the ESO release the local tier builds by default
    pinned = str(config.versions.get("local", {}).get("eso", {}).get("version", ""))
    try:
        find_local_binaries(eso_version_for(config) or pinned, eso_bin=config.eso_bin, vault_bin=config.vault_bin)
    except ConfigError as exc:
        problems.append(str(exc))
    return "; ".join(problems)
