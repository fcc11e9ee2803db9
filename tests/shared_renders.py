"""Renders shared between mutants that edit different templates, so the mutant proofs run helm a fraction as often.

Helm renders every template file on its own: with the same values, a template's documents do not depend on another
template file's text (named templates live in ``_helpers.tpl``, and a mutant that edits one, or edits values.yaml,
crds/, a subchart or anything outside ``templates/``, is never shared). So mutants of one package that edit
*different* template files are applied together to one "combined" chart; a mutant's ``helm template`` output is then
the unmutated chart's output with the documents of the mutant's own template files taken from the combined chart's.

Exactness: both renders must succeed (a failing render of either, e.g. another mutant of the group breaking helm with
these values, falls back to the real ``helm template`` of the mutant alone), and the mutant's template files must give
documents of the same kinds in the same number in both (helm orders documents by kind, then by file), else the real
render runs too. ``tests/test_mutants.py`` checks composed against real output for a whole group.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mutants import CHARTS, Edit, Mutant, apply

from esoconf.runner import Result

DOC_START = re.compile(r"(?m)^---\n")
SOURCE = re.compile(r"\A# Source: [^/\n]+/(\S+)\n")
KIND = re.compile(r"(?m)^kind: *(\S+)")


def shareable(m: Mutant) -> bool:
    """Only edits of template files that define no named template (their output is theirs alone)."""
    return all(isinstance(e, Edit) and e.file.startswith("templates/") and not e.file.endswith(".tpl")
               and "define" not in (CHARTS[m.package] / e.file).read_text(encoding="utf-8") for e in m.edits)


def files_of(m: Mutant) -> frozenset[str]:
    return frozenset(e.file for e in m.edits)


def groups(mutants: Iterable[Mutant]) -> list[tuple[Mutant, ...]]:
    """Shareable mutants of one package, first fit into groups whose members edit disjoint files."""
    found: list[list[Mutant]] = []
    for m in mutants:
        if not shareable(m):
            continue
        home = next((g for g in found if g[0].package == m.package
                     and not any(files_of(m) & files_of(other) for other in g)), None)
        if home is None:
            found.append([m])
        else:
            home.append(m)
    return [tuple(g) for g in found if len(g) > 1]


def documents(text: str) -> list[str]:
    return [doc for doc in DOC_START.split(text) if doc.strip()]


def source_of(doc: str) -> str:
    match = SOURCE.match(doc)
    return match.group(1) if match else ""


def compose(base: str, combined: str, files: frozenset[str]) -> str | None:
    """``base`` with the documents of ``files`` taken from ``combined``; None when they cannot be placed exactly."""
    mine = [doc for doc in documents(combined) if source_of(doc) in files]
    theirs = [doc for doc in documents(base) if source_of(doc) in files]
    if [KIND.findall(d)[:1] for d in mine] != [KIND.findall(d)[:1] for d in theirs]:
        return None
    replacement = iter(mine)
    return "".join("---\n" + (next(replacement) if source_of(doc) in files else doc) for doc in documents(base))


@dataclass(frozen=True)
class Member:
    combined: Path  # the group's chart with every member's edits
    base: Path  # the unmutated fixture chart
    files: frozenset[str]


class SharedRenders:
    """Stands in for ``esoconf.render.helm.run``: ``helm template`` of a registered mutant chart is composed from two
    cached renders; every other command (and every case that cannot be composed exactly) runs for real."""

    def __init__(self, real: Callable[..., Any], workdir: Path) -> None:
        self.real, self.workdir = real, workdir
        self.members: dict[Path, Member] = {}
        self.combined: dict[tuple[str, ...], Path] = {}
        self.shared = self.fallbacks = 0
        self._lock = threading.Lock()
        self._outputs: dict[tuple[str, ...], Future[Any]] = {}

    def register(self, group: Sequence[Mutant], mutant: Mutant, chart: Path) -> None:
        key = tuple(m.id for m in group)
        with self._lock:
            if key not in self.combined:
                dest = self.workdir / f"group-{len(self.combined)}"
                shutil.copytree(CHARTS[mutant.package], dest / mutant.package)
                for member in group:  # each member's edits, on the one copy
                    for edit in member.edits:
                        assert isinstance(edit, Edit)
                        path = dest / mutant.package / edit.file
                        path.write_text(path.read_text(encoding="utf-8").replace(edit.old, edit.new), encoding="utf-8")
                self.combined[key] = dest / mutant.package
            self.members[chart.resolve()] = Member(self.combined[key], CHARTS[mutant.package], files_of(mutant))

    def _output(self, cmd: Sequence[str], kwargs: dict[str, Any]) -> Any:
        """The real run of ``cmd`` once per process (its exception, too, is kept)."""
        # by the values file's content: each render tier run writes its own copy
        key = tuple(Path(arg).read_text(encoding="utf-8") if flag == "-f" else arg
                    for flag, arg in zip(["", *cmd], cmd, strict=False))
        with self._lock:
            future = self._outputs.get(key)
            owner = future is None
            if owner:
                future = self._outputs[key] = Future()
        assert future is not None
        if owner:
            try:
                future.set_result(self.real(cmd, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - kept for every caller of this command
                future.set_exception(exc)
        return future.result()

    def __call__(self, cmd: Sequence[str], **kwargs: Any) -> Any:
        member = self.members.get(Path(cmd[3]).resolve()) if len(cmd) > 3 and cmd[1] == "template" else None
        if member is None:
            return self.real(cmd, **kwargs)
        try:
            base = self._output([*cmd[:3], str(member.base), *cmd[4:]], kwargs)
            combined = self._output([*cmd[:3], str(member.combined), *cmd[4:]], kwargs)
        except Exception:  # noqa: BLE001 - one of the two does not render: the mutant alone decides
            text = None
        else:
            text = compose(base.stdout, combined.stdout, member.files)
        if text is None:
            self.fallbacks += 1
            return self.real(cmd, **kwargs)
        self.shared += 1
        return Result(tuple(map(str, cmd)), 0, text, "", base.duration)


__all__ = ["SharedRenders", "apply", "compose", "groups", "shareable"]
