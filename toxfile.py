"""tox inline plugin: one shared virtualenv for every env that needs the suite's packages.

tox keeps one environment per env name and recreates a shared ``env_dir`` whenever a differently named env
uses it. Every env here installs the same package with the same extras, so the ``shared-virtualenv`` runner
records one name for all of them: the first command installs, every later one (any env) reuses the
environment while its dependencies are unchanged (tox still compares the dependencies and reinstalls when
they change). Envs sharing it must not run at the same time (no ``tox -p`` over them).
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from tox.plugin import impl
from tox.tox_env.api import ToxEnv
from tox.tox_env.info import Info
from tox.tox_env.python.virtual_env.runner import VirtualEnvRunner
from tox.tox_env.register import ToxEnvRegister

SHARED_NAME = "suite"


class _SharedInfo(Info):
    @contextmanager
    def compare(self, value: Any, section: str, sub_section: str | None = None
                ) -> Generator[tuple[bool, Any | None], None, None]:
        if section == ToxEnv.__name__ and isinstance(value, dict):
            value = {**value, "name": SHARED_NAME}
        with super().compare(value, section, sub_section) as result:
            yield result


class SharedVirtualEnvRunner(VirtualEnvRunner):
    @staticmethod
    def id() -> str:
        return "shared-virtualenv"

    @property
    def cache(self) -> Info:
        return _SharedInfo(self.env_dir)


@impl
def tox_register_tox_env(register: ToxEnvRegister) -> None:
    register.add_run_env(SharedVirtualEnvRunner)
