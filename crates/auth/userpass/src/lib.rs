//! The userpass auth method, for people: users with argon2id password hashes (bcrypt hashes
//! can be imported and are verified), login by name and password, password changes. Unknown
//! users cost the same work as known ones, so timing does not reveal who exists.
#![forbid(unsafe_code)]

mod password;

use std::sync::Arc;

use coffer_framework::LegacyNames;
use coffer_framework::token_fields::{self, TokenFields, sorted};
use coffer_framework::{
    Backend, BackendConfig, Field, IssuedLogin, LoginRenewal, Path, RenewTerms, Req, Router,
    SpecialPaths, read_json,
};
use coffer_types::{Error, Map, Response, Result, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A stored user.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct User {
    /// PHC string (`$argon2id$...`) or an imported bcrypt hash (`$2b$...`).
    password_hash: String,
    token: TokenFields,
    /// Legacy names used to set token settings, echoed on reads.
    #[serde(default)]
    legacy: LegacyNames,
}

/// The legacy names of token settings a user accepts and, once used, echoes on reads.
const LEGACY: &[&str] = &["policies", "ttl", "max_ttl", "bound_cidrs"];

/// Declares the token fields and the legacy names only users take.
fn user_fields(path: Path<UserpassState>) -> Path<UserpassState> {
    let mut path = token_fields::declare(path);
    for legacy in ["ttl", "max_ttl", "bound_cidrs"] {
        path = path.field(Field::any(legacy).describe("Deprecated: use the token_ field."));
    }
    path
}

/// Per-mount state (none yet: users live in storage).
pub struct UserpassState;

/// Builds a userpass mount.
pub fn factory(_config: BackendConfig) -> Result<Arc<dyn Backend>> {
    let user = user_fields(Path::new("users/{username}"))
        .field(Field::string("password"))
        .field(Field::string("password_hash"))
        .read(read_user)
        .write(write_user)
        .delete(delete_user)
        .existence(
            |_s: Arc<UserpassState>, req: Req| async move { Ok(load(&req).await?.is_some()) },
        );
    Ok(Arc::new(
        Router::new(Arc::new(UserpassState))
            .special_paths(SpecialPaths {
                unauthenticated: vec!["login/*".into()],
                sudo: Vec::new(),
            })
            .path(Path::new("users/").list(list_users))
            .path(user)
            .path(
                Path::new("users/{username}/password")
                    .field(Field::string("password"))
                    .write(write_password),
            )
            .path(user_fields(Path::new("users/{username}/policies")).write(write_policies))
            .path(Path::new("login/{username}").field(Field::string("password")).write(login))
            .login_renewal(renew),
    ))
}

fn key(req: &Req) -> String {
    user_key(req.capture("username"))
}

fn user_key(username: &str) -> String {
    format!("user/{}", username.to_lowercase())
}

async fn load(req: &Req) -> Result<Option<User>> {
    read_json(req.storage(), &key(req)).await
}

async fn save(req: &Req, user: &User) -> Result<()> {
    let bytes = serde_json::to_vec(user).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(&key(req), &bytes).await?;
    Ok(())
}

async fn list_users(_s: Arc<UserpassState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(json!({ "keys": req.storage().list("user/").await? }))))
}

async fn read_user(_s: Arc<UserpassState>, req: Req) -> Result<Option<Response>> {
    Ok(load(&req).await?.map(|u| {
        let mut out = Map::new();
        u.token.write_json(&mut out);
        u.legacy.echo(&u.token, &mut out);
        Response::json(Value::Object(sorted(out)))
    }))
}

async fn write_user(_s: Arc<UserpassState>, mut req: Req) -> Result<Option<Response>> {
    let existing = load(&req).await?;
    let password = SecretString::new(req.str("password")?);
    let imported = req.str("password_hash")?;
    let password_hash = match (password.is_empty(), imported.is_empty(), &existing) {
        (false, false, _) => {
            return Err(Error::invalid("password and password_hash are mutually exclusive"));
        }
        (false, true, _) => password::hash(password).await?,
        (true, false, _) if password::is_bcrypt(&imported) => imported,
        (true, false, _) => {
            return Err(Error::invalid("password_hash must be a bcrypt hash ($2a$, $2b$ or $2y$)"));
        }
        (true, true, Some(u)) => u.password_hash.clone(),
        (true, true, None) => return Err(Error::invalid("missing password")),
    };
    let (mut token, mut legacy) = existing.map(|u| (u.token, u.legacy)).unwrap_or_default();
    legacy.upgrade(&mut req, LEGACY);
    token.update(&req)?;
    legacy.retain_in_use(&token);
    save(&req, &User { password_hash, token, legacy }).await?;
    Ok(None)
}

async fn delete_user(_s: Arc<UserpassState>, req: Req) -> Result<Option<Response>> {
    req.storage().delete(&key(&req)).await?;
    Ok(None)
}

async fn write_password(_s: Arc<UserpassState>, req: Req) -> Result<Option<Response>> {
    let mut user = load(&req).await?.ok_or_else(|| Error::invalid("username does not exist"))?;
    let password = SecretString::new(req.str("password")?);
    if password.is_empty() {
        return Err(Error::invalid("missing password"));
    }
    user.password_hash = password::hash(password).await?;
    save(&req, &user).await?;
    Ok(None)
}

async fn write_policies(_s: Arc<UserpassState>, mut req: Req) -> Result<Option<Response>> {
    let mut user = load(&req).await?.ok_or_else(|| Error::invalid("username does not exist"))?;
    user.legacy.upgrade(&mut req, &["policies"]);
    user.token.update(&req)?;
    user.legacy.retain_in_use(&user.token);
    save(&req, &user).await?;
    Ok(None)
}

async fn login(_s: Arc<UserpassState>, req: Req) -> Result<Option<Response>> {
    let username = req.capture("username").to_lowercase();
    let password = SecretString::new(req.str("password")?);
    let user = load(&req).await?;
    // Unknown users are checked against a dummy hash: the same work, the same answer.
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let valid = password::verify(password, hash).await?;
    let user = match (valid, user) {
        (true, Some(u)) => u,
        _ => return Err(Error::invalid("invalid username or password")),
    };
    let mut login = user.token.login();
    let mut metadata = Map::new();
    metadata.insert("username".into(), Value::String(username.clone()));
    login.metadata = metadata;
    login.display_name = username.clone();
    login.alias_name = username;
    Ok(Some(Response { login: Some(login), ..Response::default() }))
}

/// A token renews on its user's current TTLs; not once the user's policies changed, and
/// not at all (an empty answer, as Vault gives) once the user is gone.
async fn renew(_s: Arc<UserpassState>, req: Req, login: IssuedLogin) -> Result<LoginRenewal> {
    let username = login.metadata_str("username");
    let Some(user) = read_json::<User>(req.storage(), &user_key(username)).await? else {
        return Ok(LoginRenewal::Declined);
    };
    if !login.same_policies(&user.token.policies) {
        return Err(Error::internal("policies have changed, not renewing"));
    }
    Ok(LoginRenewal::Terms(RenewTerms::from(&user.token)))
}
