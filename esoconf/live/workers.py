"""The xdist workers of one run, as far as a platform that lives in one worker needs to know them.

A platform whose processes belong to the worker that built it (the node platform: its daemons, namespaces and
mounts are that worker's) may only come down when no other worker can still use it. Every worker says it is
running when its session starts (:func:`join`) and that it is done when its session ends (:func:`leave`); the
builder, at its own end, waits until every other worker left or died (:func:`wait_for_others`).

Serial tests (``@pytest.mark.serial``: they change what every test shares) run beside nothing: under xdist a
serial test holds the run's lock exclusively and every other live test holds it shared (:func:`exclusive`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from esoconf.cleanup import pid_alive
from esoconf.wait import Clock, WaitTimeout, wait_for

MEMBER_PREFIX, MEMBER_SUFFIX = "eso-conformance-worker-", ".pid"
MEMBER_GLOB = f"{MEMBER_PREFIX}*{MEMBER_SUFFIX}"
SERIAL_LOCK = "eso-conformance-serial.lock"


def shared_dir(config: Any) -> Path:
    """The folder every xdist worker of the run sees (a pytest config's basetemp's parent; without workers the
    basetemp's parent too, shared with other runs: what is written there carries the run id or is removed)."""
    return Path(config._tmp_path_factory.getbasetemp()).parent


def _member(shared: Path, worker: str) -> Path:
    return shared / f"{MEMBER_PREFIX}{worker}{MEMBER_SUFFIX}"


def join(shared: Path, worker: str) -> Path:
    path = _member(shared, worker)
    path.write_text(str(os.getpid()), encoding="utf-8")
    return path


def leave(shared: Path, worker: str) -> None:
    _member(shared, worker).unlink(missing_ok=True)


def others_running(shared: Path, worker: str) -> list[str]:
    """The other workers of the run that joined, did not leave and still run."""
    running = []
    for path in sorted(shared.glob(MEMBER_GLOB)):
        name = path.name.removeprefix(MEMBER_PREFIX).removesuffix(MEMBER_SUFFIX)
        if name == worker:
            continue
        with contextlib.suppress(OSError, ValueError):
            if pid_alive(int(path.read_text(encoding="utf-8").strip())):
                running.append(name)
    return running


def wait_for_others(shared: Path, worker: str, *, timeout: float, clock: Clock | None = None) -> list[str]:
    """Wait until every other worker of the run left (or died); returns those still running at ``timeout``."""
    try:
        wait_for(lambda: others_running(shared, worker), lambda running: not running, timeout=timeout,
                 what="the other xdist workers of this run done", interval=0.5, clock=clock)
    except WaitTimeout:
        return others_running(shared, worker)
    return []


@contextlib.contextmanager
def exclusive(shared: Path, serial: bool) -> Iterator[None]:
    """Hold the run's serial lock for one test: exclusively for a serial test, shared for any other."""
    with (shared / SERIAL_LOCK).open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if serial else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
