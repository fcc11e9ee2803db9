"""YAML with libyaml's C loader/dumper where available (charts' CRD bundles are megabytes of YAML)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def load_all(text: str) -> Iterator[Any]:
    return yaml.load_all(text, Loader=_Loader)


def dump(data: Mapping[str, Any]) -> str:
    return yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False)
