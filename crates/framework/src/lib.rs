//! coffer-framework
