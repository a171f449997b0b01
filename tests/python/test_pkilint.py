"""pkilint (RFC 5280 profile) finds no errors in Coffer's root, intermediate and leaf
certificates, with default role settings for EC and RSA leaves."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import hvac
import pytest


def lint_errors(cert_pem: str) -> list[str]:
    tool = os.path.join(os.path.dirname(sys.executable), "lint_pkix_cert")
    if not os.path.exists(tool):
        tool = shutil.which("lint_pkix_cert") or tool
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(cert_pem)
        f.flush()
        proc = subprocess.run([tool, "lint", "-s", "ERROR", "-f", "JSON", f.name], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip(), f"lint_pkix_cert printed nothing: {proc.stderr}"
    return [f"{d['severity']} {d['code']} at {r['node_path']}"
            for r in json.loads(proc.stdout)["results"] for d in r["finding_descriptions"]
            if d["severity"] in ("ERROR", "FATAL")]


@pytest.fixture(scope="module")
def chain():
    c = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    root_mount, int_mount = f"lint-root-{uuid.uuid4().hex[:6]}", f"lint-int-{uuid.uuid4().hex[:6]}"
    for m in (root_mount, int_mount):
        c.sys.enable_secrets_engine("pki", path=m, config={"max_lease_ttl": "87600h"})
    root = c.write(f"{root_mount}/root/generate/internal", common_name="Lint Root CA", key_type="ec", ttl="87600h")["data"]["certificate"]
    csr = c.write(f"{int_mount}/intermediate/generate/internal", common_name="Lint Intermediate CA", key_type="ec")["data"]["csr"]
    inter = c.write(f"{root_mount}/root/sign-intermediate", csr=csr, common_name="Lint Intermediate CA", ttl="43800h")["data"]["certificate"]
    c.write(f"{int_mount}/intermediate/set-signed", certificate=inter)
    # Default role settings, only the names constrained.
    c.write(f"{int_mount}/roles/ec", allowed_domains="lint.internal", allow_subdomains=True)
    c.write(f"{int_mount}/roles/rsa", allowed_domains="lint.internal", allow_subdomains=True, key_type="rsa", key_bits=2048)
    ec_leaf = c.write(f"{int_mount}/issue/ec", common_name="web.lint.internal")["data"]["certificate"]
    rsa_leaf = c.write(f"{int_mount}/issue/rsa", common_name="api.lint.internal")["data"]["certificate"]
    yield {"root": root, "intermediate": inter, "ec leaf": ec_leaf, "rsa leaf": rsa_leaf}
    for m in (root_mount, int_mount):
        c.sys.disable_secrets_engine(m)


@pytest.mark.parametrize("which", ["root", "intermediate", "ec leaf", "rsa leaf"])
def test_no_pkilint_errors(chain, which):
    assert lint_errors(chain[which]) == []
