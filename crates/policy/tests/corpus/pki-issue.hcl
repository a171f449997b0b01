# Issue-only PKI access for the web tier.
path "pki/issue/web" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "common_name" = ["*.web.example.com", "web.example.com"]
    "alt_names"   = []
    "ttl"         = []
    "format"      = ["pem", "pem_bundle"]
  }
  denied_parameters = {
    "ip_sans" = []
  }
}

path "pki/cert/ca" {
  capabilities = ["read"]
}

path "pki/revoke" {
  capabilities = ["update"]
  required_parameters = ["serial_number"]
}
