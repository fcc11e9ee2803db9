"""The local cluster's keys and certificates, made fresh for each run (never reused, never committed).

One CA signs the API server's serving certificate (127.0.0.1, localhost and the in-cluster names
``kubernetes.default.svc...``, so a client told either name verifies it) and the admin client certificate
(``O=system:masters``). The service-account key pair signs and verifies the tokens the API server issues.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from esoconf.redact import REDACT

VALIDITY = dt.timedelta(days=2)
SERVING_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class ClusterPki:
    """Paths of the PEM files in the run folder."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_public: Path
    sa_private: Path

    def ca_pem(self) -> str:
        return self.ca_cert.read_text(encoding="ascii")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common: str, org: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        parts.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(parts)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
    )


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    """Write a PEM file; a private key is 0600 and registered with the redaction layer before anything can print
    it: its body (any fragment) and the whole PEM (exactly, and as the base64 a kubeconfig embeds)."""
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
        text = data.decode("ascii")
        REDACT.add("".join(line for line in text.splitlines() if not line.startswith("-----")))
        REDACT.add(text, exact=True)
    return path


def make_cluster_pki(folder: Path, extra_ips: tuple[str, ...] = ()) -> ClusterPki:
    """A CA, the API server's serving pair, an admin client pair and the service-account signing pair.
    ``extra_ips``: more addresses the serving certificate names (the node platform's node and Service IPs)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("esoconf-local-ca")
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common: str, org: str | None, usage: x509.ObjectIdentifier, san: list[x509.GeneralName] | None):
        key = _key()
        builder = _builder(_name(common, org), ca_name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    san: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", *extra_ips)]
    san += [x509.DNSName(name) for name in SERVING_DNS]
    serving, serving_key = leaf("kube-apiserver", None, ExtendedKeyUsageOID.SERVER_AUTH, san)
    admin, admin_key = leaf("esoconf-admin", "system:masters", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = serialization.Encoding.PEM
    return ClusterPki(
        ca_cert=_write(folder / "ca.crt", ca.public_bytes(pem)),
        serving_cert=_write(folder / "apiserver.crt", serving.public_bytes(pem)),
        serving_key=_write(folder / "apiserver.key", _pem_key(serving_key), private=True),
        admin_cert=_write(folder / "admin.crt", admin.public_bytes(pem)),
        admin_key=_write(folder / "admin.key", _pem_key(admin_key), private=True),
        sa_public=_write(
            folder / "sa.pub",
            sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
        ),
        sa_private=_write(folder / "sa.key", _pem_key(sa_key), private=True),
    )
