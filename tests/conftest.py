"""Shared fixtures for the self-tests: fake tool binaries and an isolated pytester run of the plugin."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import stat
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from esoconf.redact import REDACT

FakeTool = Callable[..., Path]
INSTALL_TOOLS = Path(__file__).resolve().parent.parent / "scripts" / "install-tools"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a self-test of more than ~10 s; `scripts/tox -e slow` runs them, "
                            "the quick loop (`scripts/tox -e unit`) leaves them out")
    config.addinivalue_line("markers", "integration: a self-test of real runs (a local platform, a registry, pytest "
                            "with xdist workers, real signals); `scripts/tox -e slow` runs them, the quick loop "
                            "leaves them out")
    config.addinivalue_line("markers", "mutants: a mutant proof beyond the quick loop's (there every claim has one "
                            "killing mutant); `scripts/tox -e slow` runs the whole table")


@pytest.fixture
def fake_tool(tmp_path: Path) -> FakeTool:
    """``fake_tool("helm", "v3.15.0", exit_code=0, folder="bin")``: an executable printing a version."""

    def make(name: str, version: str = "v9.9.9", *, exit_code: int = 0, folder: str = "bin") -> Path:
        path = tmp_path / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            textwrap.dedent(f"""\
            #!/bin/sh
            echo "{name} version {version}"
            exit {exit_code}
            """)
        )
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    return make


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project with the plugin's settings, isolated from the caller's ESOCONF_* environment."""
    for name in list(os.environ):
        if name.startswith("ESOCONF_"):
            monkeypatch.delenv(name)
    # an environment variable, not an ini file: path-valued options can move pytest's rootdir/ini search
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:pytest-kind -p no:cacheprovider --strict-markers")
    return pytester


@pytest.fixture(scope="module")
def installer() -> ModuleType:
    """scripts/install-tools loaded as a module."""
    loader = importlib.machinery.SourceFileLoader("install_tools", str(INSTALL_TOOLS))
    spec = importlib.util.spec_from_loader("install_tools", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def isolated_redaction() -> Iterator[None]:
    """Values one self-test registers (with words in them, e.g. "very-secret-db-password") are not masked,
    whole or as 6-character fragments, in the next test's output."""
    saved = REDACT.snapshot()
    yield
    REDACT.restore(saved)
