"""The configuration reference, ``docs/configuration.md``, generated from the settings table in code
(:data:`esoconf.config.SETTINGS`), the profiles and tox.ini, so it cannot drift from them.

    scripts/run python -m esoconf.configdoc --write    # rewrite docs/configuration.md
    scripts/run python -m esoconf.configdoc --check    # exit 1 when docs/configuration.md is stale
    scripts/run python -m esoconf.configdoc            # print it

``tests/test_configdoc.py`` fails when the committed page and the code differ.
"""

from __future__ import annotations

import argparse
import configparser
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import (
    OTHER_ENV,
    PROFILES_DIR,
    PROJECT_ROOT,
    SETTINGS,
    TOX_DEFAULTS_ENV,
    Setting,
    load_profile,
    load_versions,
)

DOC = PROJECT_ROOT / "docs" / "configuration.md"
COMMAND = "scripts/run python -m esoconf.configdoc --write"

# defaults that are not one literal value: computed at run time (esoconf/config.py resolve) or by the tier
DEFAULT_SHOWN = {
    "umbrella_chart": "- (the suite's adapter, esoconf/adapter.py)",
    "doc": "`docs/VAULT_INTEGRATION.md` of the package repo holding the chart",
    "platform": "`kind` (`existing` with `--kubeconfig`)",
    "eso_version": "the chart's appVersion",
    "eso_image": "from versions.yaml (per `--images`)",
    "vault_version": "from versions.yaml",
    "istio_version": "from versions.yaml",
    "kubernetes_version": "from versions.yaml",
}

PROSE = """\
Every setting has one name and three ways to set it; precedence, highest first: command-line option,
environment variable, profile file (`manifests/profiles/<profile>.yaml`, or a path to a `.yaml`/`.toml` file of your
own), a tox env's own defaults (`{tox_env}` in tox.ini), then the default below. The pytest header prints every
setting whose value is not the built-in default (plus `profile`, `chart` and `doc`) with where it came from
(`option`, `env`, `profile`, `tox.ini`, `versions.yaml`, `Chart.yaml`, `chart repo`, `default`); the chart, doc and
version settings are also recorded as JUnit testsuite properties. Bad input (a chart path that does not exist or
has no `Chart.yaml`, a malformed or unknown profile, an unknown key, helm missing or too old, an unknown
`--kube-context`) is one `ERROR:` line, exit 3. A misspelled option is pytest's own usage error (exit 4); a
misspelled `ESOCONF_*` variable is a warning naming the closest setting.
"""


def _code(value: object) -> str:
    if isinstance(value, bool):
        value = str(value).lower()
    return f"`{value}`"


def profile_values(profiles_dir: Path = PROFILES_DIR) -> dict[str, dict[str, object]]:
    """profile name -> its settings (description left out)."""
    names = sorted({p.stem for p in profiles_dir.glob("*.yaml")} | {p.stem for p in profiles_dir.glob("*.toml")})
    return {name: {k: v for k, v in load_profile(name, profiles_dir).items() if k != "description"}
            for name in names}


def tox_defaults(tox_ini: Path = PROJECT_ROOT / "tox.ini") -> dict[str, dict[str, str]]:
    """tox env -> the settings its ``ESOCONF_TOX_DEFAULTS`` gives (``name=value,...``)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(tox_ini)
    found: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        for line in parser[section].get("set_env", "").splitlines():
            name, _, value = line.partition("=")
            if name.strip() == TOX_DEFAULTS_ENV:
                pairs = [item.partition("=") for item in value.split(",") if item.strip()]
                found[section.removeprefix("testenv:")] = {k.strip(): v.strip() for k, _, v in pairs}
    return found


def default_cell(setting: Setting, profiles: dict[str, dict[str, object]], tox: dict[str, dict[str, str]]) -> str:
    shown = DEFAULT_SHOWN.get(setting.name) or ("-" if setting.default is None else _code(setting.default))
    others = [f"`{name}` profile: {_code(values[setting.name])}" for name, values in profiles.items()
              if setting.name in values and values[setting.name] != setting.default]
    others += [f"`scripts/tox -e {env}`: {_code(values[setting.name])}" for env, values in tox.items()
               if setting.name in values]
    return shown + (f" ({'; '.join(others)})" if others else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(profiles_dir: Path = PROFILES_DIR) -> str:
    profiles, tox = profile_values(profiles_dir), tox_defaults()
    lines = ["# Configuration", "",
             f"<!-- generated from esoconf/config.py SETTINGS by `{COMMAND}`: do not edit by hand -->", "",
             PROSE.format(tox_env=TOX_DEFAULTS_ENV),
             "| Option | Environment variable | Profile key | Default | Meaning |", "|---|---|---|---|---|"]
    lines += [f"| `{s.option}` | `{s.env}` | `{s.name}` | {_cell(default_cell(s, profiles, tox))} | {_cell(s.help)} |"
              for s in SETTINGS]
    lines += ["", "## Profiles", "", "| Profile | What for | Settings |", "|---|---|---|"]
    for name, values in profiles.items():
        description = str(load_profile(name, profiles_dir).get("description", ""))
        settings = ", ".join(f"`{k}: {_code(v).strip('`')}`" for k, v in values.items())
        lines.append(f"| `{name}` | {_cell(description)} | {settings} |")
    pins = load_versions()
    kubernetes = ", ".join(str(v) for v in pins.get("kubernetes", {}).get("node_images", {}))
    lines += ["", "## Pins and other variables", "",
              "Pins (tools, kind node images by digest, charts, images per image set, the Big Bang release triples of "
              "`--chart pinned`) live in one file, `manifests/versions.yaml`, annotated for Renovate-style updaters. "
              f"Kubernetes versions with a pinned kind node image: {kubernetes}.", "",
              "`ESOCONF_*` variables that are not settings (never reported as misspelled): "
              + ", ".join(f"`{name}`" for name in sorted(OTHER_ENV)) + "."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m esoconf.configdoc", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite docs/configuration.md")
    mode.add_argument("--check", action="store_true", help="exit 1 when the committed page differs from the code")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(text, encoding="utf-8")
    elif args.check:
        if not DOC.is_file() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} differs from esoconf/config.py: run `{COMMAND}`", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
