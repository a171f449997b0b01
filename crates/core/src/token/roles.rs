//! Token roles (`auth/token/roles/:name`): named presets for child tokens.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router, read_json};
use coffer_types::{Error, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::create::sanitize_policies;
use super::routes::TokenState;

/// A stored token role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenRole {
    /// The role name.
    pub name: String,
    /// Policies a token of this role may have (empty: the parent's).
    pub allowed_policies: Vec<String>,
    /// Policies a token of this role may never have.
    pub disallowed_policies: Vec<String>,
    /// Tokens are orphans.
    pub orphan: bool,
    /// Tokens are renewable.
    pub renewable: bool,
    /// Appended to the creation path.
    pub path_suffix: String,
    /// Period of the tokens, seconds.
    pub token_period: i64,
    /// Hard cap of the tokens, seconds.
    pub token_explicit_max_ttl: i64,
    /// Leave out `default`.
    pub token_no_default_policy: bool,
    /// Uses of each token.
    pub token_num_uses: i64,
    /// Token type.
    pub token_type: String,
    /// `period` as set through that legacy name (0 when set as `token_period`).
    #[serde(default)]
    pub period: i64,
    /// `explicit_max_ttl` as set through that legacy name (0 when set with the token_ name).
    #[serde(default)]
    pub explicit_max_ttl: i64,
}

impl TokenRole {
    fn to_json(&self) -> serde_json::Value {
        let mut out = json!({
            "allowed_entity_aliases": null,
            "allowed_policies": self.allowed_policies,
            "allowed_policies_glob": [],
            "disallowed_policies": self.disallowed_policies,
            "disallowed_policies_glob": [],
            "explicit_max_ttl": self.explicit_max_ttl,
            "name": self.name,
            "orphan": self.orphan,
            "path_suffix": self.path_suffix,
            "period": self.period,
            "renewable": self.renewable,
            "token_explicit_max_ttl": self.token_explicit_max_ttl,
            "token_no_default_policy": self.token_no_default_policy,
            "token_period": self.token_period,
            "token_type": if self.token_type.is_empty() { "default-service" } else { &self.token_type },
        });
        // Shown only when set, as the reference shows it.
        if let (true, Some(map)) = (self.token_num_uses > 0, out.as_object_mut()) {
            map.insert("token_num_uses".into(), json!(self.token_num_uses));
        }
        out
    }
}

pub(super) fn routes(router: Router<TokenState>) -> Router<TokenState> {
    router.path(Path::new("roles/").list(list_roles)).path(
        Path::new("roles/{role_name}")
            .field(Field::list("allowed_policies"))
            .field(Field::list("disallowed_policies"))
            .field(Field::list("allowed_policies_glob"))
            .field(Field::list("disallowed_policies_glob"))
            .field(Field::list("allowed_entity_aliases"))
            .field(Field::bool("orphan"))
            .field(Field::bool("renewable").default(true))
            .field(Field::string("path_suffix"))
            .field(Field::duration("token_period"))
            .field(Field::duration("period"))
            .field(Field::duration("token_explicit_max_ttl"))
            .field(Field::duration("explicit_max_ttl"))
            .field(Field::bool("token_no_default_policy"))
            .field(Field::int("token_num_uses"))
            .field(Field::string("token_type"))
            .field(Field::list("token_bound_cidrs"))
            .read(read_role)
            .write(write_role)
            .delete(delete_role)
            .existence(|_s: Arc<TokenState>, req: Req| async move {
                Ok(req
                    .storage()
                    .get(&format!("roles/{}", req.capture("role_name")))
                    .await?
                    .is_some())
            }),
    )
}

/// Loads a role by name.
pub(super) async fn load(req: &Req, name: &str) -> Result<Option<TokenRole>> {
    read_json(req.storage(), &format!("roles/{}", name.to_lowercase())).await
}

async fn list_roles(_s: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    let keys = req.storage().list("roles/").await?;
    Ok(Some(Response::json(json!({ "keys": keys }))))
}

async fn read_role(_s: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    Ok(load(&req, req.capture("role_name")).await?.map(|r| Response::json(r.to_json())))
}

async fn write_role(_s: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    let name = req.capture("role_name").to_lowercase();
    let mut role =
        load(&req, &name).await?.unwrap_or(TokenRole { renewable: true, ..TokenRole::default() });
    role.name = name.clone();
    if req.has("allowed_policies") {
        role.allowed_policies = sanitize_policies(&req.list("allowed_policies")?);
    }
    if req.has("disallowed_policies") {
        role.disallowed_policies = sanitize_policies(&req.list("disallowed_policies")?);
    }
    if req.has("orphan") {
        role.orphan = req.bool("orphan")?;
    }
    if req.has("renewable") {
        role.renewable = req.bool("renewable")?;
    }
    if req.has("path_suffix") {
        let suffix = req.str("path_suffix")?;
        if suffix.contains("..") {
            return Err(Error::invalid("path_suffix cannot contain '..'"));
        }
        role.path_suffix = suffix;
    }
    // The current name wins and clears the legacy one; the legacy name alone sets both (the
    // reference's upgrade rule, whose reads show both).
    for (field, legacy) in
        [("token_period", "period"), ("token_explicit_max_ttl", "explicit_max_ttl")]
    {
        let (current, old) = match field {
            "token_period" => (&mut role.token_period, &mut role.period),
            _ => (&mut role.token_explicit_max_ttl, &mut role.explicit_max_ttl),
        };
        if req.has(field) {
            *current = req.duration(field)?;
            *old = 0;
        } else if req.has(legacy) {
            *current = req.duration(legacy)?;
            *old = *current;
        }
    }
    if req.has("token_no_default_policy") {
        role.token_no_default_policy = req.bool("token_no_default_policy")?;
    }
    if req.has("token_num_uses") {
        role.token_num_uses = req.int("token_num_uses")?;
    }
    if req.has("token_type") {
        let t = req.str("token_type")?;
        if !matches!(t.as_str(), "" | "service" | "default-service" | "batch" | "default-batch") {
            return Err(Error::invalid(format!("invalid 'token_type' value {t:?}")));
        }
        role.token_type = t;
    }
    if role.token_type == "batch" && !role.orphan {
        return Err(Error::invalid(
            "'token_type' cannot be 'batch' when role is set to generate non-orphan tokens",
        ));
    }
    let bytes = serde_json::to_vec(&role).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(&format!("roles/{name}"), &bytes).await?;
    Ok(None)
}

async fn delete_role(_s: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    req.storage().delete(&format!("roles/{}", req.capture("role_name").to_lowercase())).await?;
    Ok(None)
}
