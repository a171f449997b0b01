//! From a logical [`Response`] or [`Error`] to HTTP: the envelope, the injected and bare
//! shapes, raw bodies, and the error body. This is the only place that renders errors.

use bytes::Bytes;
use coffer_types::{Auth, Error, Response, ResponseShape, WrapInfo};
use http::{HeaderValue, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;
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

fn json_response(status: u16, value: &impl Serialize) -> HttpResponse {
    let mut body = Vec::with_capacity(512);
    if serde_json::to_writer(&mut body, value).is_err() {
        body = b"{}".to_vec();
    }
    base(status, "application/json", Bytes::from(body))
}

/// Vault's response envelope, in its key order; serialized straight from the response
/// without building an intermediate JSON map.
#[derive(Serialize)]
struct Envelope<'a> {
    request_id: &'a str,
    lease_id: &'a str,
    renewable: bool,
    lease_duration: i64,
    data: Option<&'a Map<String, Value>>,
    wrap_info: Option<&'a WrapInfo>,
    /// `null` when there are none.
    warnings: Option<&'a [String]>,
    auth: Option<&'a Auth>,
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
    let lease = response.lease.unwrap_or_default();
    let envelope = Envelope {
        // A wrapped response's id is the unwrapping request's.
        request_id: if response.wrap_info.is_some() { "" } else { request_id },
        lease_id: &lease.lease_id,
        renewable: lease.renewable,
        lease_duration: lease.lease_duration,
        data: response.data.as_ref(),
        wrap_info: response.wrap_info.as_ref(),
        warnings: (!response.warnings.is_empty()).then_some(response.warnings.as_slice()),
        auth: response.auth.as_ref(),
    };
    if response.shape != ResponseShape::Injected {
        return json_response(status, &envelope);
    }
    // The data's own keys first, then the envelope's (which win over any of the same name).
    let mut body = response.data.clone().unwrap_or_default();
    if let Value::Object(keys) = serde_json::to_value(&envelope).unwrap_or(Value::Null) {
        body.extend(keys);
    }
    json_response(status, &body)
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

    fn body(r: HttpResponse) -> String {
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let bytes = rt.block_on(r.into_body().collect()).unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn the_envelope_keeps_vaults_key_order() {
        let mut r = Response::json(json!({"b": 1, "a": 2}));
        r.warnings = vec!["careful".into()];
        assert_eq!(
            body(render(r, "rid")),
            r#"{"request_id":"rid","lease_id":"","renewable":false,"lease_duration":0,"data":{"b":1,"a":2},"wrap_info":null,"warnings":["careful"],"auth":null}"#
        );
    }

    #[test]
    fn an_injected_answer_puts_its_keys_first_and_the_envelope_wins() {
        let mut r = Response::json(json!({"keys": ["k"], "request_id": "theirs"}));
        r.shape = ResponseShape::Injected;
        assert_eq!(
            body(render(r, "rid")),
            r#"{"keys":["k"],"request_id":"rid","lease_id":"","renewable":false,"lease_duration":0,"data":{"keys":["k"],"request_id":"theirs"},"wrap_info":null,"warnings":null,"auth":null}"#
        );
    }
}
