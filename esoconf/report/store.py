"""Reading and writing reports: diagnostics and phase records in the artifacts folder, the JSON schema,
loading a report.json, and writing a run's folder (every byte through the redactor).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ..redact import write_redacted
from .html import to_html
from .markdown import to_markdown
from .model import (
    DIAGNOSTICS_DIR,
    KEEP_RUNS,
    LATEST,
    NOT_RUN,
    REPORT_FILES,
    RUNS_DIR,
    SCHEMA_VERSION,
    VERDICT_ORDER,
    ClaimInfo,
    Exit,
    Report,
    RunInfo,
    TestResult,
    build_report,
)


def diagnostics_dir(artifacts_dir: str | Path, nodeid: str) -> Path:
    """Where a test's diagnostics go (the report links every file found there to the test); the same
    folder the live tier's collector writes (``esoconf.live.diagnostics.safe_name``)."""
    from ..live.diagnostics import safe_name

    return Path(artifacts_dir) / DIAGNOSTICS_DIR / safe_name(nodeid)


def _phase_records(artifacts_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every phases file the live tier wrote (``phases.json``, or one per xdist worker: ``phases-gw0.json``), with
    the worker it came from ("" for the single process)."""
    found = []
    for path in sorted(Path(artifacts_dir).glob("phases*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found.append((path.stem.removeprefix("phases").lstrip("-"), data))
    return found


def read_phases(artifacts_dir: Path) -> dict[str, float]:
    """Phase timings written by the live tier ({"phases": {"cluster": secs, ...}}), merged over the xdist workers'
    files: a phase timed by several workers is shown once per worker (``seeding@gw1``)."""
    timed: list[tuple[str, dict[str, float]]] = []
    for worker, data in _phase_records(artifacts_dir):
        try:
            timed.append((worker, {str(k): float(v) for k, v in (data.get("phases") or {}).items()}))
        except (AttributeError, TypeError, ValueError):
            continue
    seen = Counter(name for _, phases in timed for name in phases)
    return {(f"{name}@{worker}" if seen[name] > 1 and worker else name): seconds
            for worker, phases in timed for name, seconds in phases.items()}


def read_fidelity(artifacts_dir: Path) -> tuple[dict[str, list[str]], str]:
    """(platform -> what differed from a cluster, the controller skew line) from the phases files, merged over
    xdist workers (each line once, in order)."""
    fidelity: dict[str, list[str]] = {}
    skew = ""
    for _, data in _phase_records(artifacts_dir):
        platform = str(data.get("platform") or "")
        lines = fidelity.setdefault(platform, []) if platform else []
        for line in data.get("differences") or []:
            if str(line) not in lines:
                lines.append(str(line))
        skew = skew or str(data.get("skew") or "")
    return {k: v for k, v in fidelity.items() if v}, skew


def list_diagnostics(artifacts_dir: Path, limit: int = 500) -> list[str]:
    root = Path(artifacts_dir) / DIAGNOSTICS_DIR
    if not root.is_dir():
        return []
    files = sorted(p for p in root.rglob("*") if p.is_file())[:limit]
    return [p.relative_to(artifacts_dir).as_posix() for p in files]


# ------------------------------------------------------------------------------------- JSON + schema

_VERDICT_ENUM = [*VERDICT_ORDER, NOT_RUN]
REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "eso-vault-conformance report",
    "type": "object",
    "required": ["schema_version", "run", "tests"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "outcome": {"type": "string"},
        "exit_code": {"enum": [int(e) for e in Exit]},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "run": {
            "type": "object",
            "properties": {
                "chart": {"type": "object", "additionalProperties": {"type": "string"}},
                "mode": {"enum": ["gate", "nightly", "standard"]},
                "environment": {"type": "object", "additionalProperties": {"type": "string"}},
                "phases": {"type": "object", "additionalProperties": {"type": "number"}},
                "pytest_exit": {"type": "integer"},
                "problem": {"enum": ["", "environment", "usage", "interrupted", "collection", "chart"]},
                "diagnostics": {"type": "array", "items": {"type": "string"}},
                "fidelity": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                "controller_skew": {"type": "string"},
                "skew_allowed": {"type": "boolean"},
            },
        },
        "tiers": {"type": "array", "items": {"type": "string"}},
        "claims": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "title", "section"],
            "properties": {"id": {"type": "string"}, "verdict": {"enum": _VERDICT_ENUM},
                           "verdicts": {"type": "object", "additionalProperties": {"enum": _VERDICT_ENUM}}},
        }},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["nodeid", "tier", "verdict"],
            "properties": {"nodeid": {"type": "string"}, "tier": {"type": "string"},
                           "verdict": {"enum": list(VERDICT_ORDER)},
                           "claims": {"type": "array", "items": {"type": "string"}},
                           "platform": {"type": "string"}},
        }},
    },
}


class ReportError(Exception):
    """A report file cannot be read (one line)."""


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


def load_report(path: str | Path) -> Report:
    """Read a report (or recorded results: ``schema_version``, ``run``, ``tests``) and rebuild the matrix."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise ReportError(f"{path}: not JSON ({exc})") from None
    if isinstance(data, dict) and data.get("schema_version") != SCHEMA_VERSION:
        raise ReportError(f"{path}: schema_version {data.get('schema_version')!r} is not {SCHEMA_VERSION}; "
                          f"render it with the suite version that wrote it")
    import jsonschema  # only when a report is loaded (keeps plugin start-up light)

    try:
        jsonschema.validate(data, REPORT_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        raise ReportError(f"{path}: not a conformance report at {where}: {exc.message}") from None
    catalog = {c["id"]: ClaimInfo(c["title"], c["section"], tuple(c.get("testing_tiers") or ()))
               for c in data.get("claims", [])}
    if not catalog:
        catalog = default_catalog()
    tests = [TestResult.from_dict(t) for t in data["tests"]]
    return build_report(RunInfo.from_dict(data["run"]), tests, catalog)


def default_catalog() -> dict[str, ClaimInfo]:
    """Render-tier and live-only claims (manifests/claims.yaml and claims-live.yaml)."""
    from ..live.verdicts import all_claims

    try:
        return {cid: ClaimInfo(c.title, c.section, c.tiers) for cid, c in all_claims().items()}
    except (OSError, yaml.YAMLError, TypeError, KeyError, ValueError):
        return {}


# ------------------------------------------------------------------------------------------- writing


def write_reports(report: Report, artifacts_dir: Path) -> dict[str, Path]:
    """report.json, report.md and report.html in ``artifacts_dir`` (every byte through the redactor)."""
    artifacts_dir = Path(artifacts_dir)
    renderings = {"json": to_json(report), "markdown": to_markdown(report), "html": to_html(report)}
    written = {}
    for kind, text in renderings.items():
        written[kind] = write_redacted(artifacts_dir / REPORT_FILES[kind], text)
    return written


def write_run(report: Report, artifacts_dir: Path, run_id: str,
              extra: Iterable[Path] = ()) -> dict[str, Path]:
    """This run's folder ``runs/<run_id>/`` (report.* plus ``extra`` files already in it, e.g. junit.xml),
    ``latest`` pointing at it, and, for a complete run only, copies of its files at the top of
    ``artifacts_dir`` (the last complete report: a run that stopped on a usage or environment error never
    replaces it). Keeps the newest :data:`KEEP_RUNS` run folders. Returns what it wrote, newest first."""
    artifacts_dir = Path(artifacts_dir)
    run_dir = artifacts_dir / RUNS_DIR / run_id
    written = write_reports(report, run_dir)
    latest = artifacts_dir / LATEST
    tmp_link = artifacts_dir / f".{LATEST}.{run_id}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(Path(RUNS_DIR) / run_id, target_is_directory=True)
    tmp_link.replace(latest)  # atomic: a reader never sees no `latest`
    shown = {"run": run_dir}
    if report.complete:
        for source in [*written.values(), *(p for p in extra if p.is_file())]:
            target = artifacts_dir / source.name
            tmp = target.with_name(f".{target.name}.tmp")
            try:
                shutil.copyfile(source, tmp)
                tmp.replace(target)
            except OSError:  # a full disk: no half-written copy left, the previous report stays whole
                tmp.unlink(missing_ok=True)
                raise
        shown["report"] = artifacts_dir / REPORT_FILES["html"]
    else:
        shown["report"] = written["html"]
    runs = sorted((p for p in (artifacts_dir / RUNS_DIR).iterdir() if p.is_dir()), key=lambda p: p.name)
    for old in runs[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    return shown


def write_claim_records(report: Report, path: Path) -> Path:
    return write_redacted(Path(path), json.dumps(report.claim_records(), indent=2) + "\n")
