//! From a logical [`Response`] or [`Error`] to HTTP: the envelope, the injected and bare
//! shapes, raw bodies, and the error body. This is the only place that renders errors.

use bytes::Bytes;
use coffer_types::{Error, Response, ResponseShape};
use http::{HeaderValue, StatusCode, header};
use http_body_util::Full;
use serde_json::{Map, Value, json};

/// The HTTP response type of the API.
pub type HttpResponse = http::Response<Full<Bytes>>;

fn base(status: u16, content_type: &str, body: Bytes) -> HttpResponse {
    let mut response = http::Response::new(Full::new(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    response
}

fn json_response(status: u16, value: &Value) -> HttpResponse {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    base(status, "application/json", Bytes::from(body))
}

/// Renders an error as `{"errors":[...]}` with its status.
pub fn render_error(error: &Error) -> HttpResponse {
    json_response(error.status(), &json!({ "errors": error.messages() }))
}

/// Renders a successful response.
pub fn render(response: Response, request_id: &str) -> HttpResponse {
    if let Some(raw) = response.raw {
        return base(response.status.unwrap_or(200), &raw.content_type, Bytes::from(raw.body));
    }
    if response.shape == ResponseShape::Bare {
        let body = response.data.map(Value::Object).unwrap_or(Value::Null);
        return json_response(response.status.unwrap_or(200), &body);
    }
    if response.is_empty() {
        return base(204, "application/json", Bytes::new());
    }
    let status = response.status.unwrap_or(200);
    let mut body = Map::new();
    if response.shape == ResponseShape::Injected {
        if let Some(data) = &response.data {
            body.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    let lease = response.lease.unwrap_or_default();
    let wrap_info =
        response.wrap_info.as_ref().map(|w| serde_json::to_value(w).unwrap_or(Value::Null));
    let request_id = if wrap_info.is_some() { "" } else { request_id };
    body.insert("request_id".into(), json!(request_id));
    body.insert("lease_id".into(), json!(lease.lease_id));
    body.insert("renewable".into(), json!(lease.renewable));
    body.insert("lease_duration".into(), json!(lease.lease_duration));
    body.insert("data".into(), response.data.map(Value::Object).unwrap_or(Value::Null));
    body.insert("wrap_info".into(), wrap_info.unwrap_or(Value::Null));
    let warnings =
        if response.warnings.is_empty() { Value::Null } else { json!(response.warnings) };
    body.insert("warnings".into(), warnings);
    let auth = response
        .auth
        .map(|a| serde_json::to_value(a).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    body.insert("auth".into(), auth);
    json_response(status, &Value::Object(body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn envelope_has_every_key() {
        let r = render(Response::json(json!({"a": 1})), "rid");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let empty = render(Response::default(), "rid");
        assert_eq!(empty.status(), 204);
        let err = render_error(&Error::NotFound);
        assert_eq!(err.status(), 404);
    }
}
