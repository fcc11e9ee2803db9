"""One redaction layer for every output: terminal, JUnit, reports, diagnostics, subprocess errors.

Values are registered as they are created (Vault tokens, values written to Vault); patterns catch
the rest (Vault token formats, Secret ``data``/``stringData`` in YAML or JSON dumps).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import yaml

MARKER = "<redacted>"

# hvs./hvb./hvr. service/batch/recovery tokens, legacy s./b. tokens, and the dev root token "root" only
# where it is clearly a token value.
_TOKEN_PATTERNS = [
    re.compile(r"\bhv[sbr]\.[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\b[sb]\.[A-Za-z0-9]{24}\b"),
    re.compile(r"(?i)((?:x-vault-token|vault_token|root_token|client_token|token|unseal[ _]keys?(?:[ _]b64)?|"
               r"unseal key \d+|recovery[ _]keys?(?:[ _]b64)?)\s*[:=]\s*['\"]?)([^\s'\",}]+)"),
]
# YAML block: data:/stringData: followed by indented key: value lines
_YAML_DATA_BLOCK = re.compile(r"(?m)^(?P<indent>[ \t]*)(?P<key>data|stringData):[ \t]*\n"
                              r"(?P<body>(?:(?P=indent)[ \t]+\S.*\n?)+)")
_JSON_DATA = re.compile(r'"(data|stringData)"\s*:\s*\{[^{}]*\}')


FRAGMENT = 6  # a run of this many characters of a registered value is masked wherever it stands


class Redactor:
    """Masks registered values: whole, and any fragment of ``FRAGMENT`` or more characters (a value cut
    short by pytest's assertion repr, ``'...Qtkd70oB1Zdw'}``, or by a log line limit). Values registered
    with ``exact=True`` (public, fixed strings such as the dev root token) are masked whole only."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._exact: set[str] = set()
        self._grams: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: Any, exact: bool = False) -> None:
        """Register secret values (and their base64 forms, as they appear in Secret objects)."""
        with self._lock:
            for value in values:
                if value is None:
                    continue
                text = value if isinstance(value, str) else str(value)
                if len(text) < 4:  # too short to redact without mangling unrelated text
                    continue
                forms = {text, base64.b64encode(text.encode()).decode(), text.strip()}
                self._values |= forms
                if exact:
                    self._exact |= forms
                    continue
                for form in forms - self._exact:
                    self._grams.update(form[i : i + FRAGMENT] for i in range(len(form) - FRAGMENT + 1))

    def add_all(self, values: Iterable[Any]) -> None:
        self.add(*values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._exact.clear()
            self._grams.clear()

    def snapshot(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        """What is registered now (``restore`` returns to it: the self-tests isolate their canaries)."""
        with self._lock:
            return frozenset(self._values), frozenset(self._exact), frozenset(self._grams)

    def restore(self, state: tuple[frozenset[str], frozenset[str], frozenset[str]]) -> None:
        with self._lock:
            self._values, self._exact, self._grams = set(state[0]), set(state[1]), set(state[2])

    def leaks(self, text: str) -> list[str]:
        """What of the registered values ``text`` still holds, named without the value: ``value #3`` (whole) or
        ``fragment of value #3`` (for the artifact scans: a finding must not print the secret again)."""
        with self._lock:
            values = sorted(self._values)
            grams = frozenset(self._grams)
        found = []
        for number, value in enumerate(values):
            if value and value in text:
                found.append(f"value #{number}")
            elif any(value[i:i + FRAGMENT] in grams and value[i:i + FRAGMENT] in text
                     for i in range(len(value) - FRAGMENT + 1)):
                found.append(f"fragment of value #{number}")
        return found

    def __call__(self, text: str | None) -> str:
        if not text:
            return text or ""
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
            grams = frozenset(self._grams)
        for value in values:
            if value:
                text = text.replace(value, MARKER)
        text = _mask_fragments(text, grams)
        text = _TOKEN_PATTERNS[0].sub(MARKER, text)
        text = _TOKEN_PATTERNS[1].sub(MARKER, text)
        text = _TOKEN_PATTERNS[2].sub(lambda m: m.group(1) + MARKER, text)
        text = _YAML_DATA_BLOCK.sub(_redact_yaml_block, text)
        text = _JSON_DATA.sub(lambda m: f'"{m.group(1)}": "{MARKER}"', text)
        return text


def _mask_fragments(text: str, grams: frozenset[str]) -> str:
    """Replace every maximal run of overlapping ``FRAGMENT``-character windows found in ``grams``."""
    if not grams or len(text) < FRAGMENT:
        return text
    spans: list[list[int]] = []
    for i in range(len(text) - FRAGMENT + 1):
        if text[i : i + FRAGMENT] in grams:
            if spans and i <= spans[-1][1]:
                spans[-1][1] = i + FRAGMENT
            else:
                spans.append([i, i + FRAGMENT])
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], MARKER]
        last = end
    out.append(text[last:])
    return "".join(out)


def _redact_yaml_block(match: re.Match[str]) -> str:
    lines = match.group("body").splitlines(keepends=True)
    out = []
    for line in lines:
        key, sep, _ = line.partition(":")
        out.append(f"{key}: {MARKER}\n" if sep else line)
    return f"{match.group('indent')}{match.group('key')}:\n" + "".join(out)


def redact_object(obj: Any) -> Any:
    """Deep copy of a Kubernetes object with Secret data, stringData and token fields replaced."""
    if isinstance(obj, dict):
        result: dict[Any, Any] = {}
        for key, value in obj.items():
            if key in ("data", "stringData") and isinstance(value, dict) and _looks_like_secret_payload(obj):
                result[key] = {k: MARKER for k in value}
            elif isinstance(key, str) and key.lower() in {"token", "client_token", "root_token"}:
                result[key] = MARKER
            else:
                result[key] = redact_object(value)
        return result
    if isinstance(obj, list):
        return [redact_object(v) for v in obj]
    if isinstance(obj, str):
        return REDACT(obj)
    return obj


def _looks_like_secret_payload(parent: dict[str, Any]) -> bool:
    # Secret objects, and any dict holding data/stringData that is not an ExternalSecret spec list
    return parent.get("kind") in (None, "Secret") or "type" in parent


REDACT = Redactor()
"""The process-wide redactor; everything that prints or writes passes through it."""


# ------------------------------------------------------------------ the paths every output takes


def write_redacted(path: str | Path, content: Any) -> Path:
    """Write a diagnostics or report file: text through :data:`REDACT`; a dict/list (e.g. Kubernetes
    objects) through :func:`redact_object` and YAML (``.yaml``/``.yml``) or JSON (other suffixes)."""
    path = Path(path)
    if isinstance(content, str | bytes):
        text = content.decode(errors="replace") if isinstance(content, bytes) else content
    elif path.suffix in (".yaml", ".yml"):
        docs = content if isinstance(content, list) else [content]  # a list is a multi-document dump
        text = yaml.safe_dump_all([redact_object(o) for o in docs], sort_keys=False)
    else:
        text = json.dumps(redact_object(content), indent=2, default=str) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(REDACT(text), encoding="utf-8")
    return path


def redact_longrepr(longrepr: Any) -> Any:
    """Redact a pytest report's ``longrepr`` in place where it is a structure (tracebacks, crash lines,
    captured locals, chained exceptions); strings and skip tuples are returned redacted."""
    if longrepr is None:
        return None
    if isinstance(longrepr, str):
        return REDACT(longrepr)
    if isinstance(longrepr, tuple):
        return tuple(REDACT(x) if isinstance(x, str) else x for x in longrepr)
    _redact_fields(longrepr, set())
    return longrepr


def _redact_value(value: Any, seen: set[int]) -> Any:
    if isinstance(value, str):
        return REDACT(value)
    if isinstance(value, list):
        return [_redact_value(v, seen) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(v, seen) for v in value)
    if isinstance(value, dict):
        return {k: _redact_value(v, seen) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        _redact_fields(value, seen)
    return value


def _redact_fields(obj: Any, seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    names = [f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj) else list(vars(obj))
    for name in names:
        if name.startswith("__"):
            continue
        value = getattr(obj, name, None)
        object.__setattr__(obj, name, _redact_value(value, seen))


def redact_report(report: Any) -> None:
    """Redact everything a pytest TestReport/CollectReport carries to the terminal, JUnit and xdist:
    longrepr, captured sections (stdout, stderr, log), the xfail reason and any evidence string."""
    report.longrepr = redact_longrepr(report.longrepr)
    report.sections = [(title, REDACT(text)) for title, text in report.sections]
    for attr in ("wasxfail", "evidence"):
        value = getattr(report, attr, None)
        if isinstance(value, str):
            setattr(report, attr, REDACT(value))


class RedactingStream:
    """A text stream proxy that redacts every write (wraps the terminal writer's file)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(REDACT(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_log_state: dict[str, Any] = {"depth": 0, "factory": None}


def install_log_redaction() -> None:
    """Redact every log record's message where it is made (live logs, captured logs, any handler).
    Nested installs (a pytest run inside a pytest run) are counted; the outermost uninstall restores."""
    _log_state["depth"] += 1
    if _log_state["depth"] > 1:
        return
    _log_state["factory"] = factory = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own error handling
            return record
        record.msg, record.args = REDACT(message), ()
        return record

    logging.setLogRecordFactory(redacting_factory)


def uninstall_log_redaction() -> None:
    if _log_state["depth"] == 0:
        return
    _log_state["depth"] -= 1
    if _log_state["depth"] == 0 and _log_state["factory"] is not None:
        logging.setLogRecordFactory(_log_state["factory"])
        _log_state["factory"] = None
