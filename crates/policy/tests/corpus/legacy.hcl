# Pre-0.9 policy syntax.
path "secret/*" {
  policy = "write"
}

path "secret/super-secret" {
  policy = "deny"
}

path "sys/audit" {
  policy = "sudo"
}

path "sys/mounts" {
  policy = "read"
}
