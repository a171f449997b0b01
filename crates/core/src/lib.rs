//! coffer-core
