//! Password hashing off the async workers: argon2id for new passwords, bcrypt verified for
//! imported ones, and a dummy verification for unknown users.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use coffer_types::{Error, Result, random_bytes};

/// A fixed argon2id hash of a random password, verified when the user does not exist.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Bq0Q6dWm3GfXH0m9YF3ty2I6j0Zk0uYbV5rWGE6pY2c";

/// Hashes a new password with argon2id (default parameters), on the blocking pool.
pub async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes(16))
            .map_err(|e| Error::internal(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|_| Error::internal("hashing task failed"))?
}

/// Verifies `password` against `stored` (or a dummy when the user is unknown).
pub async fn verify(password: String, stored: Option<String>) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY.to_string());
        let ok = if hash.starts_with("$2") {
            bcrypt::verify(&password, &hash).unwrap_or(false)
        } else {
            match PasswordHash::new(&hash) {
                Ok(parsed) => {
                    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
                }
                Err(_) => false,
            }
        };
        known && ok
    })
    .await
    .map_err(|_| Error::internal("verification task failed"))
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
        let h = hash("pw".into()).await.unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("pw".into(), Some(h.clone())).await.unwrap_or(false));
        assert!(!verify("nope".into(), Some(h)).await.unwrap_or(true));
        assert!(!verify("pw".into(), None).await.unwrap_or(true));
        let bcrypted = bcrypt::hash("legacy", 4).unwrap_or_default();
        assert!(verify("legacy".into(), Some(bcrypted)).await.unwrap_or(false));
    }
}
