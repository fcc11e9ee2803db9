"""What setup reads before any cluster work: the tools (helm, kubectl), the charts under test and the doc; and
where other ESO releases come from (``upgrade_eso``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import doctor
from ...charts import resolve_chart
from ...config import Config, default_doc_for
from ...doc import VaultDoc, load_doc
from ...tools import find_tool
from .platform import ChartSources, PlatformUnavailable


@dataclass(frozen=True)
class Tools:
    helm: Path
    kubectl: Path
    helm_env: dict[str, str]


@dataclass(frozen=True)
class Inputs:
    """The charts and the doc, resolved before any cluster work."""

    eso_chart: Path
    vault_chart: Path
    doc: VaultDoc
    cache: Path


def find_tools(config: Config) -> Tools:
    helm_env = doctor.helm_env()
    return Tools(find_tool("helm", config.helm).path, find_tool("kubectl", config.kubectl).path, helm_env)


def chart_path(
    config: Config, versions: Mapping[str, Any], which: str, cache: Path, helm: Path, helm_env: dict[str, str]
) -> Path:
    pin = versions["charts"][which]
    option = "--chart" if which == "external_secrets" else "--vault-chart"
    ref = config.chart if which == "external_secrets" else config.vault_chart
    version = config.chart_version if which == "external_secrets" else config.vault_chart_version
    if not ref:
        ref, version = pin["git"], pin["version"]
    return resolve_chart(ref, version, cache_dir=cache, helm=helm, helm_env=helm_env, option=option)


def resolve_inputs(config: Config, tools: Tools, artifacts: Path) -> Inputs:
    """The charts, then the doc (which may live in the chart's git clone)."""
    cache = artifacts / "cache"
    eso_chart = chart_path(config, config.versions, "external_secrets", cache, tools.helm, tools.helm_env)
    vault_chart = chart_path(config, config.versions, "vault", cache, tools.helm, tools.helm_env)
    if not config.doc:
        found = default_doc_for(str(eso_chart))
        if found is not None:  # shared with the suites' doc_shapes fixture through the config
            config.values["doc"], config.sources["doc"] = str(found), "chart repo"
    if not config.doc:
        raise PlatformUnavailable(
            "live platform needs the doc under test: pass --doc VAULT_INTEGRATION.md "
            "(or a --chart inside the package repo)"
        )
    return Inputs(eso_chart, vault_chart, load_doc(config.doc), cache)


def chart_sources(config: Config, tools: Tools, cache: Path) -> ChartSources:
    return ChartSources(
        config.chart,
        str(config.versions["charts"]["external_secrets"]["git"]),
        lambda ref, version: resolve_chart(
            ref, version, cache_dir=cache, helm=tools.helm, helm_env=tools.helm_env, option="--from-chart-version"
        ),
    )
