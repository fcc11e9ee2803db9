"""Hostile and mistaken input, as a QA engineer tries it on a fresh clone: one table (input, tier, workers ->
exit code, first line), every row checked for no traceback, the last complete report kept, and nothing left
behind (no run folder in the run's temp folder, no process carrying the run's marker). The rows of
tests/test_bad_input.py are part of it. The interrupt rows send real signals to a run that holds platform
processes; the real-platform rows (tests/test_interrupts.py) do the same to a real local-platform run."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hostile import (
    PREVIOUS_REPORT,
    SUITE_ROOT,
    Outcome,
    Run,
    assert_row,
    can_unshare,
    in_namespace,
    marked_processes,
    pytest_argv,
    wait_until,
)
from mutants import FIXTURES, SUITE, helm_binary
from test_bad_input import CASES, Scratch

from esoconf.report import Exit

DOC = FIXTURES / "docs" / "VAULT_INTEGRATION.md"
USAGE, ENVIRONMENT, CLAIM_FAILED, OK = int(Exit.USAGE), int(Exit.ENVIRONMENT), int(Exit.CLAIM_FAILED), 0


def no_env(s: Scratch) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Row:
    id: str
    args: Callable[[Scratch], list[str]]
    code: int
    says: str  # fnmatch pattern of the first line (stderr, else the conformance summary's first reason)
    env: Callable[[Scratch], dict[str, str]] = field(default=no_env)
    tier: str = "none"  # none (an empty test file), render (suites/render, real helm), install-tools
    workers: bool = False  # -n 2: pytest-xdist workers
    namespace: str = ""  # ro | full (the artifacts folder a read-only / full tmpfs) | net (no network)
    verdict: bool = False  # the run reaches a verdict (a chart that does not render): it replaces the last report

    @property
    def subprocess(self) -> bool:
        return self.workers or bool(self.namespace) or self.tier == "install-tools"


SCALE = "ERROR: --timeout-scale: must be > 0 and <= 100, got '{}'"
RERUNS = "ERROR: --reruns: must be a whole number from 0 to 1, got '{}'"
NOT_A_FILE = "not a regular file (a device, pipe or socket); pass the VAULT_INTEGRATION.md under test"


def _fifo(s: Scratch) -> str:
    path = s.root / "doc.fifo"
    s.root.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return str(path)


def _sparse(s: Scratch, size: int) -> str:
    path = Path(s.file("huge.md"))
    with path.open("r+b") as handle:
        handle.truncate(size)
    return str(path)


def _symlink_loop_chart(s: Scratch) -> str:
    chart = s.chart("loop")
    (Path(chart) / "templates" / "loop").symlink_to("loop")
    return chart


def _leftover(s: Scratch, tmp: Path) -> dict[str, str]:
    """A run folder a killed run left in the run's temp folder: its owner gone, nothing else running."""
    folder = tmp / "esoconf-local-killed"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"owner_pid": 2 ** 22 + 1, "owner_start": "1",
                                                 "created": "2026-01-01T00:00:00+00:00"}))
    return {}


ROWS: list[Row] = [
    # the rows tests/test_bad_input.py has always had
    *(Row(c.id, c.args, USAGE, c.says, c.env, "render" if c.render else "none") for c in CASES),
    # numbers: finite, > 0, a sane maximum
    *(Row(f"timeout-scale-{v}", lambda s, v=v: [f"--timeout-scale={v}"], USAGE, SCALE.format(v))
      for v in ("nan", "inf", "-inf", "1e308", "0", "101", "fast")),
    Row("timeout-scale-nan-from-environment", lambda s: [], USAGE,
        "ERROR: ESOCONF_TIMEOUT_SCALE: must be > 0 and <= 100, got 'nan'",
        env=lambda s: {"ESOCONF_TIMEOUT_SCALE": "nan"}),
    Row("timeout-scale-inf-from-profile", lambda s: ["--profile", s.file("p.yaml", "timeout_scale: .inf\n")], USAGE,
        "ERROR: profile key timeout_scale: must be > 0 and <= 100, got inf"),
    *(Row(f"reruns-{v}", lambda s, v=v: [f"--reruns={v}"], USAGE, RERUNS.format(v)) for v in ("-1", "2", "1.5", "x")),
    Row("reruns-negative-from-environment", lambda s: [], USAGE,
        "ERROR: ESOCONF_RERUNS: must be a whole number from 0 to 1, got '-1'", env=lambda s: {"ESOCONF_RERUNS": "-1"}),
    # the doc: a regular file under 1 MiB, checked before it is read
    Row("doc-dev-zero", lambda s: ["--doc", "/dev/zero"], USAGE, f"ERROR: --doc /dev/zero: {NOT_A_FILE}"),
    Row("doc-fifo", lambda s: ["--doc", _fifo(s)], USAGE, f"ERROR: --doc */doc.fifo: {NOT_A_FILE}"),
    Row("doc-directory", lambda s: ["--doc", s.folder("docs")], USAGE,
        "ERROR: --doc */docs: a directory; pass the VAULT_INTEGRATION.md under test"),
    Row("doc-too-large", lambda s: ["--doc", _sparse(s, 5 << 20)], USAGE,
        "ERROR: --doc */huge.md: 5242880 bytes, more than a VAULT_INTEGRATION.md can be (limit 1048576 bytes)*"),
    Row("doc-dev-zero-from-environment", lambda s: [], USAGE, f"ERROR: ESOCONF_DOC=/dev/zero: {NOT_A_FILE}",
        env=lambda s: {"ESOCONF_DOC": "/dev/zero"}),
    # outputs: checked before anything runs; the machine's fault is exit 2
    Row("report-json-dev-full", lambda s: ["--report-json", "/dev/full"], USAGE,
        "ERROR: --report-json /dev/full: not a regular file; give a file path"),
    Row("artifacts-dir-read-only", lambda s: ["--artifacts-dir", f"{s.root}/ro"], ENVIRONMENT,
        "ERROR: --artifacts-dir */ro: cannot write into */ro (Read-only file system); free some space, make it*",
        namespace="ro"),
    Row("artifacts-dir-under-read-only", lambda s: ["--artifacts-dir", f"{s.root}/ro/out"], ENVIRONMENT,
        "ERROR: --artifacts-dir */ro/out: cannot create */ro/out (Read-only file system); make it writable*",
        namespace="ro"),
    Row("artifacts-dir-disk-full", lambda s: ["--artifacts-dir", f"{s.root}/ro"], ENVIRONMENT,
        "ERROR: --artifacts-dir */ro: cannot write into */ro (No space left on device); free some space*",
        namespace="full"),
    Row("report-json-read-only", lambda s: ["--report-json", f"{s.root}/ro/claims.json"], ENVIRONMENT,
        "ERROR: --report-json */ro/claims.json: cannot write into */ro (Read-only file system)*", namespace="ro"),
    # tools
    Row("helm-not-executable", lambda s: ["--helm", s.file("helm", "#!/bin/sh\necho v3.17.2\n")], USAGE,
        "ERROR: helm v3.14.0+ is needed: --helm */helm is not executable (chmod +x it). Fix: *"),
    Row("install-tools-dir-is-a-file", lambda s: ["--tools-dir", s.file("tools")], 3,
        "install-tools: --tools-dir */tools is a file, not a folder: name a folder (made if missing)",
        tier="install-tools"),
    Row("install-tools-cache-is-a-file", lambda s: ["--if-missing", "--set", "local"], 3,
        "install-tools: ESOCONF_TOOLS_CACHE */cache is a file, not a folder: name a folder (made if missing)",
        env=lambda s: {"ESOCONF_TOOLS_CACHE": s.file("cache")}, tier="install-tools"),
    # the network: unreachable is the environment's fault (exit 2), never "usage"
    Row("git-chart-unreachable", lambda s: ["--chart", "https://127.0.0.1:9/eso.git", "--chart-version", "1.0.0"],
        ENVIRONMENT, "ERROR: --chart https://127.0.0.1:9/eso.git@1.0.0: network unreachable (Failed to "
        "connect to 127.0.0.1 port 9: Couldn't connect to server); use a local chart or `--chart reference`",
        tier="render"),
    Row("oci-chart-unreachable", lambda s: ["--chart", "oci://127.0.0.1:9/charts/eso", "--chart-version", "1.0.0"],
        ENVIRONMENT, "ERROR: --chart oci://127.0.0.1:9/charts/eso:1.0.0: network "
        "unreachable (dial tcp 127.0.0.1:9: connect: connection refused); use a "
        "local chart or `--chart reference`", tier="render"),
    Row("pinned-chart-without-network", lambda s: ["--chart", "pinned"], ENVIRONMENT,
        "ERROR: --chart https://repo1.dso.mil/*@*: network unreachable (Could not "
        "resolve host: repo1.dso.mil); use a local chart or `--chart reference`",
        tier="render", namespace="net"),
    # a chart helm cannot render: helm's own error, not its INFO line
    Row("chart-templates-symlink-loop", lambda s: ["--chart", _symlink_loop_chart(s), "--doc", str(DOC)], CLAIM_FAILED,
        "chart failure: helm cannot render */loop with any values: error evaluating symlink */templates/loop: "
        "EvalSymlinks: too many links", tier="render", verdict=True),
    # said prominently, once, at the top
    Row("misspelled-setting-variable", lambda s: [], OK,
        "WARNING: ESOCONF_CHRAT is not a setting and is ignored (did you mean ESOCONF_CHART?)",
        env=lambda s: {"ESOCONF_CHRAT": "./chart"}),
    Row("leftovers-of-a-killed-run-reported", lambda s: ["--platform", "local"], OK,
        "WARNING: leftovers of an earlier run: */esoconf-local-killed (run of pid *): no process still there; "
        "remove them with --clean-start", env=lambda s: {"LEFTOVER": "yes"}),
    Row("leftovers-removed-with-clean-start", lambda s: ["--clean-start"], OK,
        "--clean-start: removed the leftovers of an earlier run: */esoconf-local-killed (run of pid *): no process",
        env=lambda s: {"LEFTOVER": "yes"}),
    # the same with pytest-xdist workers
    Row("workers-timeout-scale-nan", lambda s: ["--timeout-scale", "nan"], USAGE, SCALE.format("nan"), workers=True),
    Row("workers-reruns-negative", lambda s: ["--reruns=-1"], USAGE, RERUNS.format("-1"), workers=True),
    Row("workers-doc-dev-zero", lambda s: ["--doc", "/dev/zero"], USAGE, f"ERROR: --doc /dev/zero: {NOT_A_FILE}",
        workers=True),
    Row("workers-helm-not-executable", lambda s: ["--helm", s.file("helm", "x")], USAGE,
        "ERROR: helm v3.14.0+ is needed: --helm */helm is not executable (chmod +x it). Fix: *", workers=True),
    Row("workers-report-json-is-a-directory", lambda s: ["--report-json", s.folder("out")], USAGE,
        "ERROR: --report-json */out: is a directory; give a file path (e.g. */out/claims.json)", workers=True),
    Row("workers-artifacts-dir-read-only", lambda s: ["--artifacts-dir", f"{s.root}/ro"], ENVIRONMENT,
        "ERROR: --artifacts-dir */ro: cannot write into */ro (Read-only file system)*", workers=True, namespace="ro"),
    Row("workers-misspelled-setting-variable", lambda s: [], OK,
        "WARNING: ESOCONF_CHRAT is not a setting and is ignored (did you mean ESOCONF_CHART?)",
        env=lambda s: {"ESOCONF_CHRAT": "./chart"}, workers=True),
    Row("workers-chart-pointing-nowhere", lambda s: ["--chart", f"{s.root}/nowhere"], USAGE,
        "ERROR: --chart */nowhere: no such file or directory; pass a chart directory (with Chart.yaml)*", workers=True),
]


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id, marks=[pytest.mark.integration] if r.workers or r.namespace
                                                else []) for r in ROWS])  # a pytest subprocess: integration
def test_hostile_input(row: Row, suite: pytest.Pytester, tmp_path: Path, fake_tool: Callable[..., Path],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    if row.namespace and can_unshare():
        pytest.skip(can_unshare())
    run = Run(tmp_path / "run")
    scratch = Scratch(tmp_path / "scratch", fake_tool)
    env = row.env(scratch)
    if env.pop("LEFTOVER", None):
        _leftover(scratch, run.tmp)
    args = row.args(scratch)
    if row.tier == "render":
        args = [str(SUITE), "--helm", str(helm_binary()), *args]
    elif row.tier == "none":
        suite.makepyfile(test_nothing="def test_nothing(): pass")
    previous = suite.path / "artifacts" / "report.json"
    previous.parent.mkdir()
    previous.write_text(PREVIOUS_REPORT)

    if row.tier == "install-tools":
        outcome = run.run([sys.executable, str(SUITE_ROOT / "scripts" / "install-tools"), *args], suite.path, env)
    elif row.subprocess:
        argv = pytest_argv(*args, *(["-n", "2"] if row.workers else []))
        outcome = run.run(in_namespace(row.namespace, scratch.root / "ro", argv) if row.namespace else argv,
                          suite.path, env)
    else:
        for name, value in {**env, "TMPDIR": str(run.tmp)}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
        result = suite.runpytest_inprocess(*args)
        outcome = _outcome(result)

    assert_row(outcome, row.code, row.says, str(tmp_path))
    if row.code == USAGE and not row.subprocess and "--artifacts-dir" not in args:  # this run's folder says why
        reasons = json.loads((suite.path / "artifacts" / "latest" / "report.json").read_text())["reasons"]
        assert reasons == ["usage error: " + outcome.message().removeprefix("ERROR: ")]
    if not row.verdict:
        assert previous.read_text() == PREVIOUS_REPORT, "a run without a verdict replaced the last complete report"
    expected_left = ["esoconf-local-killed"] if row.id == "leftovers-of-a-killed-run-reported" else []
    assert run.left_folders() == expected_left, "a run folder was left behind"
    assert run.left_processes() == [], "a process of the run outlived it"


def _outcome(result: pytest.RunResult) -> Outcome:
    return Outcome(int(result.ret), result.stdout.str(), result.stderr.str())


def test_the_table_holds_at_least_sixty_rows() -> None:
    assert len(ROWS) >= 60
    assert len({r.id for r in ROWS}) == len(ROWS)


# ------------------------------------------------------------------------------- interrupts (real signals)

HOLDS_A_PLATFORM = '''
import time, pytest
from esoconf.platforms.local.platform import private_run_dir
from esoconf.platforms.local.processes import Supervisor

@pytest.fixture(scope="session")
def platform():
    supervisor = Supervisor(private_run_dir())
    supervisor.start("vault", ["sh", "-c", "sleep 300 & sleep 300"], ready=lambda: True, timeout=10)
    yield supervisor
    supervisor.close()

@pytest.mark.parametrize("n", range(4))
def test_waits(platform, n):
    time.sleep(300)
'''


@dataclass(frozen=True)
class Interrupt:
    id: str
    signals: tuple[tuple[float, str], ...]  # (seconds after the previous one, signal name)
    workers: bool
    codes: tuple[int, ...] = (int(Exit.INTERRUPTED),)
    says: str = "interrupted by {}*"
    group: bool = False  # to the whole process group (a terminal's Ctrl-C) instead of the pytest process
    vault_tier: bool = False  # the real vault tier (suites/vault) with a Vault server that hangs and forks


# tox on Ctrl-C: SIGINT, SIGTERM 0.3 s later, SIGKILL 0.2 s after that (its defaults; tox.ini waits longer)
TOX_DEFAULTS = ((0.0, "SIGINT"), (0.3, "SIGTERM"), (0.2, "SIGKILL"))
INTERRUPTS = [
    *(Interrupt(f"{name}-{'workers' if workers else 'no-workers'}", ((0.0, name),), workers)
      for name in ("SIGINT", "SIGTERM", "SIGHUP") for workers in (False, True)),
    Interrupt("ctrl-c-to-the-process-group-workers", ((0.0, "SIGINT"),), True, group=True),
    # done (130), killed (-9), or ended by SIGTERM while the interpreter exits (its handlers reset by then): in
    # each case nothing is left
    *(Interrupt(f"tox-defaults-then-SIGKILL-{'workers' if workers else 'no-workers'}", TOX_DEFAULTS, workers,
                codes=(int(Exit.INTERRUPTED), -9, -15), says="") for workers in (False, True)),
    *(Interrupt(f"vault-tier-hung-server-{name}", ((0.0, name),), False, vault_tier=True)
      for name in ("SIGTERM", "SIGHUP")),
]
HUNG_VAULT = "#!/bin/sh\nsleep 300 &\nsleep 300\n"  # never answers sys/health; leaves a child if not stopped


@pytest.mark.integration
@pytest.mark.parametrize("case", INTERRUPTS, ids=[c.id for c in INTERRUPTS])
def test_interrupt_leaves_nothing(case: Interrupt, suite: pytest.Pytester, tmp_path: Path) -> None:
    """A run holding platform processes (a session fixture, as the local platform) gets real signals: it exits
    130 saying "interrupted" (no verdict, the last report kept), or is killed; either way no process and no run
    folder is left (signal handlers, the fixtures' unwinding, the run folder's watchdog)."""
    previous = suite.path / "artifacts" / "report.json"
    previous.parent.mkdir()
    previous.write_text(PREVIOUS_REPORT)
    run = Run(tmp_path / "run")
    if case.vault_tier:
        hung = suite.path / "hung-vault"
        hung.write_text(HUNG_VAULT)
        hung.chmod(0o755)
        argv = pytest_argv("suites/vault", "-m", "vault", "--vault-bin", str(hung), "-p", "no:cacheprovider",
                           "--artifacts-dir", str(previous.parent))
        proc = run.spawn(argv, SUITE_ROOT, {})
    else:
        suite.makepyfile(test_waits=HOLDS_A_PLATFORM)
        proc = run.spawn(pytest_argv("-p", "no:cacheprovider", *(["-n", "2"] if case.workers else [])), suite.path,
                         {})
    try:
        holding = 2 if case.workers else 1
        wait_until(lambda: len(marked_processes(run.mark, "sleep 300")) >= 2 * holding, 120, "the platform")
        for delay, name in case.signals:
            time.sleep(delay)
            if case.group:
                os.killpg(proc.pid, signal.Signals[name])
            else:
                proc.send_signal(signal.Signals[name])
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()

    outcome = Outcome(proc.returncode, out, err)
    first = case.signals[0][1]
    assert outcome.code in case.codes, f"exit code {outcome.code}: {(out + err)[-2000:]}"
    assert_row(outcome, outcome.code, case.says.format(first) if case.says and outcome.code == 130 else "*")
    assert previous.read_text() == PREVIOUS_REPORT, "an interrupted run replaced the last complete report"
    assert run.left_processes() == [], "a platform process outlived the interrupted run"
    wait_until(lambda: not run.left_folders(), 15, "the run folders to be removed")
