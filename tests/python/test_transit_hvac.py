"""hvac against Coffer: the transit engine (keys, encrypt/decrypt, rotate/rewrap, data keys,
HMAC, signatures, batches), plus sys tools and mount moves.
Run by tests/hvac.rs with VAULT_ADDR and VAULT_TOKEN pointing at a dev server."""
import base64
import os
import uuid

import hvac
import pytest
from hvac.exceptions import InvalidRequest


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def client():
    c = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    assert c.is_authenticated()
    return c


@pytest.fixture()
def transit(client):
    path = f"transit-{uuid.uuid4().hex[:8]}"
    client.sys.enable_secrets_engine("transit", path=path)
    yield path
    client.sys.disable_secrets_engine(path)


def test_encrypt_decrypt_rotate_rewrap(client, transit):
    t = client.secrets.transit
    t.create_key(name="orders", mount_point=transit)
    key = t.read_key(name="orders", mount_point=transit)["data"]
    assert key["type"] == "aes256-gcm96" and key["latest_version"] == 1
    sealed = t.encrypt_data(name="orders", plaintext=b64("card 4111"), mount_point=transit)
    ciphertext = sealed["data"]["ciphertext"]
    assert ciphertext.startswith("vault:v1:")
    opened = t.decrypt_data(name="orders", ciphertext=ciphertext, mount_point=transit)
    assert base64.b64decode(opened["data"]["plaintext"]).decode() == "card 4111"
    t.rotate_key(name="orders", mount_point=transit)
    rewrapped = t.rewrap_data(name="orders", ciphertext=ciphertext, mount_point=transit)
    assert rewrapped["data"]["ciphertext"].startswith("vault:v2:")
    t.update_key_configuration(name="orders", min_decryption_version=2, mount_point=transit)
    with pytest.raises(InvalidRequest):
        t.decrypt_data(name="orders", ciphertext=ciphertext, mount_point=transit)
    with pytest.raises(InvalidRequest):
        t.delete_key(name="orders", mount_point=transit)
    t.update_key_configuration(name="orders", deletion_allowed=True, mount_point=transit)
    t.delete_key(name="orders", mount_point=transit)


def test_batches_data_keys_hmac_and_signatures(client, transit):
    t = client.secrets.transit
    batch = [{"plaintext": b64("one")}, {"plaintext": b64("two")}]
    sealed = t.encrypt_data(name="bulk", batch_input=batch, mount_point=transit)
    results = sealed["data"]["batch_results"]
    opened = t.decrypt_data(
        name="bulk",
        batch_input=[{"ciphertext": r["ciphertext"]} for r in results],
        mount_point=transit,
    )
    assert [base64.b64decode(r["plaintext"]).decode() for r in opened["data"]["batch_results"]] == ["one", "two"]
    data_key = t.generate_data_key(name="bulk", key_type="plaintext", mount_point=transit)["data"]
    back = t.decrypt_data(name="bulk", ciphertext=data_key["ciphertext"], mount_point=transit)
    assert back["data"]["plaintext"] == data_key["plaintext"]
    mac = t.generate_hmac(name="bulk", hash_input=b64("msg"), mount_point=transit)["data"]["hmac"]
    assert t.verify_signed_data(name="bulk", hash_input=b64("msg"), hmac=mac, mount_point=transit)["data"]["valid"]
    t.create_key(name="signer", key_type="ed25519", mount_point=transit)
    signature = t.sign_data(name="signer", hash_input=b64("release 1.0"), mount_point=transit)["data"]["signature"]
    ok = t.verify_signed_data(name="signer", hash_input=b64("release 1.0"), signature=signature, mount_point=transit)
    assert ok["data"]["valid"]
    bad = t.verify_signed_data(name="signer", hash_input=b64("release 2.0"), signature=signature, mount_point=transit)
    assert not bad["data"]["valid"]
    random = t.generate_random_bytes(n_bytes=16, output_format="hex", mount_point=transit)
    assert len(random["data"]["random_bytes"]) == 32
    digest = t.hash_data(hash_input=b64("hello"), algorithm="sha2-256", mount_point=transit)
    assert digest["data"]["sum"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_sys_tools_and_mount_moves(client):
    random = client.write("sys/tools/random/16", format="hex")
    assert len(random["data"]["random_bytes"]) == 32
    digest = client.write("sys/tools/hash/sha2-256", input=b64("hello"))
    assert digest["data"]["sum"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    source, target = f"mv-{uuid.uuid4().hex[:6]}", f"mv-{uuid.uuid4().hex[:6]}"
    client.sys.enable_secrets_engine("kv", path=source, options={"version": "2"})
    client.secrets.kv.v2.create_or_update_secret(path="app", secret={"a": "1"}, mount_point=source)
    client.sys.move_backend(from_path=source, to_path=target)
    got = client.secrets.kv.v2.read_secret_version(path="app", mount_point=target, raise_on_deleted_version=True)
    assert got["data"]["data"] == {"a": "1"}
    client.sys.disable_secrets_engine(target)
