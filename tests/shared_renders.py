"""Renders shared between mutants, so the mutant proofs run helm a fraction as often.

Helm renders every template file on its own: with the same values, a template's documents do not depend on another
template file's text (named templates live in ``_helpers.tpl``, and a mutant that edits one, or edits values.yaml,
crds/, a subchart or anything outside ``templates/``, is never shared). So the shareable mutants of one package are
applied together to one "combined" chart: each member's version of a template file it edits is written there, under
the file's own name for the first member that edits it and as a variant file beside it (``x.variant-2.yaml``) for
every other one (a template that reads its own name, ``.Template``, is never shared). A mutant's ``helm template``
output is then the unmutated chart's output with the documents of the mutant's own template files taken from the
combined chart's (their ``# Source:`` line from the unmutated chart's).

Exactness: both renders must succeed (a failing render of either, e.g. another mutant of the group breaking helm with
these values, falls back to the real ``helm template`` of the mutant alone), and each of the mutant's template files
must give documents of the same kinds in the same number in both (helm orders documents by kind, then by file), else
the real render runs too. ``tests/test_mutants.py`` checks composed against real output for the members of a group
that share a file.

Every ``helm template`` is also kept by the chart's content (every file, links followed), the release, the namespace
and the values file's content: a mutant's copy of a subchart it does not touch (the controller's CRD render) is then
helm's output for the unmutated subchart, rendered once per process.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mutants import CHARTS, Edit, Mutant, apply

from esoconf.runner import Result

DOC_START = re.compile(r"(?m)^---\n")
SOURCE = re.compile(r"\A# Source: [^/\n]+/(\S+)\n")
KIND = re.compile(r"(?m)^kind: *(\S+)")


def shareable(m: Mutant) -> bool:
    """Only edits of template files that define no named template and do not read their own name (their output is
    theirs alone, under any file name)."""
    def alone(file: str) -> bool:
        text = (CHARTS[m.package] / file).read_text(encoding="utf-8")
        return "define" not in text and ".Template" not in text
    return all(isinstance(e, Edit) and e.file.startswith("templates/") and not e.file.endswith(".tpl")
               and alone(e.file) for e in m.edits)


def files_of(m: Mutant) -> frozenset[str]:
    return frozenset(e.file for e in m.edits)


def groups(mutants: Iterable[Mutant]) -> list[tuple[Mutant, ...]]:
    """The shareable mutants of each package (those of a package with one alone: nothing to share)."""
    found: dict[str, list[Mutant]] = {}
    for m in mutants:
        if shareable(m):
            found.setdefault(m.package, []).append(m)
    return [tuple(g) for g in found.values() if len(g) > 1]


def variant(file: str, n: int) -> str:
    """The name of the n-th member's version of ``file`` in a combined chart (n = 0: the file itself)."""
    stem, dot, suffix = file.rpartition(".")
    return f"{stem}.variant-{n}.{suffix}" if n else file


def documents(text: str) -> list[str]:
    return [doc for doc in DOC_START.split(text) if doc.strip()]


def source_of(doc: str) -> str:
    match = SOURCE.match(doc)
    return match.group(1) if match else ""


def compose(base: str, combined: str, sources: Mapping[str, str]) -> str | None:
    """``base`` with the documents of each file ``f`` in ``sources`` replaced by those of ``sources[f]`` in
    ``combined`` (their first line, the ``# Source:`` comment, kept); None when they cannot be placed exactly."""
    mine = {file: [doc for doc in documents(combined) if source_of(doc) == there] for file, there in sources.items()}
    theirs = {file: [doc for doc in documents(base) if source_of(doc) == file] for file in sources}
    if any([KIND.findall(d)[:1] for d in mine[f]] != [KIND.findall(d)[:1] for d in theirs[f]] for f in sources):
        return None
    replacement = {file: iter(docs) for file, docs in mine.items()}

    def placed(doc: str) -> str:
        file = source_of(doc)
        if file not in sources:
            return doc
        head = doc.partition("\n")[0]
        return head + "\n" + next(replacement[file]).partition("\n")[2]
    return "".join("---\n" + placed(doc) for doc in documents(base))


def content_digest(chart: Path) -> str:
    """Every file of the chart (links followed, as helm loads it): path and bytes."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(chart, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder, name)
            digest.update(f"{path.relative_to(chart)}\0{path.stat().st_size}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Member:
    combined: Path  # the group's chart with every member's edits
    base: Path  # the unmutated fixture chart
    sources: Mapping[str, str]  # each template file the mutant edits -> its version's file in the combined chart


def combine(group: Sequence[Mutant], dest: Path) -> dict[str, dict[str, str]]:
    """Write the group's combined chart at ``dest``; returns, per member, where each of its files' versions is."""
    shutil.copytree(CHARTS[group[0].package], dest)
    placed: dict[str, int] = {}  # file -> versions written
    where: dict[str, dict[str, str]] = {}
    for member in group:
        where[member.id] = {}
        for file in sorted(files_of(member)):
            text = (CHARTS[member.package] / file).read_text(encoding="utf-8")
            for edit in member.edits:
                assert isinstance(edit, Edit)
                if edit.file == file:
                    text = text.replace(edit.old, edit.new)
            there = variant(file, placed.get(file, 0))
            placed[file] = placed.get(file, 0) + 1
            (dest / there).write_text(text, encoding="utf-8")
            where[member.id][file] = there
    return where


class SharedRenders:
    """Stands in for ``esoconf.render.helm.run``: ``helm template`` of a registered mutant chart is composed from two
    cached renders; every ``helm template`` is kept by the chart's content; every other command (and every case that
    cannot be composed exactly) runs for real."""

    def __init__(self, real: Callable[..., Any], workdir: Path) -> None:
        self.real, self.workdir = real, workdir
        self.members: dict[Path, Member] = {}
        self.combined: dict[tuple[str, ...], tuple[Path, dict[str, dict[str, str]]]] = {}
        self.shared = self.fallbacks = 0
        self._lock = threading.Lock()
        self._outputs: dict[tuple[str, ...], Future[Any]] = {}

    def register(self, group: Sequence[Mutant], mutant: Mutant, chart: Path) -> None:
        key = tuple(m.id for m in group)
        with self._lock:
            if key not in self.combined:
                dest = self.workdir / f"group-{len(self.combined)}" / mutant.package
                self.combined[key] = (dest, combine(group, dest))
            dest, where = self.combined[key]
            self.members[chart.resolve()] = Member(dest, CHARTS[mutant.package], where[mutant.id])

    def _output(self, cmd: Sequence[str], kwargs: dict[str, Any]) -> Any:
        """The real run of ``helm template`` once per process for the same chart content, release, namespace and
        values (its exception, too, is kept)."""
        # the chart by its content, the values file by its content (each render tier run writes its own copy)
        key = tuple(Path(arg).read_text(encoding="utf-8") if flag == "-f" else
                    content_digest(Path(arg)) if i == 3 and Path(arg).is_dir() else arg
                    for i, (flag, arg) in enumerate(zip(["", *cmd], cmd, strict=False)))
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
        if future.exception() is not None and tuple(map(str, cmd)) != getattr(future.exception(), "cmd", None):
            return self.real(cmd, **kwargs)  # helm's error names this chart's path: its own run says it
        return replace(future.result(), cmd=tuple(map(str, cmd)))

    def __call__(self, cmd: Sequence[str], **kwargs: Any) -> Any:
        if len(cmd) <= 3 or cmd[1] != "template":
            return self.real(cmd, **kwargs)
        member = self.members.get(Path(cmd[3]).resolve())
        if member is None:
            return self._output(cmd, kwargs)
        try:
            base = self._output([*cmd[:3], str(member.base), *cmd[4:]], kwargs)
            combined = self._output([*cmd[:3], str(member.combined), *cmd[4:]], kwargs)
        except Exception:  # noqa: BLE001 - one of the two does not render: the mutant alone decides
            text = None
        else:
            text = compose(base.stdout, combined.stdout, member.sources)
        if text is None:
            self.fallbacks += 1
            return self.real(cmd, **kwargs)
        self.shared += 1
        return Result(tuple(map(str, cmd)), 0, text, "", base.duration)


__all__ = ["SharedRenders", "apply", "compose", "groups", "shareable"]
