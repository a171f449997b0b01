//! `login` (unauthenticated): a JWT and a role name become a token. The checks run in
//! Vault's order and fail with Vault's 400 messages: role, role type, CIDRs (403), signature
//! and registered claims, stray audience, user claim, bound claims.

use std::sync::Arc;

use coffer_framework::{Field, IssuedLogin, LoginRenewal, Path, Req, Router, cidr};
use coffer_types::{Error, Map, Response, Result, SecretString, unix_now};
use serde_json::Value;

use crate::claims;
use crate::path_role::{self, Role};
use crate::state::JwtState;
use crate::validate::{Expected, ParsedToken, TokenError, audiences};

pub(crate) fn routes(router: Router<JwtState>) -> Router<JwtState> {
    router
        .path(
            Path::new("login")
                .field(Field::string("role").describe("The role to log in against."))
                .field(Field::string("jwt").describe("The signed JWT."))
                .write(login),
        )
        .login_renewal(renew)
}

fn validating(e: TokenError) -> Error {
    Error::invalid(format!("error validating token: {e}"))
}

/// The alias name: the user claim, which must be a string.
fn user_name(role: &Role, all: &Map) -> Result<String> {
    let value = if role.user_claim_json_pointer {
        claims::get(all, &role.user_claim)
    } else {
        all.get(&role.user_claim).filter(|v| !v.is_null()).map(std::borrow::Cow::Borrowed)
    };
    let value = value
        .ok_or_else(|| Error::invalid(format!("claim {:?} not found in token", role.user_claim)))?;
    match value.as_ref() {
        Value::String(s) => Ok(s.clone()),
        _ => Err(Error::invalid(format!(
            "claim {:?} could not be converted to string",
            role.user_claim
        ))),
    }
}

/// Checks the groups claim is present and a list of strings (group aliases are not kept).
fn check_groups(role: &Role, all: &Map) -> Result<()> {
    if role.groups_claim.is_empty() {
        return Ok(());
    }
    let groups = claims::get(all, &role.groups_claim).ok_or_else(|| {
        Error::invalid(format!("{:?} claim not found in token", role.groups_claim))
    })?;
    let ok = match groups.as_ref() {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(Value::is_string),
        _ => false,
    };
    if !ok {
        return Err(Error::invalid(format!(
            "{:?} claim could not be converted to string list",
            role.groups_claim
        )));
    }
    Ok(())
}

async fn login(state: Arc<JwtState>, req: Req) -> Result<Option<Response>> {
    let loaded = state
        .loaded(req.storage())
        .await?
        .ok_or_else(|| Error::invalid("could not load configuration"))?;
    let config = &loaded.config;
    let mut role_name = req.str("role")?.trim().to_lowercase();
    if role_name.is_empty() {
        role_name = config.default_role.clone();
    }
    if role_name.is_empty() {
        return Err(Error::invalid("missing role"));
    }
    let role = path_role::load(&req, &role_name)
        .await?
        .ok_or_else(|| Error::invalid(format!("role {role_name:?} could not be found")))?;
    if role.role_type == "oidc" {
        return Err(Error::invalid("role with oidc role_type is not allowed"));
    }
    let jwt = SecretString::new(req.str("jwt")?);
    if jwt.is_empty() {
        return Err(Error::invalid("missing token"));
    }
    cidr::check_source(req.inner.remote_addr, &role.token.bound_cidrs, "the role")
        .map_err(|_| Error::PermissionDenied)?;

    let token = ParsedToken::parse(jwt.expose(), &config.algorithms()).map_err(validating)?;
    loaded.keys.verify(&token).await.map_err(validating)?;
    let expected = Expected {
        issuer: &config.bound_issuer,
        subject: &role.bound_subject,
        audiences: &role.bound_audiences,
        allow_missing_times: false,
        leeways: role.leeways(),
    };
    token.check_claims(&expected, unix_now()).map_err(validating)?;
    let all = &token.claims;
    if !audiences(all).is_empty() && role.bound_audiences.is_empty() {
        return Err(Error::invalid(
            "audience claim found in JWT but no audiences bound to the role",
        ));
    }

    let user = user_name(&role, all)?;
    let mut metadata = claims::metadata(all, &role.claim_mappings).map_err(Error::invalid)?;
    metadata.insert("role".into(), Value::String(role_name.clone()));
    check_groups(&role, all)?;
    let globs = role.bound_claims_type == "glob";
    claims::check_bound(&role.bound_claims, globs, all)
        .map_err(|e| Error::invalid(format!("error validating claims: {e}")))?;

    let mut login = role.token.login();
    login.display_name = user.clone();
    login.alias_name = user;
    login.alias_metadata = metadata.clone();
    login.metadata = metadata;
    login.internal.insert("role".into(), Value::String(role_name));
    Ok(Some(Response { login: Some(login), ..Response::default() }))
}

/// A token renews on its role's current TTLs while the role exists.
async fn renew(_s: Arc<JwtState>, req: Req, login: IssuedLogin) -> Result<LoginRenewal> {
    let name = login.role_name("role")?;
    let role = path_role::load(&req, name).await?;
    LoginRenewal::while_role_exists(role.as_ref().map(|r| &r.token), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_claims_must_be_strings() {
        let role = Role { user_claim: "sub".into(), ..Role::default() };
        let all = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(user_name(&role, &all(serde_json::json!({"sub": "a"}))).ok(), Some("a".into()));
        assert!(user_name(&role, &all(serde_json::json!({"sub": 1}))).is_err());
        assert!(user_name(&role, &all(serde_json::json!({}))).is_err());
        let pointer =
            Role { user_claim: "/u/name".into(), user_claim_json_pointer: true, ..Role::default() };
        assert_eq!(
            user_name(&pointer, &all(serde_json::json!({"u": {"name": "n"}}))).ok(),
            Some("n".into())
        );
    }
}
