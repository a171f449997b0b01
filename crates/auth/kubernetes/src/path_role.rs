//! Roles (`role/`, `role/:name`): which service accounts (names and namespaces, `*` or globs)
//! may log in, the audience their JWTs must carry, how the identity alias is named, and the
//! settings of the issued tokens.

use std::sync::Arc;

use coffer_framework::token_fields::{self, TokenFields, sorted};
use coffer_framework::{Field, LegacyNames, Path, Req, Router, read_json};
use coffer_types::{Error, Map, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::namespace_selector::LabelSelector;
use crate::path_config::KubeState;

/// Alias names: the service account's UID (the default) or `namespace/name`.
pub(crate) const ALIAS_UID: &str = "serviceaccount_uid";
pub(crate) const ALIAS_NAME: &str = "serviceaccount_name";

/// The legacy names of token settings a role accepts and echoes (hvac writes roles with
/// `policies`, `ttl`, `max_ttl` and `period`).
const LEGACY: &[&str] = &["policies", "ttl", "max_ttl", "period", "num_uses", "bound_cidrs"];

/// A stored role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Role {
    pub(crate) bound_service_account_names: Vec<String>,
    pub(crate) bound_service_account_namespaces: Vec<String>,
    pub(crate) bound_service_account_namespace_selector: String,
    pub(crate) audience: String,
    pub(crate) alias_name_source: String,
    pub(crate) token: TokenFields,
    /// Legacy names used to set token settings, echoed on reads.
    pub(crate) legacy: LegacyNames,
}

impl Role {
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("alias_name_source".into(), json!(self.alias_name_source));
        out.insert("bound_service_account_names".into(), json!(self.bound_service_account_names));
        out.insert(
            "bound_service_account_namespace_selector".into(),
            json!(self.bound_service_account_namespace_selector),
        );
        out.insert(
            "bound_service_account_namespaces".into(),
            json!(self.bound_service_account_namespaces),
        );
        if !self.audience.is_empty() {
            out.insert("audience".into(), json!(self.audience));
        }
        self.token.write_json(&mut out);
        self.legacy.echo(&self.token, &mut out);
        Value::Object(sorted(out))
    }
}

fn role_key(name: &str) -> String {
    format!("role/{}", name.to_lowercase())
}

/// Loads a role by name (case-insensitive).
pub(crate) async fn load(req: &Req, name: &str) -> Result<Option<Role>> {
    read_json(req.storage(), &role_key(name)).await
}

pub(crate) fn routes(router: Router<KubeState>) -> Router<KubeState> {
    let mut role = token_fields::declare(Path::new("role/{name}"))
        .field(Field::list("bound_service_account_names").describe("Names or globs, or *."))
        .field(Field::list("bound_service_account_namespaces").describe("Namespaces or globs."))
        .field(Field::string("bound_service_account_namespace_selector"))
        .field(Field::string("audience").describe("Audience the JWT must carry."))
        .field(Field::string("alias_name_source").describe("serviceaccount_uid or _name."));
    for legacy in ["ttl", "max_ttl", "num_uses", "bound_cidrs"] {
        role = role.field(Field::any(legacy).describe("Deprecated: use the token_ field."));
    }
    let role = role.read(read_role).write(write_role).delete(delete_role).existence(
        |_s: Arc<KubeState>, req: Req| async move {
            Ok(load(&req, req.capture("name")).await?.is_some())
        },
    );
    router.path(Path::new("role/").list(list_roles)).path(role)
}

async fn list_roles(_s: Arc<KubeState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(json!({ "keys": req.storage().list("role/").await? }))))
}

async fn read_role(_s: Arc<KubeState>, req: Req) -> Result<Option<Response>> {
    Ok(load(&req, req.capture("name")).await?.map(|r| Response::json(r.to_json())))
}

async fn delete_role(_s: Arc<KubeState>, req: Req) -> Result<Option<Response>> {
    req.storage().delete(&role_key(req.capture("name"))).await?;
    Ok(None)
}

fn no_mixed_star(list: &[String]) -> Result<()> {
    if list.len() > 1 && list.iter().any(|v| v == "*") {
        return Err(Error::invalid("can not mix \"*\" with values"));
    }
    Ok(())
}

/// Applies the request to `role` (fields not sent keep their value) and checks the result.
fn apply(role: &mut Role, req: &mut Req) -> Result<()> {
    role.legacy.upgrade(req, LEGACY);
    role.token.update(req)?;
    role.legacy.retain_in_use(&role.token);
    if req.has("bound_service_account_names") {
        role.bound_service_account_names = req.list("bound_service_account_names")?;
    }
    if role.bound_service_account_names.is_empty() {
        return Err(Error::invalid("\"bound_service_account_names\" can not be empty"));
    }
    no_mixed_star(&role.bound_service_account_names)?;
    if req.has("bound_service_account_namespaces") {
        role.bound_service_account_namespaces = req.list("bound_service_account_namespaces")?;
    }
    if req.has("bound_service_account_namespace_selector") {
        role.bound_service_account_namespace_selector =
            req.str("bound_service_account_namespace_selector")?.trim().to_string();
        if !role.bound_service_account_namespace_selector.is_empty() {
            LabelSelector::parse(&role.bound_service_account_namespace_selector)?;
        }
    }
    if role.bound_service_account_namespaces.is_empty()
        && role.bound_service_account_namespace_selector.is_empty()
    {
        return Err(Error::invalid(
            "\"bound_service_account_namespaces\" can not be empty if \"bound_service_account_namespace_selector\" is not set",
        ));
    }
    no_mixed_star(&role.bound_service_account_namespaces)?;
    if req.has("audience") {
        role.audience = req.str("audience")?;
    }
    if req.has("alias_name_source") || role.alias_name_source.is_empty() {
        let source = req.str("alias_name_source")?;
        role.alias_name_source = if source.is_empty() { ALIAS_UID.into() } else { source };
    }
    if !matches!(role.alias_name_source.as_str(), ALIAS_UID | ALIAS_NAME) {
        return Err(Error::invalid(format!(
            "invalid alias_name_source {:?}, must be one of {ALIAS_UID:?}, {ALIAS_NAME:?}",
            role.alias_name_source
        )));
    }
    Ok(())
}

async fn write_role(_s: Arc<KubeState>, mut req: Req) -> Result<Option<Response>> {
    let name = req.capture("name").to_lowercase();
    let mut role = load(&req, &name).await?.unwrap_or_default();
    apply(&mut role, &mut req)?;
    let bytes = serde_json::to_vec(&role).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(&role_key(&name), &bytes).await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_stands_alone() {
        assert!(no_mixed_star(&["*".into()]).is_ok());
        assert!(no_mixed_star(&["a".into(), "b*".into()]).is_ok());
        assert!(no_mixed_star(&["*".into(), "a".into()]).is_err());
    }

    #[test]
    fn reads_show_audience_only_when_set() {
        let role = Role { alias_name_source: ALIAS_UID.into(), ..Role::default() };
        assert!(role.to_json().get("audience").is_none());
        let role = Role { audience: "vault".into(), ..role };
        assert_eq!(role.to_json()["audience"], "vault");
        assert_eq!(role.to_json()["token_type"], "default");
    }
}
