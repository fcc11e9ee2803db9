"""esoconf.platforms.local.pki (fresh CA, serving and admin certificates, SA keys) and the control plane's argv and
kubeconfig (esoconf.platforms.local.kubeapi)."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from esoconf.platforms.local import kubeapi
from esoconf.platforms.local.pki import ClusterPki, make_cluster_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ClusterPki:
    return make_cluster_pki(tmp_path_factory.mktemp("pki"))


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def signed_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, InvalidSignature):  # issuer name differs / signature does not verify
        return False
    return True


def test_serving_cert_has_the_loopback_and_in_cluster_names(pki: ClusterPki) -> None:
    san = cert(pki.serving_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert {"localhost", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} <= set(
        san.get_values_for_type(x509.DNSName)
    )
    usage = cert(pki.serving_cert).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_leaf_certs_are_signed_by_the_ca(pki: ClusterPki, tmp_path: Path) -> None:
    ca = cert(pki.ca_cert)

    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert signed_by(cert(pki.serving_cert), ca)
    assert signed_by(cert(pki.admin_cert), ca)
    other = make_cluster_pki(tmp_path / "other")  # a fresh CA per run: never the same one
    assert not signed_by(cert(pki.serving_cert), cert(other.ca_cert))


def test_admin_cert_is_a_system_masters_client(pki: ClusterPki) -> None:
    admin = cert(pki.admin_cert)

    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_private_keys_are_owner_only_and_the_sa_pair_matches(pki: ClusterPki) -> None:
    for key in (pki.serving_key, pki.admin_key, pki.sa_private):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    private = serialization.load_pem_private_key(pki.sa_private.read_bytes(), password=None)
    public = serialization.load_pem_public_key(pki.sa_public.read_bytes())
    assert isinstance(private, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey)
    assert private.public_key().public_numbers() == public.public_numbers()
    assert pki.ca_pem().startswith("-----BEGIN CERTIFICATE-----")


def flags(argv: list[str]) -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in argv[1:] if "=" in arg)


def test_apiserver_argv_has_rbac_tls_and_the_service_account_issuer(pki: ClusterPki, tmp_path: Path) -> None:
    argv = kubeapi.apiserver_argv(Path("/bin/kube-apiserver"), pki, "http://127.0.0.1:2379", 6443, tmp_path)
    given = flags(argv)

    assert argv[0] == "/bin/kube-apiserver"
    assert given["--authorization-mode"] == "RBAC"
    assert given["--etcd-servers"] == "http://127.0.0.1:2379"
    assert (given["--bind-address"], given["--secure-port"]) == ("127.0.0.1", "6443")
    assert given["--service-account-issuer"] == kubeapi.SA_ISSUER
    assert given["--service-account-key-file"] == str(pki.sa_public)
    assert given["--service-account-signing-key-file"] == str(pki.sa_private)
    assert given["--api-audiences"] == kubeapi.SA_ISSUER
    assert (given["--tls-cert-file"], given["--tls-private-key-file"]) == (str(pki.serving_cert), str(pki.serving_key))
    assert given["--client-ca-file"] == str(pki.ca_cert)


def test_controller_manager_runs_the_controllers_the_suite_relies_on(pki: ClusterPki, tmp_path: Path) -> None:
    config = tmp_path / "admin.kubeconfig"
    given = flags(kubeapi.controller_manager_argv(Path("/bin/kcm"), pki, config, 10257))

    assert set(given["--controllers"].split(",")) == {
        "garbage-collector-controller", "namespace-controller", "serviceaccount-controller"
    }
    assert given["--kubeconfig"] == str(config)
    assert given["--leader-elect"] == "false"
    assert given["--service-account-private-key-file"] == str(pki.sa_private)
    assert given["--root-ca-file"] == str(pki.ca_cert)
    assert (given["--bind-address"], given["--secure-port"]) == ("127.0.0.1", "10257")


def test_etcd_listens_on_loopback_only(tmp_path: Path) -> None:
    given = flags(kubeapi.etcd_argv(Path("/bin/etcd"), tmp_path / "data", 2379, 2380))

    assert given["--listen-client-urls"] == given["--advertise-client-urls"] == "http://127.0.0.1:2379"
    assert given["--listen-peer-urls"] == "http://127.0.0.1:2380"
    assert given["--data-dir"] == str(tmp_path / "data")


@pytest.mark.parametrize("user", [
    pytest.param({"client-certificate": "/pki/admin.crt", "client-key": "/pki/admin.key"}, id="client-cert"),
    pytest.param({"token": "eyJhbGciOi.fake.token"}, id="token"),
])
def test_kubeconfig_parses_and_is_owner_only(tmp_path: Path, user: dict[str, str]) -> None:
    path = kubeapi.kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443", Path("/pki/ca.crt"), user=user,
                              name="external-secrets")

    doc = yaml.safe_load(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert doc["current-context"] == "external-secrets"
    assert doc["clusters"] == [{"name": "external-secrets", "cluster": {
        "server": "https://127.0.0.1:6443", "certificate-authority": "/pki/ca.crt"}}]
    assert doc["users"] == [{"name": "external-secrets", "user": user}]
    assert doc["contexts"] == [{"name": "external-secrets",
                                "context": {"cluster": "external-secrets", "user": "external-secrets"}}]
