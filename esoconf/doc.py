"""VAULT_INTEGRATION.md under test: its fenced code blocks, found by section heading.

The render tier takes its input values from the document itself. Every block is addressed by the
heading path it sits under (``SECTIONS``); when the document is reorganised the suite stops with one
line naming the section it could not find, instead of silently testing something else.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .config import ConfigError

# key -> heading path (outermost first). Matching ignores case, markdown emphasis/backticks and
# repeated spaces; each element must match a heading nested below the previous one.
SECTIONS: dict[str, tuple[str, ...]] = {
    "network": ("Prerequisites", "Network and Istio Requirements"),
    "token-secret": ("Authentication Method: Token", "Create a Secret containing your Vault Token"),
    "token": ("Authentication Method: Token", "Big Bang Override Values"),
    "kubernetes-vault": ("Authentication Method: Kubernetes", "Configure Vault"),
    "kubernetes": ("Authentication Method: Kubernetes", "Big Bang Override Values"),
    "data": ("Fetching Secrets with ExternalSecret", "Using individual keys (`data`)"),
    "dataFrom": ("Fetching Secrets with ExternalSecret", "Using all keys from a path (`dataFrom`)"),
    "troubleshooting": ("Troubleshooting",),
}
# what each section must contain for the suite to use it
REQUIRED_LANG: dict[str, str] = {
    "network": "yaml", "token-secret": "shell", "token": "yaml", "kubernetes-vault": "shell",
    "kubernetes": "yaml", "data": "yaml", "dataFrom": "yaml", "troubleshooting": "yaml",
}
SHELL_LANGS = {"bash", "sh", "shell", "console", "zsh"}
YAML_LANGS = {"yaml", "yml"}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
_HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.+?)[ \t#]*$")


@cache  # the same few headings, compared for every section lookup of every test
def normalise_heading(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[`*_]", "", text)).strip().lower()


@dataclass(frozen=True)
class Snippet:
    """One fenced code block: where it is, what language, its text and (YAML) parsed data."""

    section: tuple[str, ...]  # heading titles, outermost first
    lang: str  # yaml | shell | other info string
    text: str
    line: int  # 1-based line of the opening fence
    data: Any = None

    @property
    def where(self) -> str:
        return " / ".join(self.section[1:] or self.section)


@dataclass(frozen=True)
class VaultDoc:
    path: Path
    snippets: tuple[Snippet, ...]
    headings: tuple[tuple[str, ...], ...] = field(repr=False, default=())

    def blocks(self, key: str, lang: str | None = None) -> list[Snippet]:
        """Blocks under the section ``key`` of :data:`SECTIONS` (nested subsections included)."""
        wanted = SECTIONS[key]
        found = [s for s in self.snippets if _under(s.section, wanted)]
        return [s for s in found if lang is None or s.lang == lang]

    def yaml(self, key: str) -> Snippet:
        """The first YAML block of a section (checked to exist when the doc was loaded)."""
        blocks = self.blocks(key, "yaml")
        if not blocks:
            raise ConfigError(f"doc changed: section {section_title(key)!r} has no YAML block in {self.path}; "
                              f"the suite must follow")
        return blocks[0]

    def shell(self, key: str) -> list[Snippet]:
        return self.blocks(key, "shell")


def section_title(key: str) -> str:
    return " / ".join(SECTIONS[key])


def _under(path: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    position = 0
    for heading in path:
        if position < len(wanted) and normalise_heading(heading) == normalise_heading(wanted[position]):
            position += 1
    return position == len(wanted)


def _lang(info: str) -> str:
    info = info.lower()
    if info in YAML_LANGS:
        return "yaml"
    if info in SHELL_LANGS:
        return "shell"
    return info or "text"


def parse_markdown(text: str) -> tuple[list[Snippet], list[tuple[str, ...]]]:
    """Fenced blocks with their heading path (no YAML parsing here)."""
    stack: list[tuple[int, str]] = []
    snippets: list[Snippet] = []
    headings: list[tuple[str, ...]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            indent, marker = len(fence["indent"].expandtabs()), fence["fence"]
            body: list[str] = []
            start = index
            index += 1
            while index < len(lines) and not lines[index].strip().startswith(marker):
                body.append(lines[index])
                index += 1
            dedented = [b[indent:] if b[:indent].strip() == "" else b.lstrip() for b in body]
            snippets.append(Snippet(tuple(t for _, t in stack), _lang(fence["info"]), "\n".join(dedented) + "\n",
                                    start + 1))
            index += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            level = len(heading["hashes"])
            stack = [(lvl, title) for lvl, title in stack if lvl < level] + [(level, heading["title"].strip())]
            headings.append(tuple(t for _, t in stack))
        index += 1
    return snippets, headings


DOC_MAX_BYTES = 1 << 20  # the published doc is ~20 KB; /dev/zero or a disk image is not a doc


def check_doc_file(path: str | Path, shown: str = "") -> None:
    """The doc must be a regular file under :data:`DOC_MAX_BYTES` (checked before it is read: ``/dev/zero``
    would be read until memory runs out). ``shown``: how the user gave it (default ``--doc <path>``)."""
    shown = shown or f"--doc {path}"
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read it ({exc.strerror}); pass the VAULT_INTEGRATION.md under "
                          f"test") from None
    if not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, pipe or socket)"
        raise ConfigError(f"{shown}: {what}; pass the VAULT_INTEGRATION.md under test")
    if info.st_size > DOC_MAX_BYTES:
        raise ConfigError(f"{shown}: {info.st_size} bytes, more than a VAULT_INTEGRATION.md can be (limit "
                          f"{DOC_MAX_BYTES} bytes); pass the doc under test")


def load_doc(path: str | Path, required: Iterable[str] = SECTIONS) -> VaultDoc:
    """Parse the doc; one-line :class:`ConfigError` when it cannot be what the suite relies on."""
    doc_path = Path(path)
    check_doc_file(doc_path)
    try:
        text = doc_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--doc {doc_path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); save it as UTF-8 or pass the VAULT_INTEGRATION.md under test") from None
    except OSError as exc:
        raise ConfigError(f"--doc {doc_path}: cannot read it ({exc.strerror}); pass the VAULT_INTEGRATION.md "
                          f"under test") from None
    return _load_text(str(doc_path), text, tuple(required))


@cache
def _load_text(name: str, text: str, required: tuple[str, ...]) -> VaultDoc:
    raw, headings = parse_markdown(text)
    tops = sorted({SECTIONS[key][0] for key in required})
    if required and not any(_under(h, (top,)) for h in headings for top in tops):
        raise ConfigError(f"--doc {name} is not a VAULT_INTEGRATION.md: none of its sections is there (e.g. "
                          f"{tops[0]!r}); pass the package's docs/VAULT_INTEGRATION.md")
    if not any(s.lang == "yaml" for s in raw):
        raise ConfigError(f"doc {name} has no ```yaml code blocks: it is not the VAULT_INTEGRATION.md the suite "
                          f"tests (pass the right file with --doc)")
    parsed: list[Snippet] = []
    for snippet in raw:
        if snippet.lang != "yaml":
            parsed.append(snippet)
            continue
        try:
            data = yaml.safe_load(snippet.text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = snippet.line + 1 + mark.line if mark is not None else snippet.line
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"doc {name}: the YAML block in section {snippet.where!r} does not parse "
                              f"(line {line}: {problem}); fix the snippet") from None
        if not isinstance(data, dict):
            raise ConfigError(f"doc {name}: the YAML block in section {snippet.where!r} (line {snippet.line}) "
                              f"is not a mapping of values; fix the snippet")
        parsed.append(Snippet(snippet.section, "yaml", snippet.text, snippet.line, data))
    doc = VaultDoc(Path(name), tuple(parsed), tuple(headings))
    for key in required:
        path = SECTIONS[key]
        for depth in range(1, len(path) + 1):
            if not any(_under(h, path[:depth]) for h in headings):
                raise ConfigError(f"doc changed: section {' / '.join(path[:depth])!r} not found in {name}; the "
                                  f"suite must follow (update esoconf/doc.py SECTIONS)")
        lang = REQUIRED_LANG.get(key)
        if lang and not doc.blocks(key, lang):
            raise ConfigError(f"doc changed: section {section_title(key)!r} has no {lang} block in {name}; the "
                              f"suite must follow")
    return doc
