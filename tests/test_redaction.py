"""One redaction layer for every output. The self-test plants canary values in every path a secret can
take (a failing sync's assertion message, captured stdout and logs, live logs, a diagnostics dump, a helm
error that echoes its values file, an xfail reason, the reports) and scans every artifact: zero hits."""

from __future__ import annotations

import base64
import html
import logging
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from esoconf.redact import (
    FRAGMENT,
    MARKER,
    REDACT,
    RedactingStream,
    install_log_redaction,
    redact_longrepr,
    uninstall_log_redaction,
    write_redacted,
)


def _random(n: int = 24) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


@dataclass(frozen=True)
class Canaries:
    vault_value: str  # a value the suite wrote to Vault (registered with REDACT by the writer)
    token: str  # a Vault token (caught by its format, never registered)
    secret_data: str  # a Secret's data value (caught in dumps by the data:/stringData: rule)
    string_data: str
    long_value: str = ""  # a long seeded value (random only): no fragment of FRAGMENT characters may show

    def forms(self) -> dict[str, str]:
        """Every form that must never appear: the values and the base64 a Secret object carries."""
        found = {name: value for name, value in vars(self).items() if value}
        found |= {f"{name}-b64": base64.b64encode(v.encode()).decode() for name, v in vars(self).items() if v}
        return found

    def fragments(self) -> dict[str, str]:
        """Every FRAGMENT-character piece of the long value (pytest's repr cuts values short)."""
        value = self.long_value
        return {f"long_value[{i}:{i + FRAGMENT}]": value[i : i + FRAGMENT] for i in range(len(value) - FRAGMENT + 1)}


def leaks(texts: Iterable[tuple[str, str]], canaries: Canaries) -> list[str]:
    pieces = canaries.forms() | canaries.fragments()
    return [f"{canary} in {where}" for where, text in texts for canary, value in pieces.items() if value in text]


PLANTED = '''
import base64, logging, pytest
from esoconf.redact import REDACT, write_redacted
from esoconf.report import diagnostics_dir
from esoconf.runner import run

VAULT_VALUE, TOKEN, SECRET_DATA, STRING_DATA = {vault_value!r}, {token!r}, {secret_data!r}, {string_data!r}
LONG_VALUE = {long_value!r}
REDACT.add(VAULT_VALUE, LONG_VALUE)  # what the Vault seeder does for every value it writes
SECRET = {{"apiVersion": "v1", "kind": "Secret", "metadata": {{"name": "eso-vault-demo"}},
           "data": {{"password": base64.b64encode(SECRET_DATA.encode()).decode()}},
           "stringData": {{"token": STRING_DATA}}}}


@pytest.mark.claim("SYNC-1")
def test_failing_sync():
    print("synced secret holds", VAULT_VALUE, "token", TOKEN)
    logging.getLogger("esoconf.test").warning("vault token=%s value %s", TOKEN, VAULT_VALUE)
    assert {{"password": VAULT_VALUE}} == {{"password": "expected"}}, f"Secret password is {{VAULT_VALUE}}"


@pytest.mark.claim("SYNC-1")
def test_failing_assertion_on_a_long_seeded_value():
    # pytest shortens each side of the comparison: the first line shows only the value's tail
    seeded = {{"username": "u" + "0" * 20, "password": LONG_VALUE}}
    assert {{"username": "u" + "0" * 20, "password": "not-what-vault-holds"}} == seeded


@pytest.mark.claim("DIAG-1")
def test_diagnostics_dump(request):
    folder = diagnostics_dir("artifacts", request.node.nodeid)
    write_redacted(folder / "secret.yaml", [SECRET])
    write_redacted(folder / "secret.json", SECRET)
    text_dump = ("kind: Secret\\ndata:\\n  password: " + SECRET["data"]["password"]
                 + "\\nstringData:\\n  token: " + STRING_DATA + "\\n")
    write_redacted(folder / "kubectl-get.txt", text_dump)
    raise AssertionError("ExternalSecret not Ready; Vault answered for token " + TOKEN)


@pytest.mark.claim("NET-1")
def test_helm_error_echoes_values(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("auth:\\n  token: " + TOKEN + "\\nseed: " + VAULT_VALUE + "\\n")
    run(["{helm}", "template", "-f", str(values)])


@pytest.mark.claim("DATA-2")
@pytest.mark.xfail(reason="known defect shown with value " + VAULT_VALUE, strict=True)
def test_known_defect():
    assert False
'''


def test_no_canary_reaches_any_artifact(suite: pytest.Pytester, fake_helm_echoing_values: Path) -> None:
    canaries = Canaries(f"canary-vault-{_random()}", f"hvs.{_random(26)}", f"canary-data-{_random()}",
                        f"canary-strdata-{_random()}", _random(48))
    suite.makepyfile(test_planted=PLANTED.format(helm=fake_helm_echoing_values, **vars(canaries)))
    # stricter than the project's lean JUnit: captured output of every test goes into the XML as well
    result = suite.runpytest("-rA", "-o", "junit_logging=all", "-o", "junit_log_passing_tests=true",
                             "-o", "log_cli=true", "--report-json", "artifacts/claims.json")
    assert result.ret == 1
    artifacts = sorted(p for p in (suite.path / "artifacts").rglob("*") if p.is_file())
    names = {p.relative_to(suite.path / "artifacts").as_posix() for p in artifacts}
    assert {"junit.xml", "report.json", "report.md", "report.html", "claims.json"} <= names
    assert len([n for n in names if n.startswith("diagnostics/")]) == 3
    texts = [("terminal", result.stdout.str() + result.stderr.str())]
    texts += [(p.name, p.read_text(errors="replace")) for p in artifacts]
    assert leaks(texts, canaries) == []
    # the paths were really taken: the marker stands where each value was
    for where, text in texts:
        if where in ("terminal", "junit.xml", "report.json", "secret.yaml", "kubectl-get.txt"):
            assert MARKER in text or html.escape(MARKER) in text, where
    assert "command failed (exit code 1)" in result.stdout.str()  # the helm error reached the terminal


def test_the_scan_finds_a_planted_leak() -> None:
    """Control: the scanner is not blind (a check that cannot fail is a defect)."""
    canaries = Canaries("v" * 8, "hvs.x", "d" * 8, "s" * 8)
    encoded = base64.b64encode(b"dddddddd").decode()
    assert leaks([("file", f"password: {encoded}")], canaries) == ["secret_data-b64 in file"]
    long = Canaries("v" * 8, "hvs.x", "d" * 8, "s" * 8, "0123456789abcdefghij")
    assert leaks([("terminal", "{'password': ...fghij'}")], long) == []  # 5 characters: below FRAGMENT
    assert leaks([("terminal", "{'password': ...efghij'}")], long) == ["long_value[14:20] in terminal"]


def test_a_fragment_of_a_registered_value_is_masked_but_not_its_neighbours() -> None:
    value = "Qx7" + _random(30) + "Zw9"
    REDACT.add(value)
    shown = f"assert {{'username': 'u0000', 'password': '...{value[-12:]}'}} == {{'password': '{value[:9]}...'}}"
    text = REDACT(shown)
    assert value[-12:] not in text and value[:9] not in text
    assert text == f"assert {{'username': 'u0000', 'password': '...{MARKER}'}} == {{'password': '{MARKER}...'}}"
    assert REDACT(value[-5:]) == value[-5:]  # shorter than FRAGMENT: unrelated text would be mangled


def test_exact_values_are_masked_whole_only() -> None:
    REDACT.add("public-fixed-dev-token-name", exact=True)
    assert REDACT("public-fixed-dev-token-name and public-fixed") == f"{MARKER} and public-fixed"


@pytest.fixture
def fake_helm_echoing_values(tmp_path: Path) -> Path:
    """A helm stand-in that prints its values file to stderr and fails, as helm does on a template error."""
    path = tmp_path / "bin" / "helm"
    path.parent.mkdir()
    path.write_text('#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -f ] && cat "$2" >&2; shift; done\n'
                    'echo "Error: template: values are invalid" >&2\nexit 1\n')
    path.chmod(0o755)
    return path


# ------------------------------------------------------------------------------- the layer's parts


def test_chained_exception_repr_is_redacted_in_place() -> None:
    REDACT.add("chained-secret-value")

    def inner() -> None:
        raise ValueError("inner chained-secret-value")

    try:
        try:
            inner()
        except ValueError as exc:
            raise RuntimeError("outer chained-secret-value") from exc
    except RuntimeError:
        info = pytest.ExceptionInfo.from_current()
    longrepr = redact_longrepr(info.getrepr(showlocals=True, chain=True))
    text = str(longrepr)
    assert "chained-secret-value" not in text
    assert text.count(MARKER) >= 2
    assert "chained-secret-value" not in longrepr.reprcrash.message  # type: ignore[union-attr]


@pytest.mark.parametrize(("suffix", "content"), [
    (".yaml", [{"kind": "Secret", "data": {"k": "c2VjcmV0LWRhdGEtdmFsdWU="},
                "stringData": {"t": "plain-sd"}}]),
    (".json", {"kind": "Secret", "data": {"k": "c2VjcmV0LWRhdGEtdmFsdWU="}}),
    (".txt", "apiVersion: v1\nkind: Secret\ndata:\n  k: c2VjcmV0LWRhdGEtdmFsdWU=\n"),
], ids=["yaml-objects", "json-object", "text-dump"])
def test_write_redacted_hides_secret_payloads(tmp_path: Path, suffix: str, content: object) -> None:
    text = write_redacted(tmp_path / f"dump{suffix}", content).read_text()
    assert "c2VjcmV0LWRhdGEtdmFsdWU=" not in text and "plain-sd" not in text
    assert MARKER in text


def test_write_redacted_yaml_stays_parseable(tmp_path: Path) -> None:
    objects = [{"kind": "Secret", "metadata": {"name": "a"}, "data": {"k": "djE="}}, {"kind": "ConfigMap"}]
    docs = list(yaml.safe_load_all(write_redacted(tmp_path / "d.yaml", objects).read_text()))
    assert docs[0]["data"] == {"k": MARKER} and docs[1] == {"kind": "ConfigMap"}


def test_log_records_are_redacted_where_they_are_made(caplog: pytest.LogCaptureFixture) -> None:
    REDACT.add("logged-secret-value")
    install_log_redaction()
    try:
        logging.getLogger("esoconf.test").warning("value %s", "logged-secret-value")
    finally:
        uninstall_log_redaction()
    assert caplog.records[-1].getMessage() == f"value {MARKER}"


def test_redacting_stream_wraps_writes(tmp_path: Path) -> None:
    REDACT.add("streamed-secret-value")
    with open(tmp_path / "out.txt", "w") as handle:
        RedactingStream(handle).write("x streamed-secret-value y")
    assert (tmp_path / "out.txt").read_text() == f"x {MARKER} y"
