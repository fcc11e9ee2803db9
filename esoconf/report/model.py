"""The report model: verdict vocabulary, exit codes, the run/test/claim dataclasses, build_report and the
verdict rule (:func:`decide`). See :mod:`esoconf.report` for the vocabulary.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml

from ..evidence import EVIDENCE_MAX, one_line
from ..stops import EnvironmentNotReady  # noqa: F401 - the report's public name for it

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
