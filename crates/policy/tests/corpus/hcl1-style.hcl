# HCL v1 spellings that Vault accepts.
path "secret/data/app" { capabilities = ["read", "update"], }
path "secret/data/app/params" {
  capabilities = ["create", "update"]
  allowed_parameters = { "foo" = [] "bar" = ["zip", "zap"] }
}
path "secret/data/app/blocks" {
  capabilities = ["update"]
  allowed_parameters {
    "color" = ["red", "green"]
  }
  denied_parameters {
    "admin" = []
  }
}
path "secret/data/one" { capabilities = ["read"] } path "secret/data/two" { capabilities = ["list"] }
