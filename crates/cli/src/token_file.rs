//! The token remembered by `coffer login`: `~/.coffer-token`, readable by its owner only.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

fn path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".coffer-token"))
}

/// Stores the token with mode 0600 (also when the file already existed with another mode).
pub fn store(token: &str) -> Result<()> {
    let path = path().context("HOME is not set")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("restricting {}", path.display()))?;
        }
    }
    let mut file = options.open(&path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(token.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The stored token, if any.
pub fn load() -> Option<String> {
    let text = std::fs::read_to_string(path()?).ok()?;
    let t = text.trim().to_string();
    (!t.is_empty()).then_some(t)
}
