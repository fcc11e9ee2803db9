"""The conformance report: one model, three renderings (JSON, Markdown, one self-contained HTML page),
a diff between two runs, and the exit code a release gate acts on.

Vocabulary (a test's verdict, and a claim's verdict in one tier = the worst of its tests' verdicts):

* ``pass``      the claim holds
* ``fail``      the claim does not hold (the chart or its doc is wrong)
* ``error``     the check itself broke outside the environment (a fixture or teardown error): a failure
* ``xpass``     a known defect no longer fails (strict): a failure, so a fixed chart is noticed
* ``xfail``     a known, documented defect (expected failure, with its reason)
* ``flaky``     failed once, passed on the one rerun nightly mode allows: shown, never hidden
* ``blocked``   the environment could not be brought up (:class:`EnvironmentNotReady`): infrastructure,
                never counted as a chart failure
* ``skip``      not checked in this run (a platform without a capability the case needs, a missing input)

One rule for a claim (:attr:`ClaimRow.status`): it is *verified* only when every tier that tests it (the
``tiers`` of its catalogue entry) reached a verdict in this run; a skipped, blocked or not-run tier leaves it
``not verified`` (with why, and where it could be verified), whatever the other tiers said. So ``skip`` ranks
above ``pass``: a render pass and a live skip is not verified, never a pass.

Exit codes (:class:`Exit`): 0 every claim in scope verified and holding (known defects listed); 1 a claim
failed; 2 the environment, or not verified (under ``--gate``: any claim in scope not verified, any skipped test;
in the full conformance run: any claim of the doc not verified); 3 usage; 130 interrupted (SIGINT, SIGTERM,
SIGHUP: no verdict; the last complete report is kept). A run the user scoped (one tier, ``--platform local``,
``-k``) is judged on its own scope: it may exit 0, and then says "holds on what was checked here: N of M claims;
not verified: ...", never "conforms". A run with both a failed claim and a blocked environment exits 1 (the
failure is real) and the report lists both.

Every string that leaves this module passes through :data:`esoconf.redact.REDACT`.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml

from .evidence import EVIDENCE_MAX, one_line
from .redact import REDACT, write_redacted

SCHEMA_VERSION = 1
TIERS = ("render", "e2e", "unit")
# worst first: a claim's verdict in a tier is the first of these that any of its tests has
VERDICT_ORDER = ("fail", "error", "xpass", "blocked", "skip", "flaky", "xfail", "pass")
FAILING = frozenset({"fail", "error", "xpass"})
NOT_RUN = "not run"
UNVERIFIED = frozenset({"blocked", "skip", NOT_RUN})  # a tier that tests the claim reached no verdict
# a claim's status over every tier that tests it (ClaimRow.status)
PASS, FAIL, KNOWN_DEFECT, NOT_VERIFIED = "pass", "fail", "known defect", "not verified"
CLAIM_STATUSES = (FAIL, NOT_VERIFIED, KNOWN_DEFECT, PASS)
# what each verdict means to a reader (the HTML legend)
MEANING = {
    "fail": "the claim does not hold: the chart or its doc is wrong",
    "error": "the check itself broke (fixture or teardown error): counts as a failure",
    "xpass": "a known defect no longer fails: the chart or doc was fixed; update the expectation",
    "blocked": "not verified: the environment could not be brought up (infrastructure, not the chart)",
    "flaky": "failed once, passed on the nightly rerun",
    "xfail": "known defect: the doc or chart is wrong here, recorded as a strict expected failure; it does "
             "not fail the run, and a fix shows up as xpass",
    "pass": "the claim holds",
    "skip": "not verified: not checked in this run (the evidence says why, and where it could be verified); "
            "the claim is not verified, and --gate fails",
    NOT_RUN: "no test of this tier ran in this run (a claim this tier tests is then not verified)",
}
ATTENTION = frozenset({*FAILING, "blocked", "flaky"})  # what a reader must act on
ENVIRONMENT = frozenset({"blocked"})
REPORT_FILES = {"json": "report.json", "markdown": "report.md", "html": "report.html"}
PHASES_FILE = "phases.json"
DIAGNOSTICS_DIR = "diagnostics"
RUNS_DIR = "runs"  # one folder per run: runs/<run id>/report.*
LATEST = "latest"  # link to the newest run's folder
KEEP_RUNS = 20  # older run folders are removed
REASON_MAX = 1000  # the reason a run stopped is shown whole (it is what the reader acts on)


class EnvironmentNotReady(Exception):
    """The test environment could not be brought up (cluster, Istio, Vault, images, registry).

    Raise it from platform setup fixtures. Tests it stops are reported as ``blocked`` and the run exits 2:
    infrastructure, not the chart.
    """


class Exit(IntEnum):
    CONFORMS = 0  # every claim in scope verified and holding ("conforms" only when that is every claim)
    CLAIM_FAILED = 1
    ENVIRONMENT = 2  # the environment, or a claim in scope not verified
    USAGE = 3
    INTERRUPTED = 130  # SIGINT, SIGTERM, SIGHUP: no verdict (128 + SIGINT, as a shell reports Ctrl-C)


OUTCOMES = {
    Exit.CONFORMS: "conforms",
    Exit.CLAIM_FAILED: "claim failed",
    Exit.ENVIRONMENT: "environment not ready",
    Exit.USAGE: "usage or configuration error",
    Exit.INTERRUPTED: "interrupted",
}
HOLDS_HERE = "holds on what was checked here"  # exit 0 without every claim of the doc verified
NOT_VERIFIED_OUTCOME = "not verified"  # exit 2 because claims were not verified (no environment problem)


def worst(verdicts: Iterable[str]) -> str:
    ranked = [v for v in verdicts if v in VERDICT_ORDER]
    return min(ranked, key=VERDICT_ORDER.index) if ranked else NOT_RUN


# ---------------------------------------------------------------------------------------------- model


@dataclass
class TestResult:
    """One test's outcome, as recorded by the report plugin (or read back from a report)."""

    __test__ = False  # not a pytest test class

    nodeid: str
    tier: str
    verdict: str
    claims: list[str] = field(default_factory=list)
    evidence: str = ""
    duration: float = 0.0
    when: str = "call"
    attempts: int = 1
    first_failure: str = ""  # evidence of the failed first attempt of a flaky test
    diagnostics: list[str] = field(default_factory=list)  # paths relative to the artifacts dir
    platform: str = ""  # live tests: the platform the verdict comes from (kind, local, existing)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestResult:
        return cls(**_known_fields(cls, data))


@dataclass
class RunInfo:
    """What was tested, where and how (everything a reader needs besides the verdicts)."""

    chart: dict[str, str] = field(default_factory=dict)  # name, version, ref
    mode: str = "standard"  # gate | nightly | standard
    environment: dict[str, str] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    started: str = ""
    duration: float = 0.0
    pytest_exit: int = 0
    problem: str = ""  # "" | environment | usage | interrupted | collection | chart
    problem_detail: str = ""
    diagnostics: list[str] = field(default_factory=list)
    # what differed from a cluster running the chart, per live platform (the platforms' own lists)
    fidelity: dict[str, list[str]] = field(default_factory=dict)
    controller_skew: str = ""  # "observed on controller vX (the chart deploys vY)", or ""
    skew_allowed: bool = False  # --allow-controller-skew: a gate accepts the skew (recorded)
    scope: str = ""  # "" the full conformance run; else how the user narrowed it (one tier, --platform local, -k)
    fallback: str = ""  # the live cases ran on another platform than the one asked for: which, and why

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunInfo:
        return cls(**_known_fields(cls, data))


def _known_fields(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that are fields of ``cls`` (a newer report's extra keys are ignored)."""
    return {k: data[k] for k in cls.__dataclass_fields__ if k in data}  # type: ignore[attr-defined]


@dataclass
class ClaimRow:
    id: str
    title: str
    section: str
    verdicts: dict[str, str]  # tier -> verdict
    evidence: dict[str, str]  # tier -> one line
    tests: dict[str, list[str]]  # tier -> node ids
    platforms: dict[str, str] = field(default_factory=dict)  # tier -> the platform(s) its verdict comes from
    testing_tiers: list[str] = field(default_factory=list)  # every tier that tests the claim (the catalogue)

    @property
    def verdict(self) -> str:
        return worst(self.verdicts.values())

    def unverified(self) -> dict[str, str]:
        """tier -> why it reached no verdict, for every tier that tests the claim and did not."""
        out = {}
        for tier in self.testing_tiers or list(self.verdicts) or ["any"]:
            verdict = self.verdicts.get(tier, NOT_RUN)
            if verdict in UNVERIFIED:
                out[tier] = (f"the {tier} tier did not run here" if verdict == NOT_RUN
                             else self.evidence.get(tier) or verdict)
        return out

    @property
    def status(self) -> str:
        """The one rule: fail when any tier failed; else not verified when a tier that tests it reached no
        verdict; else known defect when one is an expected failure; else pass."""
        if any(v in FAILING for v in self.verdicts.values()):
            return FAIL
        if self.unverified():
            return NOT_VERIFIED
        return KNOWN_DEFECT if any(v == "xfail" for v in self.verdicts.values()) else PASS

    @property
    def in_scope(self) -> bool:
        """A test of this run checks the claim."""
        return any(self.tests.values())


@dataclass
class Report:
    run: RunInfo
    tests: list[TestResult]
    claims: list[ClaimRow]
    tiers: list[str]
    exit_code: Exit
    reasons: list[str]

    @property
    def outcome(self) -> str:
        """The banner: "conforms" only when every claim of the doc was verified and holds."""
        if self.exit_code == Exit.CONFORMS and any(c.status not in (PASS, KNOWN_DEFECT) for c in self.claims):
            return HOLDS_HERE
        if self.exit_code == Exit.ENVIRONMENT and not self.run.problem and not any(
                t.verdict in ENVIRONMENT for t in self.tests):
            return NOT_VERIFIED_OUTCOME
        return OUTCOMES[self.exit_code]

    @property
    def headline(self) -> str:
        """The banner with its count: "holds on what was checked here: N of M claims; not verified: ..."."""
        if self.outcome != HOLDS_HERE:
            return self.outcome
        held = [c for c in self.claims if c.status in (PASS, KNOWN_DEFECT)]
        missing = [c.id for c in self.claims if c.status == NOT_VERIFIED]
        shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
        return f"{HOLDS_HERE}: {len(held)} of {len(self.claims)} claims" + (f"; not verified: {shown}" if missing
                                                                             else "")

    @property
    def complete(self) -> bool:
        """The run gave claim verdicts: it replaces the last complete report. A run that stopped on a usage or
        environment error before any check ran (nothing but blocked or skipped tests), or whose tests verify no
        claim (the quick vault tier), does not: it has its own run folder only."""
        if self.run.problem in ("usage", "interrupted", "collection"):
            return False
        if self.run.problem == "chart":  # a verdict on the chart: it does not render
            return True
        return any(t.verdict not in ("blocked", "skip") and t.claims for t in self.tests)

    def summary(self) -> dict[str, int]:
        counts = Counter(t.verdict for t in self.tests)
        return {v: counts[v] for v in VERDICT_ORDER if counts[v]}

    def claim_summary(self) -> dict[str, int]:
        counts = Counter(c.status for c in self.claims)
        return {v: counts[v] for v in CLAIM_STATUSES if counts[v]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "outcome": self.outcome,
            "exit_code": int(self.exit_code),
            "reasons": self.reasons,
            "run": asdict(self.run),
            "summary": {"tests": self.summary(), "claims": self.claim_summary()},
            "tiers": self.tiers,
            "claims": [{**asdict(c), "verdict": c.verdict, "status": c.status,
                        "not_verified": c.unverified() if c.status == NOT_VERIFIED else {}} for c in self.claims],
            "tests": [asdict(t) for t in self.tests],
        }

    def claim_records(self) -> list[dict[str, Any]]:
        """One record per claim and tier checked (``--report-json``): what a release note or MR quotes."""
        chart = {"name": self.run.chart.get("name", ""), "version": self.run.chart.get("version", ""),
                 **({"note": self.run.chart["note"]} if self.run.chart.get("note") else {})}
        return [{"id": c.id, "title": c.title, "section": c.section, "tier": tier, "verdict": verdict,
                 "evidence": c.evidence.get(tier, ""), "platform": c.platforms.get(tier, ""), "chart": chart}
                for c in self.claims for tier, verdict in c.verdicts.items() if verdict != NOT_RUN]


@dataclass(frozen=True)
class ClaimInfo:
    title: str
    section: str
    tiers: tuple[str, ...] = ()  # every tier that tests the claim


def build_report(run: RunInfo, tests: Sequence[TestResult],
                 catalog: Mapping[str, ClaimInfo] | None = None) -> Report:
    """Aggregate test results into the claims x tier matrix and decide the exit code."""
    catalog = dict(catalog or {})
    tested = {cid for t in tests for cid in t.claims}
    tiers = [t for t in TIERS if any(r.tier == t for r in tests if r.claims)]
    tiers += sorted({r.tier for r in tests if r.claims} - set(tiers))
    rows = []
    for cid in sorted(set(catalog) | tested, key=_claim_sort_key):
        info = catalog.get(cid, ClaimInfo("(not in manifests/claims.yaml)", ""))
        verdicts, evidence, node_ids = {}, {}, {}
        for tier in tiers:
            mine = [t for t in tests if cid in t.claims and t.tier == tier]
            verdicts[tier] = worst(t.verdict for t in mine)
            node_ids[tier] = [t.nodeid for t in mine]
            deciding = [t for t in mine if t.verdict == verdicts[tier]]
            evidence[tier] = _claim_evidence(mine, deciding)
        platforms = {tier: ", ".join(sorted({t.platform for t in tests if cid in t.claims and t.tier == tier
                                             and t.platform})) for tier in tiers}
        testing = list(info.tiers) or sorted({t.tier for t in tests if cid in t.claims})
        rows.append(ClaimRow(cid, info.title, info.section, verdicts, evidence, node_ids,
                             {tier: names for tier, names in platforms.items() if names}, testing))
    exit_code, reasons = decide(run, tests, rows)
    return Report(run, list(tests), rows, tiers, exit_code, reasons)


def _variant(nodeid: str) -> str:
    """The parameter id of a test (``test_x[no-secret-namespace]`` -> ``no-secret-namespace``), else its name."""
    name = nodeid.rsplit("::", 1)[-1]
    return name[name.index("[") + 1:-1] if name.endswith("]") and "[" in name else name


def _claim_evidence(mine: Sequence[TestResult], deciding: Sequence[TestResult]) -> str:
    """The deciding test's evidence; when other checks of the claim passed, it says which ones did not, so a
    known defect in one variation does not read as the doc's own case failing."""
    if not deciding:
        return ""
    text = one_line(deciding[0].evidence)
    passed = [t for t in mine if t.verdict == "pass"]
    if not passed or deciding[0].verdict not in ("xfail", "fail"):
        return text
    which = ", ".join(_variant(t.nodeid) for t in deciding)
    return one_line(f"{len(passed)} of {len(mine)} checks pass ({', '.join(_variant(t.nodeid) for t in passed)}); "
                    f"{deciding[0].verdict} only in {which}: {text}", 2 * EVIDENCE_MAX)


def _claim_sort_key(claim_id: str) -> tuple[str, int, str]:
    prefix, _, number = claim_id.rpartition("-")
    return (prefix, int(number), "") if number.isdigit() else (claim_id, 0, claim_id)


def decide(run: RunInfo, tests: Sequence[TestResult], rows: Sequence[ClaimRow]) -> tuple[Exit, list[str]]:
    """The exit code and one line per reason. Chart failures and environment failures never mix; a claim not
    verified is never a pass (module docstring: the one rule)."""
    if run.problem == "interrupted":
        return Exit.INTERRUPTED, [one_line(run.problem_detail or run.problem, REASON_MAX)]
    if run.problem in ("usage", "collection"):
        return Exit.USAGE, [one_line(run.problem_detail or run.problem, REASON_MAX)]
    if run.problem == "chart":  # the chart could not be rendered at all: nothing was checked, the chart failed
        return Exit.CLAIM_FAILED, [f"chart failure: {one_line(run.problem_detail, REASON_MAX)}"]
    failed = [t for t in tests if t.verdict in FAILING]
    reasons = [f"{_label(t)}: {t.verdict}: "
               + ("a known defect no longer fails: fixed? update manifests/known-defects.yaml: " if t.verdict == "xpass"
                  else "") + one_line(t.evidence, 200) for t in failed]
    skew = [f"controller skew under --gate: every live verdict was {run.controller_skew} (pass "
            f"--allow-controller-skew to accept it)"] if run.controller_skew and run.mode == "gate" \
        and not run.skew_allowed else []
    blocked = [t for t in tests if t.verdict in ENVIRONMENT]
    env_reasons = [f"environment not ready: {one_line(run.problem_detail, REASON_MAX)}"] if run.problem else []
    if blocked and run.problem_detail and run.problem_detail in blocked[0].evidence:  # said in the line above
        tiers = ", ".join(sorted({t.tier for t in blocked}))
        env_reasons.append(f"{len(blocked)} {tiers} test(s) not verified because of it")
    elif blocked:
        env_reasons.append(f"{len(blocked)} test(s) blocked by the environment, e.g. {_label(blocked[0])}: "
                           f"{one_line(blocked[0].evidence, 200)}")
    env_reasons += skew
    fallback = [f"platform fallback: {run.fallback}"] if run.fallback else []
    unverified = _unverified_reasons(run, tests, rows)
    if reasons:
        return Exit.CLAIM_FAILED, fallback + reasons + env_reasons + unverified
    if env_reasons:
        return Exit.ENVIRONMENT, fallback + env_reasons + unverified
    if run.pytest_exit not in (0, 1) and not tests:
        return Exit.USAGE, [f"pytest exit status {run.pytest_exit} and no test ran"]
    if unverified and (run.mode == "gate" or not run.scope):
        return Exit.ENVIRONMENT, fallback + unverified
    return Exit.CONFORMS, fallback + unverified


def _unverified_reasons(run: RunInfo, tests: Sequence[TestResult], rows: Sequence[ClaimRow]) -> list[str]:
    """What was not verified: under --gate every claim in scope and every skipped test; in the full
    conformance run every claim of the doc; in a scoped run the claims it checked only in part (said, not
    failed)."""
    gate = run.mode == "gate"
    shown = [c for c in rows if c.status == NOT_VERIFIED and (c.in_scope or not run.scope)]
    lines = []
    if shown:
        where = "under --gate" if gate else (f"in this scoped run ({run.scope})" if run.scope else
                                             "in the conformance run")
        ids = ", ".join(f"{c.id} ({'; '.join(_short_why(t, why) for t, why in c.unverified().items())})"
                        for c in shown)
        lines.append(one_line(f"not verified {where}: {len(shown)} claim(s): {ids} (the report says why and where "
                              f"each could be verified)", REASON_MAX))
    skipped = [t for t in tests if t.verdict == "skip"]
    if gate and skipped:
        names = ", ".join(t.nodeid.rsplit("/", 1)[-1] for t in skipped)
        lines.append(one_line(f"skipped under --gate: {len(skipped)} test(s): {names} (e.g. {skipped[0].evidence})",
                              REASON_MAX))
    return lines


def _short_why(tier: str, why: str) -> str:
    """"e2e: not verified on platform local" from the whole reason (the report's section has it all)."""
    if why.startswith(f"the {tier} tier did not run"):
        return f"{tier} not run"
    return f"{tier}: {why.split(':', 1)[0]}"


def _label(test: TestResult) -> str:
    return f"{','.join(test.claims)} ({test.nodeid})" if test.claims else test.nodeid


def chart_identity(ref: str | None, version: str | None) -> dict[str, str]:
    """name/version of the chart under test: from Chart.yaml for a local directory, else the reference."""
    if not ref:
        return {"name": "", "version": version or "", "ref": ""}
    path = Path(ref)
    chart_yaml = path / "Chart.yaml"
    if chart_yaml.is_file():
        try:
            meta = yaml.safe_load(chart_yaml.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            meta = {}
        return {"name": str(meta.get("name", path.name)), "version": str(version or meta.get("version", "")),
                "ref": ref}
    name = re.sub(r"(-\d[\w.+-]*)?\.(tgz|tar\.gz)$", "", path.name) if path.suffix else ref.rstrip("/")
    return {"name": name.rsplit("/", 1)[-1], "version": version or "", "ref": ref}


def diagnostics_dir(artifacts_dir: str | Path, nodeid: str) -> Path:
    """Where a test's diagnostics go (the report links every file found there to the test); the same
    folder the live tier's collector writes (``esoconf.live.diagnostics.safe_name``)."""
    from .live.diagnostics import safe_name

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
    from .live.verdicts import all_claims

    try:
        return {cid: ClaimInfo(c.title, c.section, c.tiers) for cid, c in all_claims().items()}
    except (OSError, yaml.YAMLError, TypeError, KeyError, ValueError):
        return {}


# -------------------------------------------------------------------------------------------- Markdown

BADGE = {"pass": "✅ pass", "fail": "❌ fail", "error": "❌ error", "xpass": "❌ xpass (known defect fixed?)",
         "xfail": "⚠️ known defect", "flaky": "🔁 flaky", "blocked": "🚧 not verified (environment)",
         "skip": "⏭️ not verified", NOT_RUN: "–"}


def _md(text: str) -> str:
    return REDACT(text).replace("|", "\\|").replace("\n", " ")


def _chart_title(run: RunInfo) -> str:
    name, version, note = run.chart.get("name"), run.chart.get("version"), run.chart.get("note")
    title = f"{name} {version}".strip() if name else "(no --chart given)"
    return f"{title} ({note})" if note else title


def skew_banner(run: RunInfo) -> str:
    allowed = "; accepted with --allow-controller-skew" if run.skew_allowed else ""
    return f"controller skew: every live verdict was {run.controller_skew}{allowed}"


HEADLINE_MARK = {Exit.CONFORMS: "✅", Exit.CLAIM_FAILED: "❌", Exit.ENVIRONMENT: "🚧", Exit.USAGE: "⛔",
                 Exit.INTERRUPTED: "⏹"}
STATUS_BADGE = {PASS: "✅ verified, holds", FAIL: "❌ fails", KNOWN_DEFECT: "⚠️ verified, known defect",
                NOT_VERIFIED: "⏭️ not verified"}


def _mark(report: Report) -> str:
    return "☑️" if report.outcome == HOLDS_HERE else HEADLINE_MARK[report.exit_code]


def to_markdown(report: Report) -> str:
    run = report.run
    lines = [f"## ESO ↔ Vault conformance: {_md(_chart_title(run))}", "",
             f"**{_mark(report)} {_md(report.headline)}** (exit {int(report.exit_code)}, mode `{run.mode}`)", ""]
    lines += [f"- {_md(r)}" for r in report.reasons]
    if report.reasons:
        lines.append("")
    if run.controller_skew:
        lines += [f"**⚠️ {_md(skew_banner(run))}**", ""]
    counts = ", ".join(f"{n} {v}" for v, n in report.claim_summary().items()) or "none"
    tcounts = ", ".join(f"{n} {v}" for v, n in report.summary().items()) or "none"
    lines += [f"Claims: {counts}. Tests: {tcounts}.", ""]
    if report.claims and report.tiers:
        header = ["Claim", "Title", "Doc section", *report.tiers, "Claim verdict"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for c in report.claims:
            cells = " | ".join(BADGE.get(c.verdicts[t], c.verdicts[t])
                               + (f" ({c.platforms[t]})" if c.platforms.get(t) else "") for t in report.tiers)
            lines.append(f"| {c.id} | {_md(c.title)} | {_md(c.section)} | {cells} | {STATUS_BADGE[c.status]} |")
        lines.append("")
    unverified = [c for c in report.claims if c.status == NOT_VERIFIED]
    if unverified:
        lines += ["### Not verified (why, and where it could be verified)", ""]
        lines += [f"- **{c.id}** " + "; ".join(f"[{t}] {_md(_said_above(report, why))}"
                                              for t, why in c.unverified().items()) for c in unverified]
        lines.append("")
    notable = [(c, t) for c in report.claims for t in report.tiers
               if c.verdicts[t] not in ("pass", "skip", NOT_RUN)]
    if notable:
        lines += ["### Evidence", ""]
        lines += [f"- **{c.id}** [{t}] {c.verdicts[t]}: {_md(_said_above(report, c.evidence[t]))}"
                  for c, t in notable]
        lines.append("")
    known = [t for t in report.tests if t.verdict == "xfail"]
    if known:
        lines += ["### Known defects (manifests/known-defects.yaml: strict, a fix shows up as xpass and fails the "
                  "run)", ""]
        lines += [f"- **{', '.join(t.claims) or '-'}** `{_md(_variant(t.nodeid))}`: {_md(one_line(t.evidence, 300))}"
                  for t in known]
        lines.append("")
    others = [t for t in report.tests if not t.claims and t.verdict not in ("pass", "skip", "xfail")]
    if others:
        lines += ["### Other tests", ""]
        lines += [f"- `{_md(t.nodeid)}` {t.verdict}: {_md(one_line(t.evidence, 200))}" for t in others]
        lines.append("")
    flaky = [t for t in report.tests if t.verdict == "flaky"]
    if flaky:
        lines += ["### Flaky (failed once, passed on rerun)", ""]
        lines += [f"- `{_md(t.nodeid)}`: first attempt: {_md(one_line(t.first_failure, 200))}" for t in flaky]
        lines.append("")
    for platform, differences in run.fidelity.items():
        lines += [f"### What differed from a cluster ({_md(platform)})", ""]
        lines += [f"- {_md(line)}" for line in differences]
        lines.append("")
    if run.environment:
        lines += ["<details><summary>Environment</summary>", "", "| Setting | Value |", "|---|---|"]
        lines += [f"| {_md(k)} | `{_md(v)}` |" for k, v in run.environment.items()]
        lines += ["", "</details>", ""]
    if run.phases:
        lines.append("Phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in run.phases.items())
                     + f"; total run {run.duration:.1f}s.")
        lines.append("")
    return REDACT("\n".join(lines).rstrip() + "\n")


# ------------------------------------------------------------------------------------------------ HTML

COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "error": "#a40e26", "xpass": "#cf222e", "xfail": "#bf8700",
           "flaky": "#8250df", "blocked": "#d4a72c", "skip": "#6e7781", NOT_RUN: "#d0d7de"}
OUTCOME_COLOURS = {Exit.CONFORMS: "#1a7f37", Exit.CLAIM_FAILED: "#cf222e", Exit.ENVIRONMENT: "#d4a72c",
                   Exit.USAGE: "#6e7781", Exit.INTERRUPTED: "#6e7781"}
HOLDS_HERE_COLOUR = "#0969da"  # exit 0 on a scoped run: not the green of "conforms"
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em auto;max-width:1200px;
color:#1f2328}
h1{font-size:1.5em;margin:0 0 .3em} h2{font-size:1.15em;margin:1.6em 0 .5em}
.banner{color:#fff;padding:.8em 1em;border-radius:6px;font-size:1.2em}
.banner ul{margin:.4em 0 0;font-size:.8em} .banner li{overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #d0d7de;padding:.35em .5em;vertical-align:top;text-align:left}
th{background:#f6f8fa} td.verdict{min-width:9em} th[scope=row],.nowrap{white-space:nowrap}
.badge{display:inline-block;color:#fff;border-radius:3px;padding:0 .45em;font-weight:600;font-size:.85em;
white-space:nowrap}
.evidence{font-family:ui-monospace,monospace;font-size:.8em;color:#57606a;margin-top:.2em;
overflow-wrap:anywhere}
table.tests{table-layout:fixed} table.tests code,table.tests a{overflow-wrap:anywhere} table.tests code{font-size:.8em}
.legend{display:grid;grid-template-columns:max-content 1fr;gap:.15em .6em;margin:.6em 0;font-size:.9em}
.muted{color:#57606a}
.bar{background:#54aeff;height:.8em;display:inline-block}
code{font-size:.9em}
"""


def _h(text: Any) -> str:
    return html.escape(REDACT(str(text)), quote=True)


def _badge(verdict: str) -> str:
    colour = COLOURS.get(verdict, "#6e7781")
    text_colour = "#1f2328" if verdict in ("blocked", NOT_RUN) else "#fff"
    return (f'<span class="badge v-{_slug(verdict)}" style="background:{colour};color:{text_colour}">'
            f"{_h(verdict)}</span>")


def _slug(verdict: str) -> str:
    return verdict.replace(" ", "-")


def _links(paths: Iterable[str]) -> str:
    return " ".join(f'<a href="{_h(p)}">{_h(Path(p).name)}</a>' for p in paths)


def _banner_colour(report: Report) -> str:
    return HOLDS_HERE_COLOUR if report.outcome == HOLDS_HERE else OUTCOME_COLOURS[report.exit_code]


def to_html(report: Report) -> str:
    """One self-contained page (inline CSS, no scripts, no external resources)."""
    run = report.run
    title = f"ESO ↔ Vault conformance: {_chart_title(run)}"
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_h(title)}</title>',
             f"<style>{_CSS}</style></head><body>", f"<h1>{_h(title)}</h1>",
             f'<div class="banner" id="outcome" data-exit="{int(report.exit_code)}" '
             f'style="background:{_banner_colour(report)}">'
             f"<strong>{_h(report.headline)}</strong> (exit {int(report.exit_code)}, mode {_h(run.mode)})"]
    if report.reasons:
        parts.append("<ul>" + "".join(f"<li>{_h(r)}</li>" for r in report.reasons) + "</ul>")
    if run.controller_skew:
        parts.append(f'<p id="controller-skew"><strong>{_h(skew_banner(run))}</strong></p>')
    parts.append("</div>")
    parts.append(_html_legend(report))
    parts.append(_html_matrix(report))
    parts.append(_html_tests(report, sorted(ATTENTION), "Tests needing attention", "tests"))
    parts.append(_html_tests(report, ["xfail"], "Known defects (strict expected failures: they do not fail the "
                                                "run; a fix shows up as xpass)", "known"))
    for platform, differences in run.fidelity.items():
        parts.append(f'<h2>What differed from a cluster ({_h(platform)})</h2><ul class="fidelity" '
                     f'data-platform="{_h(platform)}">' + "".join(f"<li>{_h(d)}</li>" for d in differences) + "</ul>")
    parts.append(_html_table("Environment", "environment", ["Setting", "Value"],
                             [[_h(k), f"<code>{_h(v)}</code>"] for k, v in run.environment.items()]))
    longest = max(run.phases.values(), default=0) or 1
    bars = [[_h(k), f"{v:.1f}", f'<span class="bar" style="width:{200 * v / longest:.0f}px"></span>']
            for k, v in run.phases.items()]
    parts.append(_html_table("Phase timings", "phases", ["Phase", "Seconds", ""], bars))
    if run.diagnostics:
        parts.append('<h2>Diagnostics</h2><ul id="diagnostics">'
                     + "".join(f'<li><a href="{_h(p)}">{_h(p)}</a></li>' for p in run.diagnostics) + "</ul>")
    parts.append(f'<p class="muted">started {_h(run.started)}, {run.duration:.1f}s; '
                 f"report schema {SCHEMA_VERSION}</p></body></html>\n")
    return REDACT("\n".join(parts))


def _html_matrix(report: Report) -> str:
    if not report.claims:
        return '<h2>Claims</h2><p id="matrix" class="muted">No claim was checked in this run.</p>'
    head = "".join(f'<th scope="col" data-tier="{_h(t)}">{_h(t)}</th>' for t in report.tiers)
    head += '<th scope="col">claim verdict</th>'
    rows = []
    for c in report.claims:
        cells = []
        for tier in report.tiers:
            verdict = c.verdicts[tier]
            tests = [t for t in report.tests if t.nodeid in c.tests[tier]]
            diag = _links(p for t in tests for p in t.diagnostics)
            cells.append(f'<td class="verdict v-{_slug(verdict)}" data-claim="{_h(c.id)}" '
                         f'data-tier="{_h(tier)}" data-verdict="{_h(verdict)}">{_badge(verdict)}'
                         + (f'<div class="platform">on {_h(c.platforms[tier])}</div>' if c.platforms.get(tier) else "")
                         + (f'<div class="evidence">{_h(_said_above(report, c.evidence[tier]))}</div>'
                            if c.evidence[tier] not in ("", "ok") else "")
                         + (f'<div class="diag">diagnostics: {diag}</div>' if diag else "") + "</td>")
        status = f'<td class="status" data-status="{_h(c.status)}">{_h(STATUS_BADGE[c.status])}</td>'
        rows.append(f'<tr data-claim="{_h(c.id)}"><th scope="row">{_h(c.id)}</th><td>{_h(c.title)}</td>'
                    f'<td>{_h(c.section)}</td>{"".join(cells)}{status}</tr>')
    return (f'<h2>Claims × tier</h2><table id="matrix"><thead><tr><th>Claim</th><th>Title</th>'
            f'<th>Doc section</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _html_legend(report: Report) -> str:
    """Each verdict that appears on the page, with what it means."""
    used = {t.verdict for t in report.tests} | {v for c in report.claims for v in c.verdicts.values()}
    shown = [v for v in (*VERDICT_ORDER, NOT_RUN) if v in used] or list(VERDICT_ORDER)
    return ('<div class="legend" id="legend">'
            + "".join(f"<div>{_badge(v)}</div><div>{_h(MEANING[v])}</div>" for v in shown) + "</div>")


TEST_COLUMNS = (("Test", "32%"), ("Tier", "5em"), ("Verdict", "6.5em"), ("Evidence", "auto"), ("Diagnostics", "15%"))


def _said_above(report: Report, evidence: str) -> str:
    """Evidence that repeats the reason the run stopped (shown whole in the banner, perhaps cut short here)
    points at it instead."""
    detail, head = report.run.problem_detail, evidence.removesuffix("…")
    start = head.find(detail[:40]) if len(detail) >= 40 else -1
    if start < 0 or not detail.startswith(head[start:]):
        return evidence
    return head[:start] + "the reason at the top"


def _html_tests(report: Report, verdicts: Sequence[str], title: str, table_id: str) -> str:
    shown = [t for t in report.tests if t.verdict in verdicts]
    columns = TEST_COLUMNS if any(t.diagnostics for t in shown) else TEST_COLUMNS[:-1]
    groups: dict[tuple[str, str, str], list[TestResult]] = {}  # tests blocked for one reason: one row
    for t in shown:
        key = (t.tier, t.verdict, t.evidence) if t.verdict in ENVIRONMENT and not t.diagnostics else ("", "", t.nodeid)
        groups.setdefault(key, []).append(t)
    rows = []
    for tests in groups.values():
        t = tests[0]
        ids = "".join(f"<div><code>{_h(x.nodeid)}</code></div>" for x in tests)
        name = (f"<details><summary>{len(tests)} tests</summary>{ids}</details>" if len(tests) > 1
                else f"<code>{_h(t.nodeid)}</code>")
        rows.append([name, _h(t.tier), _badge(t.verdict),
                     f'<div class="evidence">{_h(_said_above(report, one_line(t.evidence)))}</div>'
                     + (f'<div class="evidence">first attempt: {_h(one_line(t.first_failure))}</div>'
                        if t.first_failure else ""),
                     _links(t.diagnostics)][:len(columns)])
    return _html_table(title, table_id, [c for c, _ in columns], rows, [w for _, w in columns])


def _html_table(title: str, table_id: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                widths: Sequence[str] = ()) -> str:
    if not rows:
        return ""
    cols = "<colgroup>" + "".join(f'<col style="width:{w}">' for w in widths) + "</colgroup>" if widths else ""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    css = ' class="tests"' if widths else ""
    return (f'<h2>{_h(title)}</h2><table id="{table_id}"{css}>{cols}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


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


# ---------------------------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class Change:
    claim: str
    tier: str
    old: str
    new: str
    evidence: str = ""  # the new run's evidence (the old run's when the claim is no longer checked)
    old_evidence: str = ""

    @property
    def kind(self) -> str:
        if self.new in FAILING and self.old not in FAILING:
            return "regressed"
        if self.old in FAILING and self.new not in FAILING:
            return "fixed"
        return "changed"


def diff(old: Report, new: Report) -> list[Change]:
    """Claims whose verdict changed in a tier (claims or tiers only in one run count as ``not run``)."""
    def table(report: Report) -> dict[tuple[str, str], str]:
        return {(c.id, t): v for c in report.claims for t, v in c.verdicts.items()}

    def evidence(report: Report) -> dict[tuple[str, str], str]:
        return {(c.id, t): e for c in report.claims for t, e in c.evidence.items()}

    before, after = table(old), table(new)
    said_before, said_after = evidence(old), evidence(new)
    keys = sorted(set(before) | set(after), key=lambda k: (_claim_sort_key(k[0]), k[1]))
    changes = [Change(key[0], key[1], before.get(key, NOT_RUN), after.get(key, NOT_RUN),
                      said_after.get(key, "") or said_before.get(key, ""), said_before.get(key, ""))
               for key in keys]
    return [c for c in changes if c.old != c.new]


def run_label(report: Report, path: str | Path | None = None) -> str:
    """What tells two runs apart: chart, outcome, when it started, and the file it was read from."""
    when = report.run.started or "start unknown"
    where = f"; {Path(path).name if Path(path).name != 'report.json' else path}" if path else ""
    return f"{_chart_title(report.run)} ({report.outcome}, {report.run.mode}, {when}{where})"


def format_diff(old: Report, new: Report, changes: Sequence[Change], fmt: str = "text",
                labels: tuple[str, str] | None = None) -> str:
    before, after = labels or (run_label(old), run_label(new))
    if fmt == "json":
        return json.dumps({"old": old.run.chart, "new": new.run.chart, "old_label": before, "new_label": after,
                           "changes": [{**asdict(c), "kind": c.kind} for c in changes]}, indent=2) + "\n"
    if fmt == "html":
        return _html_diff(before, after, changes)
    if fmt == "markdown":
        lines = ["### Verdict changes", "", f"- before: {_md(before)}", f"- after: {_md(after)}", ""]
        if not changes:
            return REDACT("\n".join([*lines, "No claim changed its verdict."]) + "\n")
        lines += ["| Claim | Tier | Before | After | Change | Evidence |", "|---|---|---|---|---|---|"]
        lines += [f"| {c.claim} | {c.tier} | {BADGE.get(c.old, c.old)} | {BADGE.get(c.new, c.new)} "
                  f"| {c.kind} | {_md(one_line(c.evidence, 200))} |" for c in changes]
        return REDACT("\n".join(lines) + "\n")
    header = f"before: {before}\nafter:  {after}"
    if not changes:
        return REDACT(f"{header}\nno claim changed its verdict\n")
    width = max(len(c.claim) for c in changes)
    body = [f"  {c.kind:<9} {c.claim.ljust(width)}  [{c.tier}]  {c.old} -> {c.new}"
            + (f"\n  {'':<9} {'':<{width}}  evidence: {one_line(c.evidence, 200)}" if _telling(c) else "")
            for c in changes]
    return REDACT("\n".join([header, *body]) + "\n")


def _telling(change: Change) -> bool:
    """Evidence worth a line: not the bare "ok" of a pass."""
    return change.evidence not in ("", "ok")


def _html_diff(before: str, after: str, changes: Sequence[Change]) -> str:
    rows = [[f'<span class="nowrap">{_h(c.claim)}</span>', _h(c.tier), _badge(c.old), _badge(c.new),
             f"<strong>{_h(c.kind)}</strong>", f'<div class="evidence">{_h(one_line(c.evidence))}</div>']
            for c in changes]
    table = _html_table("Verdict changes", "changes", ["Claim", "Tier", "Before", "After", "Change", "Evidence"],
                        rows, ["7em", "5em", "6.5em", "6.5em", "6.5em", "auto"])
    regressed = sum(c.kind == "regressed" for c in changes)
    colour = OUTCOME_COLOURS[Exit.CLAIM_FAILED if regressed else Exit.CONFORMS]
    return REDACT(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Verdict changes</title>'
        f"<style>{_CSS}</style></head><body><h1>ESO ↔ Vault conformance: verdict changes</h1>"
        f'<div class="banner" id="outcome" style="background:{colour}"><strong>{regressed} regressed</strong>, '
        f"{len(changes)} changed<ul><li>before: {_h(before)}</li><li>after: {_h(after)}</li></ul></div>"
        + (table or '<p id="changes">No claim changed its verdict.</p>') + "</body></html>\n")


# ------------------------------------------------------------------------------------------------ CLI


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one ``ERROR:`` line (exit 3) instead of the usage text and exit 2."""

    def error(self, message: str) -> Any:  # argparse's hook; never returns
        print(f"ERROR: {self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(int(Exit.USAGE))


def main(argv: Sequence[str] | None = None) -> int:
    """``report diff OLD.json NEW.json`` and ``report render REPORT.json``."""
    parser = OneLineParser(prog="report", description="conformance report tools")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    p_diff = sub.add_parser("diff", help="claims whose verdict changed between two runs; "
                            "exit 1 if one regressed")
    p_diff.add_argument("old", type=Path)
    p_diff.add_argument("new", type=Path)
    p_diff.add_argument("--format", choices=("text", "markdown", "json", "html"), default="text")
    p_diff.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    p_render = sub.add_parser("render", help="re-render a report.json (or recorded results) "
                              "as Markdown, HTML or JSON")
    p_render.add_argument("report", type=Path)
    p_render.add_argument("--format", choices=("markdown", "html", "json"), default="markdown")
    p_render.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # OneLineParser: 3 on bad usage (one line printed), 0 on --help
        return Exit.USAGE if exc.code else 0
    try:
        if args.command == "diff":
            old, new = load_report(args.old), load_report(args.new)
            changes = diff(old, new)
            labels = (run_label(old, args.old), run_label(new, args.new))
            text = format_diff(old, new, changes, args.format, labels)
            code = Exit.CLAIM_FAILED if any(c.kind == "regressed" for c in changes) else Exit.CONFORMS
        else:
            report = load_report(args.report)
            text = {"markdown": to_markdown, "html": to_html, "json": to_json}[args.format](report)
            code = Exit.CONFORMS
        if args.output:
            try:
                write_redacted(args.output, text)
            except OSError as exc:
                raise ReportError(f"-o {args.output}: cannot write it ({exc.strerror}); pick a writable "
                                  f"file path") from None
        else:
            sys.stdout.write(text)
        return code
    except ReportError as exc:
        print(f"ERROR: report: {exc}", file=sys.stderr)
        return Exit.USAGE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
