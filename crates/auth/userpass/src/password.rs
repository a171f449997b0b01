//! Password hashing off the async workers: argon2id for new passwords, bcrypt verified for
//! imported ones, and a dummy verification for unknown users.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use coffer_types::{Error, Result, SecretString, random_bytes};

/// A fixed argon2id hash of a random password, verified when the user does not exist.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Bq0Q6dWm3GfXH0m9YF3ty2I6j0Zk0uYbV5rWGE6pY2c";

/// Hashes a new password with argon2id (default parameters), on the blocking pool.
pub async fn hash(password: SecretString) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes(16))
            .map_err(|e| Error::internal(e.to_string()))?;
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|_| Error::internal("hashing task failed"))?
}

/// Verifies `password` against `stored` (or a dummy when the user is unknown).
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY.to_string());
        let ok = if hash.starts_with("$2") {
            bcrypt::verify(password.expose(), &hash).unwrap_or(false)
        } else {
            match PasswordHash::new(&hash) {
                Ok(parsed) => {
                    Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok()
                }
                Err(_) => false,
            }
        };
        known && ok
    })
    .await
    .map_err(|_| Error::internal("verification task failed"))
}

/// Whether `hash` is a well-formed bcrypt hash (`$2a$`, `$2b$` or `$2y$`), as imports need.
pub fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
        && hash.parse::<bcrypt::HashParts>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_the_dummy_costs_real_work() {
        assert!(
            PasswordHash::new(DUMMY).is_ok(),
            "the dummy must parse, or unknown users are fast"
        );
        let h = hash(SecretString::new("pw")).await.unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(SecretString::new("pw"), Some(h.clone())).await.unwrap_or(false));
        assert!(!verify(SecretString::new("nope"), Some(h)).await.unwrap_or(true));
        assert!(!verify(SecretString::new("pw"), None).await.unwrap_or(true));
        let bcrypted = bcrypt::hash("legacy", 4).unwrap_or_default();
        assert!(is_bcrypt(&bcrypted));
        assert!(!is_bcrypt("$2b$not-a-hash"));
        assert!(verify(SecretString::new("legacy"), Some(bcrypted)).await.unwrap_or(false));
    }
}
