"""hvac (the Python Vault client) against Coffer: the KV v2 API, mounts and health.
Run by tests/hvac.rs with VAULT_ADDR and VAULT_TOKEN pointing at a dev server."""
import os
import uuid

import hvac
import pytest
from hvac.exceptions import Forbidden, InvalidPath, InvalidRequest


@pytest.fixture(scope="module")
def client():
    c = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    assert c.is_authenticated()
    return c


@pytest.fixture()
def mount(client):
    path = f"kv-{uuid.uuid4().hex[:8]}"
    client.sys.enable_secrets_engine("kv", path=path, options={"version": "2"})
    yield path
    client.sys.disable_secrets_engine(path)


def test_health_and_seal_status(client):
    assert client.sys.is_initialized()
    assert not client.sys.is_sealed()
    health = client.sys.read_health_status(method="GET")
    assert health["initialized"] and not health["sealed"]


def test_unauthenticated_client_is_refused():
    anonymous = hvac.Client(url=os.environ["VAULT_ADDR"], token="not-a-token")
    assert not anonymous.is_authenticated()
    with pytest.raises(Forbidden):
        anonymous.secrets.kv.v2.read_secret_version(path="x", mount_point="secret")


def test_write_read_versions_and_cas(client, mount):
    kv = client.secrets.kv.v2
    first = kv.create_or_update_secret(path="svc/db", secret={"user": "a"}, mount_point=mount)
    assert first["data"]["version"] == 1
    kv.create_or_update_secret(path="svc/db", secret={"user": "b"}, cas=1, mount_point=mount)
    with pytest.raises(InvalidRequest):
        kv.create_or_update_secret(path="svc/db", secret={"user": "c"}, cas=1, mount_point=mount)
    latest = kv.read_secret_version(path="svc/db", mount_point=mount, raise_on_deleted_version=True)
    assert latest["data"]["data"] == {"user": "b"}
    assert latest["data"]["metadata"]["version"] == 2
    old = kv.read_secret_version(path="svc/db", version=1, mount_point=mount, raise_on_deleted_version=True)
    assert old["data"]["data"] == {"user": "a"}


def test_patch_and_subkeys(client, mount):
    kv = client.secrets.kv.v2
    kv.create_or_update_secret(path="app", secret={"a": "1", "nested": {"x": "y"}}, mount_point=mount)
    kv.patch(path="app", secret={"a": "2", "b": "3"}, mount_point=mount)
    got = kv.read_secret_version(path="app", mount_point=mount, raise_on_deleted_version=True)
    assert got["data"]["data"] == {"a": "2", "b": "3", "nested": {"x": "y"}}
    subkeys = client.adapter.get(f"/v1/{mount}/subkeys/app")
    assert subkeys["data"]["subkeys"] == {"a": None, "b": None, "nested": {"x": None}}


def test_delete_undelete_destroy_and_deleted_reads(client, mount):
    kv = client.secrets.kv.v2
    kv.create_or_update_secret(path="gone", secret={"k": "v"}, mount_point=mount)
    kv.delete_latest_version_of_secret(path="gone", mount_point=mount)
    body = kv.read_secret_version(path="gone", mount_point=mount, raise_on_deleted_version=False)
    assert body["data"]["data"] is None
    assert body["data"]["metadata"]["deletion_time"] != ""
    with pytest.raises(InvalidPath):
        kv.read_secret_version(path="gone", mount_point=mount, raise_on_deleted_version=True)
    kv.undelete_secret_versions(path="gone", versions=[1], mount_point=mount)
    assert kv.read_secret_version(path="gone", mount_point=mount, raise_on_deleted_version=True)["data"]["data"] == {"k": "v"}
    kv.destroy_secret_versions(path="gone", versions=[1], mount_point=mount)
    meta = kv.read_secret_metadata(path="gone", mount_point=mount)
    assert meta["data"]["versions"]["1"]["destroyed"] is True


def test_metadata_config_and_list(client, mount):
    kv = client.secrets.kv.v2
    kv.configure(max_versions=3, mount_point=mount)
    assert kv.read_configuration(mount_point=mount)["data"]["max_versions"] == 3
    for i in range(5):
        kv.create_or_update_secret(path="many", secret={"i": str(i)}, mount_point=mount)
    meta = kv.read_secret_metadata(path="many", mount_point=mount)["data"]
    assert meta["current_version"] == 5
    assert meta["oldest_version"] == 3
    assert sorted(meta["versions"].keys()) == ["3", "4", "5"]
    kv.update_metadata(path="many", custom_metadata={"owner": "team-a"}, mount_point=mount)
    meta = kv.read_secret_metadata(path="many", mount_point=mount)["data"]
    assert meta["custom_metadata"] == {"owner": "team-a"}
    kv.create_or_update_secret(path="dir/one", secret={"x": "1"}, mount_point=mount)
    keys = kv.list_secrets(path="", mount_point=mount)["data"]["keys"]
    assert keys == ["dir/", "many"]
    kv.delete_metadata_and_all_versions(path="many", mount_point=mount)
    with pytest.raises(InvalidPath):
        kv.read_secret_metadata(path="many", mount_point=mount)
