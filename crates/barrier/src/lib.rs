//! coffer-barrier
