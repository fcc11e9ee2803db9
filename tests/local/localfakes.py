"""Tiny fake programs for the local platform's self-tests (the real binaries are not needed)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import textwrap
import time
from pathlib import Path

from esoconf.platforms.local.binaries import BINARY


def program(path: Path, body: str) -> Path:
    """An executable Python script at ``path`` (run by this interpreter) with ``body`` as its code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def gone(pid: int) -> bool:
    """``pid`` no longer runs (never existed, or a zombie waiting for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in {"Z", "X"}


def all_gone(pids: list[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(gone(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return all(gone(pid) for pid in pids)


def read_pid(path: Path, within: float = 5.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, 9)


# etcd's stand-in: answers /health on the --listen-client-urls port and records its PID in $FAKE_PIDS
FAKE_ETCD = """
import http.server, os, sys
url = next(a for a in sys.argv if a.startswith("--listen-client-urls=")).split("=", 1)[1]
with open(os.path.join(os.environ["FAKE_PIDS"], "etcd.pid"), "w") as out:
    out.write(str(os.getpid()))

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"health":"true"}')

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(url.rsplit(":", 1)[1])), Health).serve_forever()
"""

EXITS_AT_ONCE = """
import sys
print("E1202 07:00:00.000000 run.go:72] error: unable to load server certificate", file=sys.stderr)
sys.exit(1)
"""

SLEEPS = """
import time
time.sleep(60)
"""


def fake_cache(cache: Path, versions: dict[str, str], bodies: dict[str, str] | None = None) -> Path:
    """``<cache>/<component>-<version>/<binary>`` + ``manifest.json`` for every local component; each binary is a
    fake program (``bodies[component]``, default: one that sleeps)."""
    for component, binary in BINARY.items():
        folder = cache / f"{component}-{versions[component]}"
        program(folder / binary, (bodies or {}).get(component, SLEEPS))
        (folder / "manifest.json").write_text(json.dumps({"component": component, "version": versions[component]}))
    return cache
