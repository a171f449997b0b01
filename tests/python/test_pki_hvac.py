"""hvac's PKI calls against Coffer: root CA, role, issue, sign a CSR, revoke, read the CRL."""
import os
import uuid

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@pytest.fixture(scope="module")
def client():
    return hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])


@pytest.fixture(scope="module")
def pki(client):
    mount = f"pki-{uuid.uuid4().hex[:8]}"
    client.sys.enable_secrets_engine("pki", path=mount, config={"max_lease_ttl": "87600h"})
    root = client.secrets.pki.generate_root(
        type="internal", common_name="hvac Root", extra_params={"key_type": "ec", "key_bits": 256, "ttl": "8760h"},
        mount_point=mount)
    assert "BEGIN CERTIFICATE" in root["data"]["certificate"]
    client.secrets.pki.create_or_update_role(
        "svc", {"allowed_domains": "example.internal", "allow_subdomains": True, "key_type": "ec", "key_bits": 256, "ttl": "1h"},
        mount_point=mount)
    yield mount
    client.sys.disable_secrets_engine(mount)


def test_role_reads_back(client, pki):
    role = client.secrets.pki.read_role("svc", mount_point=pki)["data"]
    assert role["allowed_domains"] == ["example.internal"]
    assert role["allow_subdomains"] is True


def test_issue_and_refuse_other_domains(client, pki):
    issued = client.secrets.pki.generate_certificate("svc", "web.example.internal", mount_point=pki)["data"]
    cert = x509.load_pem_x509_certificate(issued["certificate"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "web.example.internal"
    assert issued["private_key_type"] == "ec"
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.secrets.pki.generate_certificate("svc", "web.example.com", mount_point=pki)


def test_sign_csr(client, pki):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.internal")]))
           .sign(key, hashes.SHA256()))
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    signed = client.secrets.pki.sign_certificate("svc", pem, "api.example.internal", mount_point=pki)["data"]
    cert = x509.load_pem_x509_certificate(signed["certificate"].encode())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()


def test_revoke_and_read_crl(client, pki):
    issued = client.secrets.pki.generate_certificate("svc", "gone.example.internal", mount_point=pki)["data"]
    serial = issued["serial_number"]
    revoked = client.secrets.pki.revoke_certificate(serial, mount_point=pki)
    assert revoked["data"]["revocation_time"] > 0
    crl_pem = client.secrets.pki.read_crl(mount_point=pki)
    crl = x509.load_pem_x509_crl(crl_pem.encode() if isinstance(crl_pem, str) else crl_pem)
    assert crl.get_revoked_certificate_by_serial_number(int(serial.replace(":", ""), 16)) is not None
