//! coffer-kv
