# A deployer that reads any environment's CI secrets except production.
path "secret/data/+/ci/*" {
  capabilities = ["read"]
}

path "secret/data/prod/*" {
  capabilities = ["deny"]
}

path "secret/metadata/+/ci" {
  capabilities = ["list"]
}

path "kubernetes/+/creds/deployer" {
  capabilities = ["update"]
}

path "sys/wrapping/wrap" {
  capabilities = ["update"]
  min_wrapping_ttl = "30s"
  max_wrapping_ttl = "5m"
}

path "sys/wrapped-only/*" {
  capabilities = ["read"]
  max_wrapping_ttl = 300
}
