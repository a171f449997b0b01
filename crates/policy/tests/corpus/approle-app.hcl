# Policy attached to the AppRole "orders" used by the orders service.
path "secret/data/orders/*" {
  capabilities = ["read"]
}

path "secret/data/orders/config" {
  capabilities = ["read", "create", "update", "patch"]
}

path "database/creds/orders-readonly" {
  capabilities = ["read"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "transit/encrypt/orders" {
  capabilities = ["update"]
}

path "transit/decrypt/orders" {
  capabilities = ["update"]
}
