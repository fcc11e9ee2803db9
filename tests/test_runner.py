"""The subprocess runner: merged environment, timeout, errors that explain themselves."""

from __future__ import annotations

import sys

import pytest

from esoconf.redact import REDACT
from esoconf.runner import CommandError, CommandNotFound, CommandTimeout, run

PY = sys.executable


def python(code: str) -> list[str]:
    return [PY, "-c", code]


def test_env_is_merged_into_the_inherited_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INHERITED", "kept")

    out = run(
        python("import os; print(os.environ['INHERITED'], os.environ['ADDED'], bool(os.environ['PATH']))"),
        env={"ADDED": "yes"},
    )

    assert out.stdout.split() == ["kept", "yes", "True"]


def test_error_names_command_exit_code_and_stderr_tail() -> None:
    code = "import sys; [print(f'line {i}', file=sys.stderr) for i in range(40)]; sys.exit(3)"

    with pytest.raises(CommandError) as err:
        run(python(code))

    message = str(err.value)
    assert message.startswith(f"command failed (exit code 3): {PY} -c ")
    assert "line 39" in message and "line 25" in message and "line 24" not in message
    assert err.value.returncode == 3


def test_timeout_raises_command_timeout() -> None:
    with pytest.raises(CommandTimeout, match=r"command failed \(timed out after 0.5s\)"):
        run(python("import time; time.sleep(30)"), timeout=0.5)


def test_missing_binary_raises_command_not_found() -> None:
    with pytest.raises(CommandNotFound, match="no-such-binary-xyz not found"):
        run(["no-such-binary-xyz", "--version"])


def test_check_false_returns_the_failure() -> None:
    result = run(python("import sys; print('out'); sys.exit(2)"), check=False)

    assert (result.returncode, result.stdout.strip()) == (2, "out")


def test_input_and_cwd_are_passed(tmp_path: object) -> None:
    out = run(
        python("import os, sys; print(sys.stdin.read(), os.getcwd())"), input="hello", cwd=str(tmp_path)
    )

    assert out.stdout.split() == ["hello", str(tmp_path)]


def test_error_redacts_registered_secrets_in_command_and_stderr() -> None:
    REDACT.add("hvs.runner-test-token")

    with pytest.raises(CommandError) as err:
        run(
            python("import sys; print('token hvs.runner-test-token rejected', file=sys.stderr); sys.exit(1)")
            + ["hvs.runner-test-token"]
        )

    assert "hvs.runner-test-token" not in str(err.value)
