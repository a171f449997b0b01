# Every user gets a private KV space named after their entity.
path "secret/data/users/{{identity.entity.name}}/*" {
  capabilities = ["create", "read", "update", "delete", "patch"]
}

path "secret/metadata/users/{{identity.entity.name}}/*" {
  capabilities = ["list", "read", "delete"]
}

path "secret/data/teams/{{identity.entity.metadata.team}}/*" {
  capabilities = ["read"]
}

path "auth/approle/role/{{identity.entity.aliases.auth_approle_abc123.name}}/secret-id" {
  capabilities = ["update"]
}
