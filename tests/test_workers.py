"""The xdist workers of a run: the serial lock (a serial test beside no other live test) and the barrier the
worker that built a node waits at before taking it down."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from esoconf.live import workers


def _holds(shared: Path, serial: bool, started: threading.Event, release: threading.Event) -> threading.Thread:
    def body() -> None:
        with workers.exclusive(shared, serial=serial):
            started.set()
            release.wait(5)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(("first", "second", "together"), [
    pytest.param(False, False, True, id="shared-beside-shared"),
    pytest.param(False, True, False, id="serial-waits-for-shared"),
    pytest.param(True, False, False, id="shared-waits-for-serial"),
    pytest.param(True, True, False, id="serial-waits-for-serial"),
])
def test_the_serial_lock(tmp_path: Path, first: bool, second: bool, together: bool) -> None:
    release = threading.Event()
    one, two = threading.Event(), threading.Event()
    threads = [_holds(tmp_path, first, one, release)]
    assert one.wait(5)
    threads.append(_holds(tmp_path, second, two, release))
    assert two.wait(0.2) is together
    release.set()
    assert two.wait(5)
    for thread in threads:
        thread.join(5)


def test_the_builder_waits_for_running_workers_only(tmp_path: Path) -> None:
    workers.join(tmp_path, "gw0")  # the builder itself: never waited for
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / f"{workers.MEMBER_PREFIX}gw1{workers.MEMBER_SUFFIX}").write_text(str(sleeper.pid))
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
        (tmp_path / f"{workers.MEMBER_PREFIX}gw2{workers.MEMBER_SUFFIX}").write_text(dead)  # crashed: not waited for
        started = time.monotonic()
        assert workers.wait_for_others(tmp_path, "gw0", timeout=0.3) == ["gw1"]
        assert time.monotonic() - started >= 0.3
        workers.leave(tmp_path, "gw1")
        assert workers.wait_for_others(tmp_path, "gw0", timeout=5) == []
    finally:
        sleeper.kill()
        sleeper.wait()
