"""hvac's own auth helpers against Coffer: AppRole, Kubernetes (local validation with
pem_keys) and JWT (jwt_validation_pubkeys), set up with hvac's management calls, each with
its denial cases raising the exception for OpenBao's status (400 InvalidRequest, 403
Forbidden). Run by tests/hvac.rs with VAULT_ADDR and VAULT_TOKEN pointing at a dev server.
The JWTs are signed here with a key made for the test run."""
import base64
import datetime
import json
import os
import time
import uuid

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hvac.exceptions import Forbidden, InvalidRequest


@pytest.fixture(scope="module")
def client():
    c = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    assert c.is_authenticated()
    return c


def anonymous():
    """A client without a token, as a service logging in has ("": not VAULT_TOKEN)."""
    return hvac.Client(url=os.environ["VAULT_ADDR"], token="")


@pytest.fixture()
def auth_mount(client, request):
    """Enables the auth method named by the test's parameter at a fresh path."""
    method = request.param
    path = f"{method}-{uuid.uuid4().hex[:8]}"
    client.sys.enable_auth_method(method, path=path)
    yield path
    client.sys.disable_auth_method(path)


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(key, claims):
    """An RS256 JWS over `claims`."""
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64url(signature)}"


def public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def certificate_pem(key):
    """A self-signed certificate for `key`: hvac accepts only certificates as pem_keys."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "service-account-signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def no_content(response):
    """A management write answered 204, as OpenBao answers it (hvac returns the raw response
    for a 204 and the parsed body otherwise: a 200 would mean warnings)."""
    assert getattr(response, "status_code", None) == 204, response
    return True


def assert_logged_in(c, policy):
    """hvac kept the login's token: it authenticates and carries `policy`."""
    assert c.is_authenticated()
    me = c.auth.token.lookup_self()["data"]
    assert policy in me["policies"]
    assert me["orphan"] is True
    return me


# --- AppRole ---------------------------------------------------------------------------


@pytest.mark.parametrize("auth_mount", ["approle"], indirect=True)
def test_approle_management_and_login(client, auth_mount):
    approle = client.auth.approle
    assert no_content(approle.create_or_update_approle(
        "svc", token_policies=["svc-read"], token_ttl="1h", secret_id_num_uses=2,
        mount_point=auth_mount,
    ))
    role = approle.read_role("svc", mount_point=auth_mount)["data"]
    assert role["token_policies"] == ["svc-read"]
    assert role["token_ttl"] == 3600
    assert "policies" not in role and "period" not in role, "set through token_* names"
    assert "svc" in approle.list_roles(mount_point=auth_mount)["data"]["keys"]
    role_id = approle.read_role_id("svc", mount_point=auth_mount)["data"]["role_id"]
    generated = approle.generate_secret_id(
        "svc", metadata={"team": "payments"}, mount_point=auth_mount
    )["data"]
    secret_id = generated["secret_id"]
    assert generated["secret_id_num_uses"] == 2
    looked_up = approle.read_secret_id("svc", secret_id, mount_point=auth_mount)["data"]
    assert looked_up["metadata"] == {"team": "payments"}
    accessors = approle.list_secret_id_accessors("svc", mount_point=auth_mount)["data"]["keys"]
    assert accessors == [generated["secret_id_accessor"]]

    service = anonymous()
    login = service.auth.approle.login(role_id, secret_id, mount_point=auth_mount)
    assert login["auth"]["metadata"] == {"role_name": "svc", "team": "payments"}
    assert login["auth"]["lease_duration"] == 3600
    assert service.token == login["auth"]["client_token"]
    me = assert_logged_in(service, "svc-read")
    assert me["display_name"] == auth_mount, "the mount path, as OpenBao names approle tokens"
    renewed = service.auth.token.renew_self(increment="2h")
    assert renewed["auth"]["lease_duration"] == 7200


@pytest.mark.parametrize("auth_mount", ["approle"], indirect=True)
def test_approle_denials(client, auth_mount):
    approle = client.auth.approle
    approle.create_or_update_approle("svc", token_policies=["svc-read"], mount_point=auth_mount)
    role_id = approle.read_role_id("svc", mount_point=auth_mount)["data"]["role_id"]
    secret_id = approle.generate_secret_id("svc", mount_point=auth_mount)["data"]["secret_id"]
    service = anonymous()
    for bad_role_id, bad_secret_id in [
        (role_id, "not-the-secret-id"),
        ("not-a-role-id", secret_id),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            service.auth.approle.login(bad_role_id, bad_secret_id, mount_point=auth_mount)
        assert refused.value.errors == ["invalid role or secret ID"]
    assert not service.token
    approle.destroy_secret_id("svc", secret_id, mount_point=auth_mount)
    with pytest.raises(InvalidRequest):
        service.auth.approle.login(role_id, secret_id, mount_point=auth_mount)


# --- Kubernetes ------------------------------------------------------------------------


def service_account_jwt(key, namespace="payments", name="api", audience="coffer", **extra):
    """A projected service-account token, as the kubelet mounts it."""
    now = int(time.time())
    claims = {
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": f"system:serviceaccount:{namespace}:{name}",
        "aud": [audience],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": "5b3e6f0a-0000-4000-8000-00000000a11c"},
            "pod": {"name": f"{name}-7d4b9c", "uid": "0b0e6f0a-0000-4000-8000-0000000000b0"},
        },
    }
    claims.update(extra)
    return sign_jwt(key, claims)


@pytest.mark.parametrize("auth_mount", ["kubernetes"], indirect=True)
def test_kubernetes_management_and_login(client, auth_mount, signing_key):
    k8s = client.auth.kubernetes
    # Coffer makes no TokenReview call when pem_keys verify the JWT: the host is never
    # dialled. (OpenBao calls TokenReview all the same.) The CA is given because OpenBao
    # refuses a configuration without one outside a pod.
    assert no_content(k8s.configure(
        kubernetes_host="https://127.0.0.1:1",
        kubernetes_ca_cert=certificate_pem(signing_key),
        pem_keys=[certificate_pem(signing_key)],
        mount_point=auth_mount,
    ))
    config = k8s.read_config(mount_point=auth_mount)
    assert config["kubernetes_host"] == "https://127.0.0.1:1"
    assert len(config["pem_keys"]) == 1
    assert no_content(k8s.create_role(
        "api", bound_service_account_names=["api"],
        bound_service_account_namespaces=["pay*"], policies=["api-read"], ttl="30m",
        audience="coffer", mount_point=auth_mount,
    ))
    role = k8s.read_role("api", mount_point=auth_mount)
    assert role["bound_service_account_namespaces"] == ["pay*"]
    assert role["token_policies"] == ["api-read"]
    assert role["token_ttl"] == 1800
    # hvac writes the legacy names; reads echo them, as OpenBao does.
    assert (role["policies"], role["ttl"]) == (["api-read"], 1800)
    assert "api" in k8s.list_roles(mount_point=auth_mount)["keys"]

    service = anonymous()
    login = service.auth.kubernetes.login("api", service_account_jwt(signing_key),
                                          mount_point=auth_mount)
    metadata = login["auth"]["metadata"]
    assert metadata["service_account_namespace"] == "payments"
    assert metadata["service_account_name"] == "api"
    assert metadata["role"] == "api"
    assert login["auth"]["lease_duration"] == 1800
    me = assert_logged_in(service, "api-read")
    assert me["display_name"] == f"{auth_mount}-payments-api"


@pytest.mark.parametrize("auth_mount", ["kubernetes"], indirect=True)
def test_kubernetes_denials(client, auth_mount, signing_key):
    k8s = client.auth.kubernetes
    k8s.configure(
        kubernetes_host="https://127.0.0.1:1", kubernetes_ca_cert=certificate_pem(signing_key),
        pem_keys=[certificate_pem(signing_key)], mount_point=auth_mount,
    )
    k8s.create_role(
        "api", bound_service_account_names=["api"], bound_service_account_namespaces=["payments"],
        policies=["api-read"], audience="coffer", mount_point=auth_mount,
    )
    service = anonymous()
    cases = [
        (service_account_jwt(signing_key, namespace="default"), "namespace not authorized"),
        (service_account_jwt(signing_key, name="other"), "service account name not authorized"),
        (service_account_jwt(signing_key, audience="someone-else"), "invalid audience (aud) claim"),
    ]
    for jwt, message in cases:
        with pytest.raises(Forbidden) as refused:
            service.auth.kubernetes.login("api", jwt, mount_point=auth_mount)
        assert message in refused.value.errors[0]
    # Signed by another key: refused without saying why.
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Forbidden) as refused:
        service.auth.kubernetes.login("api", service_account_jwt(stranger), mount_point=auth_mount)
    assert refused.value.errors == ["permission denied"]
    # An unknown role is a bad request, not a denial.
    with pytest.raises(InvalidRequest) as refused:
        service.auth.kubernetes.login("nope", service_account_jwt(signing_key),
                                      mount_point=auth_mount)
    assert refused.value.errors == ['invalid role name "nope"']
    assert not service.token


# --- JWT -------------------------------------------------------------------------------

ISSUER = "https://ci.example.test"


def ci_jwt(key, audience="coffer", expires_in=300, **extra):
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "repo:shop/api", "aud": audience, "iat": now - 5,
              "exp": now + expires_in, "env": "prod"}
    claims.update(extra)
    return sign_jwt(key, claims)


def configure_jwt(client, path, key):
    jwt = client.auth.jwt
    assert no_content(
        jwt.configure(jwt_validation_pubkeys=[public_pem(key)], bound_issuer=ISSUER, path=path)
    )
    assert no_content(jwt.create_role(
        "ci", user_claim="sub", allowed_redirect_uris=[], role_type="jwt",
        bound_audiences=["coffer"], bound_claims={"env": ["prod", "staging"]},
        claim_mappings={"env": "environment"}, token_policies=["ci-deploy"], token_ttl="15m",
        path=path,
    ))


@pytest.mark.parametrize("auth_mount", ["jwt"], indirect=True)
def test_jwt_management_and_login(client, auth_mount, signing_key):
    configure_jwt(client, auth_mount, signing_key)
    config = client.auth.jwt.read_config(path=auth_mount)["data"]
    assert config["bound_issuer"] == ISSUER
    assert len(config["jwt_validation_pubkeys"]) == 1
    role = client.auth.jwt.read_role("ci", path=auth_mount)["data"]
    assert role["role_type"] == "jwt"
    assert role["bound_audiences"] == ["coffer"]
    assert role["token_ttl"] == 900
    assert role["oidc_disable_confirmation"] is False
    assert "ci" in client.auth.jwt.list_roles(path=auth_mount)["data"]["keys"]

    service = anonymous()
    login = service.auth.jwt.jwt_login("ci", ci_jwt(signing_key), path=auth_mount)
    assert login["auth"]["metadata"] == {"role": "ci", "environment": "prod"}
    assert login["auth"]["lease_duration"] == 900
    me = assert_logged_in(service, "ci-deploy")
    assert me["display_name"] == f"{auth_mount}-repo:shop/api"


@pytest.mark.parametrize("auth_mount", ["jwt"], indirect=True)
def test_jwt_denials(client, auth_mount, signing_key):
    configure_jwt(client, auth_mount, signing_key)
    service = anonymous()
    cases = [
        (ci_jwt(signing_key, audience="someone-else"),
         "error validating token: invalid audience (aud) claim"),
        (ci_jwt(signing_key, expires_in=-3600),
         "error validating token: invalid expiration time (exp) claim: token is expired"),
        (ci_jwt(signing_key, env="dev"),
         'error validating claims: claim "env" does not match any associated bound claim values'),
        (ci_jwt(signing_key, iss="https://elsewhere.test"),
         "error validating token: invalid issuer (iss) claim"),
    ]
    for jwt, message in cases:
        with pytest.raises(InvalidRequest) as refused:
            service.auth.jwt.jwt_login("ci", jwt, path=auth_mount)
        assert refused.value.errors[0].startswith(message), refused.value.errors
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidRequest):
        service.auth.jwt.jwt_login("ci", ci_jwt(stranger), path=auth_mount)
    assert not service.token
