//! coffer-cli
