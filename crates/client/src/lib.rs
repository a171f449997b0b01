//! coffer-client
