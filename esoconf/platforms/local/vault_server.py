"""A real Vault API server in dev mode as a local process: HashiCorp ``vault`` or OpenBao's ``bao``.

Dev mode: in memory, unsealed, KV v2 at ``secret/``, listening on one loopback port. The root token is
random per run, handed to the server through its environment (never on the command line) and registered
with the redaction layer, as is the unseal key the server prints once it is up; the dev server prints both into
its own log, so that log stays in the private run
folder and only redacted copies reach the artifacts. The product and version reported are the server's own
answer on ``sys/health``, not a pin.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import requests

from esoconf.redact import REDACT

from .processes import Managed, Supervisor, free_port

HEALTH = "/v1/sys/health"
PRODUCTS = {"bao": "openbao", "vault": "vault"}


@dataclass(frozen=True)
class VaultServerInfo:
    url: str
    product: str  # "openbao" or "vault"
    version: str  # from sys/health
    root_token: str = field(repr=False)

    @property
    def label(self) -> str:
        return f"{'OpenBao' if self.product == 'openbao' else 'HashiCorp Vault'} {self.version}"


def product_of(binary: Path) -> str:
    return PRODUCTS.get(binary.name, "vault")


def _health(url: str) -> dict[str, object] | None:
    response = requests.get(url + HEALTH, timeout=2)
    return response.json() if response.status_code == 200 else None


def start_vault_dev(
    supervisor: Supervisor,
    binary: Path,
    *,
    timeout: float = 30.0,
    port: int | None = None,
    name: str = "vault",
) -> tuple[Managed, VaultServerInfo]:
    """Start ``binary server -dev`` on 127.0.0.1 and wait for ``sys/health`` 200."""
    port = port or free_port()
    # purely random: the redaction layer masks any 6-character fragment of it, so no words in it
    token = secrets.token_hex(20)
    REDACT.add(token)
    url = f"http://127.0.0.1:{port}"
    env = {
        # both products read their own prefix; OpenBao also honours the VAULT_ names
        "VAULT_DEV_ROOT_TOKEN_ID": token,
        "BAO_DEV_ROOT_TOKEN_ID": token,
        "VAULT_DEV_LISTEN_ADDRESS": f"127.0.0.1:{port}",
        "BAO_DEV_LISTEN_ADDRESS": f"127.0.0.1:{port}",
        "VAULT_ADDR": url,
        "BAO_ADDR": url,
        "HOME": str(supervisor.run_dir),  # no ~/.vault-token of the user's is read or written
    }
    seen: dict[str, object] = {}

    def ready() -> bool:
        health = _health(url)
        if health:
            seen.update(health)
        return bool(health)

    managed = supervisor.start(
        name,
        [binary, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"],
        ready=ready,
        timeout=timeout,
        env=env,
        what=f"{binary.name} dev server answering {HEALTH} on {url}",
    )
    register_dev_secrets(managed.log)
    # the banner may follow the first healthy answer: read it again before any copy of a log is made
    supervisor.before_copy.append(lambda: register_dev_secrets(managed.log))
    info = VaultServerInfo(url, product_of(binary), str(seen.get("version", "unknown")), token)
    return managed, info


UNSEAL_KEY = re.compile(r"(?m)^\s*Unseal Key(?: \d+)?:\s*(\S+)")


def register_dev_secrets(log: Path) -> list[str]:
    """The dev server prints its unseal key (and the root token) into its log once it is up: register them
    with the redaction layer before any copy of the log is made. Returns what was registered (for the tests)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    keys = UNSEAL_KEY.findall(text)
    REDACT.add(*keys)
    return keys


def server_info(url: str, token: str, binary_name: str = "vault") -> VaultServerInfo:
    """Product and version of an already-running server (e.g. a testcontainers one)."""
    health = _health(url) or {}
    return VaultServerInfo(url, PRODUCTS.get(binary_name, "vault"), str(health.get("version", "unknown")), token)
