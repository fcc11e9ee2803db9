"""One redaction layer for every output: terminal, JUnit, reports, diagnostics, subprocess errors.

Values are registered as they are created (Vault tokens, values written to Vault); patterns catch
the rest (Vault token formats, Secret ``data``/``stringData`` in YAML or JSON dumps).
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterable
from typing import Any

MARKER = "<redacted>"

# hvs./hvb./hvr. service/batch/recovery tokens, legacy s./b. tokens, and the dev root token "root" only
# where it is clearly a token value.
_TOKEN_PATTERNS = [
    re.compile(r"\bhv[sbr]\.[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\b[sb]\.[A-Za-z0-9]{24}\b"),
    re.compile(r"(?i)((?:x-vault-token|vault_token|root_token|client_token|token)\s*[:=]\s*['\"]?)"
               r"([^\s'\",}]+)"),
]
# YAML block: data:/stringData: followed by indented key: value lines
_YAML_DATA_BLOCK = re.compile(r"(?m)^(?P<indent>[ \t]*)(?P<key>data|stringData):[ \t]*\n"
                              r"(?P<body>(?:(?P=indent)[ \t]+\S.*\n?)+)")
_JSON_DATA = re.compile(r'"(data|stringData)"\s*:\s*\{[^{}]*\}')


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: Any) -> None:
        """Register secret values (and their base64 forms, as they appear in Secret objects)."""
        with self._lock:
            for value in values:
                if value is None:
                    continue
                text = value if isinstance(value, str) else str(value)
                if len(text) < 4:  # too short to redact without mangling unrelated text
                    continue
                self._values.add(text)
                self._values.add(base64.b64encode(text.encode()).decode())
                self._values.add(text.strip())

    def add_all(self, values: Iterable[Any]) -> None:
        self.add(*values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __call__(self, text: str | None) -> str:
        if not text:
            return text or ""
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value:
                text = text.replace(value, MARKER)
        text = _TOKEN_PATTERNS[0].sub(MARKER, text)
        text = _TOKEN_PATTERNS[1].sub(MARKER, text)
        text = _TOKEN_PATTERNS[2].sub(lambda m: m.group(1) + MARKER, text)
        text = _YAML_DATA_BLOCK.sub(_redact_yaml_block, text)
        text = _JSON_DATA.sub(lambda m: f'"{m.group(1)}": "{MARKER}"', text)
        return text


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
        result = {}
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
