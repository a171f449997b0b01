"""hvac's TLS certificate auth helpers against Coffer over real TLS: create_ca_certificate_role,
configure_tls_certificate and cert login with a client certificate; a certificate from another
CA is refused (400, InvalidRequest); renewal binds to the login's certificate.

Not collected with the other hvac tests (its name does not start with test_): tests/hvac.rs
runs it against a TLS server it starts, with VAULT_ADDR (https), VAULT_CACERT (the server's
certificate), VAULT_TOKEN (root) and COFFER_CERT_DIR holding ca.pem and the client
certificates web, web2 (same CA and subject, another key) and intruder (another CA), each as
<name>.pem and <name>.key."""
import os
import uuid

import hvac
import pytest
from hvac.exceptions import InternalServerError, InvalidRequest

CERTS = os.environ.get("COFFER_CERT_DIR", "")
ADDR = os.environ["VAULT_ADDR"]
SERVER_CA = os.environ.get("VAULT_CACERT", "")


def pem(name):
    return os.path.join(CERTS, f"{name}.pem")


def key(name):
    return os.path.join(CERTS, f"{name}.key")


def service(client_cert=None):
    """A client without a token that trusts the server; presents `client_cert` on every
    connection when given."""
    cert = (pem(client_cert), key(client_cert)) if client_cert else None
    return hvac.Client(url=ADDR, token="", verify=SERVER_CA, cert=cert)


@pytest.fixture(scope="module")
def admin():
    c = hvac.Client(url=ADDR, token=os.environ["VAULT_TOKEN"], verify=SERVER_CA)
    assert c.is_authenticated()
    return c


@pytest.fixture()
def mount(admin):
    path = f"cert-{uuid.uuid4().hex[:8]}"
    admin.sys.enable_auth_method("cert", path=path)
    response = admin.auth.cert.create_ca_certificate_role(
        "svc", certificate_file=pem("ca"), allowed_common_names="web.client.test",
        token_policies=["svc-read"], token_ttl="1h", display_name="svc-certs", mount_point=path,
    )
    assert getattr(response, "status_code", None) == 204, response
    yield path
    admin.sys.disable_auth_method(path)


def test_role_management(admin, mount):
    role = admin.auth.cert.read_ca_certificate_role("svc", mount_point=mount)["data"]
    assert role["allowed_common_names"] == ["web.client.test"]
    assert role["token_policies"] == ["svc-read"]
    assert role["token_ttl"] == 3600
    with open(pem("ca")) as f:
        assert role["certificate"] == f.read()
    assert admin.auth.cert.list_certificate_roles(mount_point=mount)["data"]["keys"] == ["svc"]
    response = admin.auth.cert.configure_tls_certificate(mount_point=mount)
    assert getattr(response, "status_code", None) == 204, response


def test_login_with_a_client_certificate(mount):
    client = service()
    login = client.auth.cert.login(name="svc", cert_pem=pem("web"), key_pem=key("web"),
                                   mount_point=mount)
    assert login["auth"]["metadata"]["cert_name"] == "svc"
    assert login["auth"]["metadata"]["common_name"] == "web.client.test"
    assert login["auth"]["lease_duration"] == 3600
    assert client.token == login["auth"]["client_token"]
    me = client.auth.token.lookup_self()["data"]
    assert me["display_name"] == f"{mount}-svc-certs"
    assert me["policies"] == ["default", "svc-read"]
    # Without a role name, every role is tried.
    anyone = service().auth.cert.login(cert_pem=pem("web"), key_pem=key("web"), mount_point=mount)
    assert anyone["auth"]["metadata"]["cert_name"] == "svc"


def test_a_certificate_from_another_ca_is_refused(mount):
    client = service()
    with pytest.raises(InvalidRequest) as refused:
        client.auth.cert.login(name="svc", cert_pem=pem("intruder"), key_pem=key("intruder"),
                               mount_point=mount)
    assert refused.value.errors == ["invalid certificate or no client certificate supplied"]
    assert not client.token


def test_renewal_binds_to_the_login_certificate(mount):
    web = service("web")
    login = web.auth.cert.login(name="svc", cert_pem=pem("web"), key_pem=key("web"),
                                mount_point=mount)
    token = login["auth"]["client_token"]
    renewed = web.auth.token.renew_self(increment="2h")
    assert renewed["auth"]["lease_duration"] == 7200

    no_cert = service()
    no_cert.token = token
    with pytest.raises(InvalidRequest) as refused:
        no_cert.auth.token.renew_self()
    assert refused.value.errors == ["no client certificate found"]
    other_key = service("web2")
    other_key.token = token
    with pytest.raises(InternalServerError) as refused:
        other_key.auth.token.renew_self()
    assert "client identity during renewal not matching" in refused.value.errors[0]
