# Lets a CI system mint child tokens without escalating.
path "auth/token/create" {
  capabilities = ["create", "update"]
  denied_parameters = {
    "policies"          = ["root", "admin*"]
    "no_parent"         = []
    "period"            = []
  }
  allowed_parameters = {
    "*" = []
  }
}

path "auth/token/roles/ci" {
  capabilities = ["read"]
}
