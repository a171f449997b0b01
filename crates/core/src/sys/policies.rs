//! `sys/policies/acl`, the legacy `sys/policy`, and `sys/capabilities*`.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Response, ResponseShape, Result};
use serde_json::{Map, Value, json};

use super::SysState;

pub(super) fn routes(router: Router<SysState>) -> Router<SysState> {
    let acl_path = |p: &str| {
        Path::new(p)
            .field(Field::string("policy"))
            .field(Field::string("rules"))
            .field(Field::int("cas"))
            .field(Field::bool("cas_required"))
            .field(Field::string("expiration"))
            .field(Field::duration("ttl"))
            .field(Field::bool("allow_slashes_in_identity_templates"))
            .field(Field::bool("allow_wildcards_in_identity_templates"))
    };
    router
        .path(Path::new("policies/acl/").list(list_acl))
        .path(
            acl_path("policies/acl/{name}")
                .read(read_acl)
                .write(write_acl)
                .delete(delete_policy)
                .existence(|s: Arc<SysState>, req: Req| async move {
                    Ok(s.core()?.active()?.policies.read(req.capture("name")).await?.is_some())
                }),
        )
        .path(Path::new("policy").read(list_legacy))
        .path(Path::new("policy/").list(list_acl))
        .path(acl_path("policy/{name}").read(read_legacy).write(write_acl).delete(delete_policy))
        .path(
            Path::new("capabilities")
                .field(Field::string("token"))
                .field(Field::list("paths"))
                .field(Field::string("path"))
                .write(capabilities),
        )
        .path(
            Path::new("capabilities-self")
                .field(Field::string("token"))
                .field(Field::list("paths"))
                .field(Field::string("path"))
                .write(capabilities),
        )
        .path(
            Path::new("capabilities-accessor")
                .field(Field::string("accessor"))
                .field(Field::list("paths"))
                .field(Field::string("path"))
                .write(capabilities),
        )
}

async fn names_with_root(state: &SysState) -> Result<Vec<String>> {
    let mut names = state.core()?.active()?.policies.names().await?;
    names.push("root".into());
    names.sort();
    Ok(names)
}

async fn list_acl(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(json!({ "keys": names_with_root(&state).await? }))))
}

async fn list_legacy(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    let names = names_with_root(&state).await?;
    Ok(Some(
        Response::json(json!({ "keys": names, "policies": names }))
            .with_shape(ResponseShape::Injected),
    ))
}

async fn read_policy(state: &SysState, name: &str) -> Result<Option<(String, Value)>> {
    let name = name.to_lowercase();
    if name == "root" {
        return Ok(Some((
            String::new(),
            json!({
                "name": "root",
                "version": 0,
                "cas_required": false,
                "allow_slashes_in_identity_templates": false,
                "allow_wildcards_in_identity_templates": false,
            }),
        )));
    }
    let Some(stored) = state.core()?.active()?.policies.read(&name).await? else { return Ok(None) };
    let modified =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(stored.modified.max(0) as u64);
    Ok(Some((
        stored.policy,
        json!({
            "name": stored.name,
            "version": stored.version,
            "cas_required": stored.cas_required,
            "modified": humantime::format_rfc3339(modified).to_string(),
            "allow_slashes_in_identity_templates": false,
            "allow_wildcards_in_identity_templates": false,
        }),
    )))
}

async fn read_acl(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    Ok(read_policy(&state, req.capture("name")).await?.map(|(text, mut data)| {
        data["policy"] = json!(text);
        Response::json(data)
    }))
}

async fn read_legacy(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    // The same fields as the ACL read, with the text under its legacy name.
    Ok(read_policy(&state, req.capture("name")).await?.map(|(text, mut data)| {
        data["rules"] = json!(text);
        Response::json(data).with_shape(ResponseShape::Injected)
    }))
}

async fn write_acl(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let (text, warning) = match (req.str("policy")?, req.str("rules")?) {
        (p, _) if !p.is_empty() => (p, None),
        (_, r) if !r.is_empty() => (r, Some("'rules' is deprecated, please use 'policy' instead")),
        _ => return Err(Error::invalid("'policy' parameter not supplied or empty")),
    };
    let cas = if req.has("cas") {
        let c = req.int("cas")?;
        Some(u64::try_from(c).map_err(|_| Error::invalid("cas must not be negative"))?)
    } else {
        None
    };
    state.core()?.active()?.policies.write(req.capture("name"), &text, cas).await?;
    Ok(warning.map(|w| Response::default().with_warning(w)))
}

async fn delete_policy(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    state.core()?.active()?.policies.delete(req.capture("name")).await?;
    Ok(None)
}

/// Capabilities of a token (by id, accessor, or the caller) on each path.
async fn capabilities(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let core = state.core()?;
    let active = core.active()?;
    let mut paths = req.list("paths")?;
    let single = req.str("path")?;
    if !single.is_empty() {
        paths.push(single);
    }
    if paths.is_empty() {
        return Err(Error::invalid("missing paths"));
    }
    let entry = match req.inner.path.as_str() {
        "capabilities-accessor" => {
            active.tokens.lookup_accessor(&req.str("accessor")?).await?.map(|(_, e)| e)
        }
        "capabilities" => active.tokens.lookup(&req.str("token")?).await?,
        _ => match req.inner.client_token.as_ref() {
            Some(t) => active.tokens.lookup(t.expose()).await?,
            None => None,
        },
    };
    let entry = entry.ok_or_else(|| Error::invalid("invalid token"))?;
    let acl = crate::acl::acl_for(&active, &entry.policies, &entry.entity_id).await?;
    let mut data = Map::new();
    for path in &paths {
        let names = acl.capability_names_for(path.trim_start_matches('/'));
        data.insert(path.clone(), json!(names));
    }
    if paths.len() == 1 {
        if let Some(v) = data.get(&paths[0]).cloned() {
            data.insert("capabilities".into(), v);
        }
    }
    Ok(Some(Response::data(data).with_shape(ResponseShape::Injected)))
}
