//! `login` (unauthenticated): a service-account JWT and a role name become a token. Unknown
//! roles are a 400; every other refusal is a 403, as in Vault: a bad signature or a failed
//! TokenReview says only `permission denied`, binding mismatches say which binding.

use std::sync::Arc;

use coffer_framework::{Field, IssuedLogin, LoginRenewal, Path, Req, Router, cidr, glob};
use coffer_types::{Error, Map, Response, Result, SecretString};
use serde_json::Value;

use crate::namespace_selector::{LabelSelector, labels_of};
use crate::path_config::{KubeState, Loaded};
use crate::path_role::{self, ALIAS_NAME, Role};
use crate::token_review;
use crate::validate::{self, ServiceAccount};

/// The issuer the `iss` claim must equal: none unless validation is on and an issuer is
/// configured (Vault never enforced its documented default, `kubernetes/serviceaccount`).
fn expected_issuer(config: &crate::path_config::KubeConfig) -> &str {
    if config.disable_iss_validation { "" } else { &config.issuer }
}

pub(crate) fn routes(router: Router<KubeState>) -> Router<KubeState> {
    router
        .path(
            Path::new("login")
                .field(Field::string("role").describe("The role to log in against."))
                .field(Field::string("jwt").describe("The service account's JWT."))
                .write(login),
        )
        .login_renewal(renew)
}

/// The name binding: `*` or one matching glob.
fn check_name(role: &Role, sa: &ServiceAccount) -> Result<()> {
    let names = &role.bound_service_account_names;
    let any_name = names.len() == 1 && names.first().is_some_and(|n| n == "*");
    if !any_name && !glob::any_matches(names, &sa.name) {
        return Err(Error::Forbidden("service account name not authorized".into()));
    }
    Ok(())
}

/// Whether the namespace globs admit the account's namespace (the selector is asked next).
fn namespace_listed(role: &Role, sa: &ServiceAccount) -> bool {
    let namespaces = &role.bound_service_account_namespaces;
    namespaces.first().is_some_and(|n| n == "*") || glob::any_matches(namespaces, &sa.namespace)
}

/// Whether `name` is a valid namespace name (a DNS label), so it is safe in a URL path.
fn valid_namespace(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether the role's label selector admits the namespace, by its labels on the API server.
async fn selector_admits(
    loaded: &Loaded,
    role: &Role,
    namespace: &str,
    jwt: &SecretString,
) -> bool {
    let selector = &role.bound_service_account_namespace_selector;
    if selector.is_empty() || !valid_namespace(namespace) {
        return false;
    }
    let Ok(selector) = LabelSelector::parse(selector) else { return false };
    let url = format!("{}/api/v1/namespaces/{namespace}", loaded.base_url());
    let bearer = loaded.reviewer_token().unwrap_or_else(|| jwt.clone());
    match loaded.client.get_json_with_bearer(&url, &bearer).await {
        Ok(answer) if answer.status == 200 => selector.matches(&labels_of(&answer.body)),
        Ok(answer) => {
            tracing::info!(
                status = answer.status,
                "kubernetes: reading the namespace's labels failed"
            );
            false
        }
        Err(e) => {
            tracing::info!(error = %e, "kubernetes: reading the namespace's labels failed");
            false
        }
    }
}

fn alias_name(role: &Role, sa: &ServiceAccount) -> Result<String> {
    if role.alias_name_source == ALIAS_NAME {
        if sa.namespace.is_empty() || sa.name.is_empty() {
            return Err(Error::Forbidden("service account namespace and name must be set".into()));
        }
        return Ok(format!("{}/{}", sa.namespace, sa.name));
    }
    if sa.uid.is_empty() {
        return Err(Error::Forbidden("could not parse UID from claims".into()));
    }
    Ok(sa.uid.clone())
}

async fn login(state: Arc<KubeState>, req: Req) -> Result<Option<Response>> {
    let role_name = req.str("role")?.trim().to_lowercase();
    if role_name.is_empty() {
        return Err(Error::invalid("missing role"));
    }
    let jwt = SecretString::new(req.str("jwt")?.trim().to_string());
    if jwt.is_empty() {
        return Err(Error::invalid("missing jwt"));
    }
    let role = path_role::load(&req, &role_name)
        .await?
        .ok_or_else(|| Error::invalid(format!("invalid role name {role_name:?}")))?;
    cidr::check_source(req.inner.remote_addr, &role.token.bound_cidrs, "the role")
        .map_err(|_| Error::PermissionDenied)?;
    let loaded = state
        .loaded(req.storage())
        .await?
        .ok_or_else(|| Error::internal("could not load backend configuration"))?;

    let sa = validate::check(
        jwt.expose(),
        &loaded.keys,
        expected_issuer(&loaded.config),
        &role.audience,
    )?;
    check_name(&role, &sa)?;
    if !namespace_listed(&role, &sa) && !selector_admits(&loaded, &role, &sa.namespace, &jwt).await
    {
        return Err(Error::Forbidden("namespace not authorized".into()));
    }
    let alias = alias_name(&role, &sa)?;

    // With signing keys configured the signature was checked locally; without, the API
    // server vouches for the token and for whose it is.
    if loaded.keys.is_empty() {
        let audiences = if role.audience.is_empty() {
            sa.audiences.clone()
        } else {
            vec![role.audience.clone()]
        };
        let bearer = loaded.reviewer_token().unwrap_or_else(|| jwt.clone());
        let reviewed = token_review::review(&loaded.client, &loaded.base_url(), &bearer, &jwt, &audiences)
            .await
            .map_err(|e| {
                tracing::info!(mount = %req.inner.mount_point, reason = %e, "kubernetes: login refused by TokenReview");
                Error::PermissionDenied
            })?;
        if reviewed.name != sa.name || reviewed.namespace != sa.namespace || reviewed.uid != sa.uid
        {
            tracing::info!(mount = %req.inner.mount_point, "kubernetes: TokenReview names another service account than the JWT");
            return Err(Error::PermissionDenied);
        }
    }

    let mut alias_metadata = Map::new();
    for (key, value) in [
        ("service_account_name", &sa.name),
        ("service_account_namespace", &sa.namespace),
        ("service_account_secret_name", &sa.secret_name),
        ("service_account_uid", &sa.uid),
    ] {
        alias_metadata.insert(key.into(), Value::String(value.clone()));
    }
    let mut metadata = alias_metadata.clone();
    metadata.insert("role".into(), Value::String(role_name.clone()));
    let mut login = role.token.login();
    login.display_name = format!("{}-{}", sa.namespace, sa.name);
    login.metadata = metadata;
    login.alias_name = alias;
    login.alias_metadata = alias_metadata;
    login.internal.insert("role".into(), Value::String(role_name));
    Ok(Some(Response { login: Some(login), ..Response::default() }))
}

/// A token renews on its role's current TTLs while the role exists.
async fn renew(_s: Arc<KubeState>, req: Req, login: IssuedLogin) -> Result<LoginRenewal> {
    let name = login.role_name("role")?;
    let role = path_role::load(&req, name).await?;
    LoginRenewal::while_role_exists(role.as_ref().map(|r| &r.token), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(names: &[&str], namespaces: &[&str]) -> Role {
        Role {
            bound_service_account_names: names.iter().map(|s| s.to_string()).collect(),
            bound_service_account_namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            ..Role::default()
        }
    }

    fn sa(namespace: &str, name: &str) -> ServiceAccount {
        ServiceAccount {
            namespace: namespace.into(),
            name: name.into(),
            uid: "u".into(),
            ..ServiceAccount::default()
        }
    }

    #[test]
    fn bindings() {
        assert!(check_name(&role(&["*"], &["*"]), &sa("a", "b")).is_ok());
        assert!(namespace_listed(&role(&["*"], &["*"]), &sa("a", "b")));
        assert!(check_name(&role(&["web-*"], &["prod"]), &sa("prod", "web-1")).is_ok());
        assert_eq!(
            check_name(&role(&["web-*"], &["prod"]), &sa("prod", "api")),
            Err(Error::Forbidden("service account name not authorized".into()))
        );
        assert!(namespace_listed(&role(&["x"], &["team-*"]), &sa("team-a", "x")));
        assert!(!namespace_listed(&role(&["x"], &["prod"]), &sa("dev", "x")));
        assert!(!namespace_listed(&role(&["x"], &[]), &sa("dev", "x")));
        assert!(valid_namespace("team-a1"));
        assert!(!valid_namespace("../secrets"));
        assert!(!valid_namespace(""));
    }

    #[test]
    fn alias_names() {
        let by_name = Role { alias_name_source: ALIAS_NAME.into(), ..Role::default() };
        assert_eq!(alias_name(&by_name, &sa("prod", "app")).ok(), Some("prod/app".into()));
        assert_eq!(alias_name(&Role::default(), &sa("prod", "app")).ok(), Some("u".into()));
        let no_uid = ServiceAccount { uid: String::new(), ..sa("p", "a") };
        assert!(alias_name(&Role::default(), &no_uid).is_err());
    }
}
