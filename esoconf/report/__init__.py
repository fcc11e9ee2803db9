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

Every string that leaves this package passes through :data:`esoconf.redact.REDACT`.

The package, by what each part does: :mod:`.model` (the vocabulary, the dataclasses, :func:`build_report` and
the verdict rule :func:`decide`), :mod:`.store` (the artifacts folder, JSON and its schema, writing a run),
:mod:`.markdown` and :mod:`.html` (the renderings), :mod:`.compare` (the diff of two runs) and :mod:`.cli`
(``report diff|render``). Every public name is re-exported here, so ``from esoconf.report import X`` works.
"""

from __future__ import annotations

from ..evidence import EVIDENCE_MAX, one_line
from ..redact import REDACT, write_redacted
from .cli import (
    OneLineParser,
    main,
)
from .compare import (
    Change,
    diff,
    format_diff,
    run_label,
)
from .html import (
    COLOURS,
    HOLDS_HERE_COLOUR,
    OUTCOME_COLOURS,
    TEST_COLUMNS,
    to_html,
)
from .markdown import (
    BADGE,
    HEADLINE_MARK,
    STATUS_BADGE,
    skew_banner,
    to_markdown,
)
from .model import (
    ATTENTION,
    CLAIM_STATUSES,
    DIAGNOSTICS_DIR,
    ENVIRONMENT,
    FAIL,
    FAILING,
    HOLDS_HERE,
    KEEP_RUNS,
    KNOWN_DEFECT,
    LATEST,
    MEANING,
    NOT_RUN,
    NOT_VERIFIED,
    NOT_VERIFIED_OUTCOME,
    OUTCOMES,
    PASS,
    PHASES_FILE,
    REASON_MAX,
    REPORT_FILES,
    RUNS_DIR,
    SCHEMA_VERSION,
    TIERS,
    UNVERIFIED,
    VERDICT_ORDER,
    ClaimInfo,
    ClaimRow,
    EnvironmentNotReady,
    Exit,
    Report,
    RunInfo,
    TestResult,
    build_report,
    chart_identity,
    decide,
    worst,
)
from .store import (
    REPORT_SCHEMA,
    ReportError,
    default_catalog,
    diagnostics_dir,
    list_diagnostics,
    load_report,
    read_fidelity,
    read_phases,
    to_json,
    write_claim_records,
    write_reports,
    write_run,
)

__all__ = [
    "ATTENTION",
    "BADGE",
    "CLAIM_STATUSES",
    "COLOURS",
    "Change",
    "ClaimInfo",
    "ClaimRow",
    "DIAGNOSTICS_DIR",
    "ENVIRONMENT",
    "EVIDENCE_MAX",
    "EnvironmentNotReady",
    "Exit",
    "FAIL",
    "FAILING",
    "HEADLINE_MARK",
    "HOLDS_HERE",
    "HOLDS_HERE_COLOUR",
    "KEEP_RUNS",
    "KNOWN_DEFECT",
    "LATEST",
    "MEANING",
    "NOT_RUN",
    "NOT_VERIFIED",
    "NOT_VERIFIED_OUTCOME",
    "OUTCOMES",
    "OUTCOME_COLOURS",
    "OneLineParser",
    "PASS",
    "PHASES_FILE",
    "REASON_MAX",
    "REDACT",
    "REPORT_FILES",
    "REPORT_SCHEMA",
    "RUNS_DIR",
    "Report",
    "ReportError",
    "RunInfo",
    "SCHEMA_VERSION",
    "STATUS_BADGE",
    "TEST_COLUMNS",
    "TIERS",
    "TestResult",
    "UNVERIFIED",
    "VERDICT_ORDER",
    "build_report",
    "chart_identity",
    "decide",
    "default_catalog",
    "diagnostics_dir",
    "diff",
    "format_diff",
    "list_diagnostics",
    "load_report",
    "main",
    "one_line",
    "read_fidelity",
    "read_phases",
    "run_label",
    "skew_banner",
    "to_html",
    "to_json",
    "to_markdown",
    "worst",
    "write_claim_records",
    "write_redacted",
    "write_reports",
    "write_run",
]
