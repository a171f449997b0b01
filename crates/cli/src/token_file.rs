//! The token remembered by `coffer login`: `~/.coffer-token`, mode 0600.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

fn path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".coffer-token"))
}

/// Stores the token, readable by the owner only.
pub fn store(token: &str) -> Result<()> {
    let path = path().context("HOME is not set")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(token.as_bytes())?;
    Ok(())
}

/// The stored token, if any.
pub fn load() -> Option<String> {
    let text = std::fs::read_to_string(path()?).ok()?;
    let t = text.trim().to_string();
    (!t.is_empty()).then_some(t)
}
