"""Partial-object matching for Kubernetes objects.

``expected`` is a partial object: dicts match as subsets, a list matches when every expected element
matches *some* actual element (order never matters), and :class:`Matcher` instances (``OneOf``,
``Contains``, ``Regex``, ``Absent``, ``Anything``) match by predicate. Failures name the field path and
show a YAML diff. Conditions are looked up by type, never by position.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from .redact import REDACT, redact_object


class Matcher:
    def matches(self, actual: Any) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        raise NotImplementedError


class OneOf(Matcher):
    def __init__(self, *options: Any) -> None:
        self.options = options

    def matches(self, actual: Any) -> bool:
        return any(not mismatches(option, actual) for option in self.options)

    def __repr__(self) -> str:
        return f"OneOf({', '.join(map(repr, self.options))})"


class Contains(Matcher):
    """Substring of a string, or an element (partial match) of a list."""

    def __init__(self, *items: Any) -> None:
        self.items = items

    def matches(self, actual: Any) -> bool:
        if isinstance(actual, str):
            return all(isinstance(i, str) and i in actual for i in self.items)
        if isinstance(actual, list):
            return all(any(not mismatches(i, a) for a in actual) for i in self.items)
        return False

    def __repr__(self) -> str:
        return f"Contains({', '.join(map(repr, self.items))})"


class Regex(Matcher):
    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = re.compile(pattern, flags)

    def matches(self, actual: Any) -> bool:
        return isinstance(actual, str) and self.pattern.search(actual) is not None

    def __repr__(self) -> str:
        return f"Regex({self.pattern.pattern!r})"


class Absent(Matcher):
    """The key must not be present (only meaningful as a dict value)."""

    def matches(self, actual: Any) -> bool:
        return actual is _MISSING

    def __repr__(self) -> str:
        return "Absent()"


class Anything(Matcher):
    def matches(self, actual: Any) -> bool:
        return actual is not _MISSING

    def __repr__(self) -> str:
        return "Anything()"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


@dataclass(frozen=True)
class Mismatch:
    path: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"{self.path}: expected {self.expected!r}, got {REDACT(repr(self.actual))}"


def mismatches(expected: Any, actual: Any, path: str = "$") -> list[Mismatch]:
    if isinstance(expected, Matcher):
        return [] if expected.matches(actual) else [Mismatch(path, expected, actual)]
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [Mismatch(path, dict(expected), actual)]
        found: list[Mismatch] = []
        for key, value in expected.items():
            found += mismatches(value, actual.get(key, _MISSING), f"{path}.{key}")
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [Mismatch(path, expected, actual)]
        found = []
        for index, item in enumerate(expected):
            if not any(not mismatches(item, candidate) for candidate in actual):
                found.append(Mismatch(f"{path}[?{index}]", item, "no element matches"))
        return found
    if expected == actual and type(expected) is type(actual):
        return []
    if isinstance(expected, int | float) and isinstance(actual, int | float) and not isinstance(
            expected, bool) and not isinstance(actual, bool) and expected == actual:
        return []
    return [Mismatch(path, expected, actual)]


def matches(actual: Any, expected: Any) -> bool:
    return not mismatches(expected, actual)


def _plain(value: Any) -> Any:
    if isinstance(value, Matcher | _Missing):
        return repr(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _project(actual: Any, expected: Any) -> Any:
    """The part of ``actual`` that ``expected`` talks about, so the diff stays readable."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        return {k: _project(actual.get(k, _MISSING), v) for k, v in expected.items()}
    return actual


def yaml_diff(expected: Any, actual: Any) -> str:
    left = yaml.safe_dump(_plain(redact_object(_plain(expected))), sort_keys=False).splitlines()
    shown = _plain(redact_object(_plain(_project(actual, expected))))
    right = yaml.safe_dump(shown, sort_keys=False).splitlines()
    return REDACT("\n".join(difflib.unified_diff(left, right, "expected", "actual", lineterm="")))


class MatchError(AssertionError):
    pass


def assert_matches(actual: Any, expected: Any, what: str = "object") -> None:
    __tracebackhide__ = True
    found = mismatches(expected, actual)
    if found:
        lines = [f"{what} does not match ({len(found)} field(s)):"]
        lines += [f"  - {m}" for m in found]
        diff = yaml_diff(expected, actual).splitlines()
        lines += ["  diff (expected -> actual):", *("    " + line for line in diff)]
        raise MatchError("\n".join(lines))


def condition(obj: Mapping[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The status condition of ``type_`` (looked up by type, never by index), or None."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def assert_condition(obj: Mapping[str, Any], type_: str, **expected: Any) -> None:
    __tracebackhide__ = True
    kind = obj.get("kind", "object")
    name = (obj.get("metadata") or {}).get("name", "?")
    found = condition(obj, type_)
    if found is None:
        present = [c.get("type") for c in ((obj.get("status") or {}).get("conditions") or [])]
        raise MatchError(f"{kind}/{name}: no condition of type {type_!r} (present: {present or 'none'})")
    assert_matches(found, expected, f"{kind}/{name} condition {type_}")


def find_objects(objects: Sequence[Mapping[str, Any]], kind: str, name: str | None = None,
                 namespace: str | None = None) -> list[Mapping[str, Any]]:
    out = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") != kind:
            continue
        if name is not None and meta.get("name") != name:
            continue
        if namespace is not None and meta.get("namespace") != namespace:
            continue
        out.append(obj)
    return out
