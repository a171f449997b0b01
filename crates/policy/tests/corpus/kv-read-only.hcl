// Read-only access to a KV v2 engine mounted at secret/.
path "secret/data/*" {
  capabilities = ["read"]
}

path "secret/metadata/*" {
  capabilities = ["list", "read"]
}

# Listing the mount root needs the metadata path without a trailing glob.
path "secret/metadata" {
  capabilities = ["list"]
}
