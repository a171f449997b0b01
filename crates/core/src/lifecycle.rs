//! The endpoints that work while sealed and answer bare JSON: `sys/init`, `sys/seal-status`,
//! `sys/unseal`, `sys/health` and `sys/leader`.

use base64::Engine as _;
use coffer_types::{
    Error, Map, Operation, Request, Response, ResponseShape, Result, coerce_bool, coerce_int,
    coerce_string, coerce_string_list,
};
use serde_json::{Value, json};

use crate::Core;

fn bare(value: Value) -> Response {
    Response::json(value).with_shape(ResponseShape::Bare)
}

fn is_write(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
}

impl Core {
    /// Serves a lifecycle endpoint, or `None` when `req` is not one.
    pub(crate) async fn handle_lifecycle(&self, req: &Request) -> Option<Result<Response>> {
        let op = req.operation;
        let result = match req.path.as_str() {
            "sys/init" if op == Operation::Read => self.read_init().await,
            "sys/init" if is_write(op) => self.write_init(&req.data).await,
            "sys/seal-status" if op == Operation::Read => self.seal_status_response().await,
            "sys/unseal" if is_write(op) => self.write_unseal(&req.data).await,
            "sys/health" if op == Operation::Read => self.health(&req.data).await,
            "sys/leader" if op == Operation::Read => Ok(bare(json!({"ha_enabled": false}))),
            "sys/init" | "sys/seal-status" | "sys/unseal" | "sys/health" | "sys/leader" => {
                Err(Error::UnsupportedOperation)
            }
            _ => return None,
        };
        Some(result)
    }

    async fn read_init(&self) -> Result<Response> {
        let initialized = self.seal_config().await?.is_some();
        Ok(bare(json!({ "initialized": initialized })))
    }

    async fn write_init(&self, data: &Map) -> Result<Response> {
        let field = |name: &str| data.get(name).unwrap_or(&Value::Null);
        let shares = coerce_int("secret_shares", field("secret_shares"))?;
        let threshold = coerce_int("secret_threshold", field("secret_threshold"))?;
        if !coerce_string_list("pgp_keys", field("pgp_keys"))?.is_empty()
            || !coerce_string("root_token_pgp_key", field("root_token_pgp_key"))?.is_empty()
        {
            return Err(Error::invalid("PGP-encrypted key shares are not supported"));
        }
        let to_usize = |v: i64| usize::try_from(v).unwrap_or(0);
        let result = self.init(to_usize(shares), to_usize(threshold)).await?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let keys: Vec<String> = result.keys.iter().map(|k| hex::encode(k.as_slice())).collect();
        let keys_b64: Vec<String> = result.keys.iter().map(|k| b64.encode(k.as_slice())).collect();
        Ok(bare(json!({
            "keys": keys,
            "keys_base64": keys_b64,
            "root_token": result.root_token.expose(),
        })))
    }

    async fn seal_status_response(&self) -> Result<Response> {
        let status = self.seal_status().await?;
        Ok(bare(serde_json::to_value(status).map_err(|e| Error::internal(e.to_string()))?))
    }

    async fn write_unseal(&self, data: &Map) -> Result<Response> {
        let reset = coerce_bool("reset", data.get("reset").unwrap_or(&Value::Null))?;
        let key = match data.get("key") {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let status = self.unseal(key, reset).await?;
        Ok(bare(serde_json::to_value(status).map_err(|e| Error::internal(e.to_string()))?))
    }

    async fn health(&self, query: &Map) -> Result<Response> {
        let code = |name: &str, default: i64| -> Result<i64> {
            match query.get(name) {
                None => Ok(default),
                Some(v) => coerce_int(name, v).map_err(|_| Error::invalid("")),
            }
        };
        let active_code = code("activecode", 200)?;
        let sealed_code = code("sealedcode", 503)?;
        let uninit_code = code("uninitcode", 501)?;
        code("standbycode", 429)?;
        let initialized = self.seal_config().await?.is_some();
        let active = self.active.load_full();
        let now = coffer_types::unix_now();
        let mut body = json!({
            "initialized": initialized,
            "sealed": active.is_none(),
            "standby": active.is_none(),
            "performance_standby": false,
            "replication_performance_mode": if active.is_some() { "disabled" } else { "unknown" },
            "replication_dr_mode": if active.is_some() { "disabled" } else { "unknown" },
            "server_time_utc": now,
            "version": coffer_types::VERSION,
        });
        if let Some(a) = &active {
            body["cluster_name"] = json!(a.cluster_name);
            body["cluster_id"] = json!(a.cluster_id);
        }
        let status = match (initialized, active.is_some()) {
            (false, _) => uninit_code,
            (true, false) => sealed_code,
            (true, true) => active_code,
        };
        let mut response = bare(body);
        response.status = Some(u16::try_from(status).map_err(|_| Error::invalid(""))?);
        Ok(response)
    }
}
