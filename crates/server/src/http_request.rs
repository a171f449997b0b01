//! From an HTTP request to a logical [`Request`]: method mapping, path, query and body parsing
//! with Vault's leniency, and the token headers.

use bytes::Bytes;
use coffer_types::{Error, Map, Operation, Request, Result, SecretString, coerce_bool};
use http::{HeaderMap, Method, header};
use serde_json::Value;

/// The parts of an HTTP request the API needs before the body is read.
pub(crate) struct Head {
    pub operation: Operation,
    pub path: String,
    pub is_head: bool,
}

/// Maps method + URI to an operation and logical path (without `/v1/`).
pub(crate) fn parse_head(method: &Method, uri: &http::Uri, headers: &HeaderMap) -> Result<Head> {
    let raw_path = uri.path();
    let Some(rest) = raw_path.strip_prefix("/v1/") else {
        return Err(Error::NotFound);
    };
    let path = percent_decode(rest)?;
    if path.chars().any(|c| c.is_control()) {
        return Err(Error::invalid("path contains non-printable characters"));
    }
    let query = parse_query(uri.query());
    let list_flag = match query.get("list") {
        Some(v) => coerce_bool("list", v)?,
        None => false,
    };
    let method_name = method.as_str().to_ascii_uppercase();
    let (operation, is_head) = match method_name.as_str() {
        "GET" if list_flag => (Operation::List, false),
        "GET" => (Operation::Read, false),
        "HEAD" if path == "sys/health" => (Operation::Read, true),
        "LIST" => (Operation::List, false),
        "POST" | "PUT" => (Operation::Update, false),
        "PATCH" => {
            let content_type =
                headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !content_type.to_ascii_lowercase().starts_with("application/merge-patch+json") {
                return Err(Error::UnsupportedMediaType);
            }
            (Operation::Patch, false)
        }
        "DELETE" => (Operation::Delete, false),
        "OPTIONS" => return Err(Error::invalid("")),
        _ => return Err(Error::UnsupportedOperation),
    };
    let path = if operation == Operation::List && !path.ends_with('/') {
        format!("{path}/")
    } else {
        path
    };
    Ok(Head { operation, path, is_head })
}

fn percent_decode(path: &str) -> Result<String> {
    let bytes: Vec<u8> =
        form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
    String::from_utf8(bytes).map_err(|_| Error::invalid("path is not valid UTF-8"))
}

/// Query parameters as data: repeated keys are comma-joined, like form bodies.
pub(crate) fn parse_query(query: Option<&str>) -> Map {
    let mut map = Map::new();
    if let Some(q) = query {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            insert_joined(&mut map, k.into_owned(), v.into_owned());
        }
    }
    map
}

fn insert_joined(map: &mut Map, key: String, value: String) {
    match map.get_mut(&key) {
        Some(Value::String(existing)) => {
            existing.push(',');
            existing.push_str(&value);
        }
        _ => {
            map.insert(key, Value::String(value));
        }
    }
}

/// Parses a body leniently: JSON unless it is a form body (form content type and not
/// starting with `{`/`[`); empty or `null` is empty data.
pub(crate) fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Map> {
    let trimmed = body.iter().position(|b| !b.is_ascii_whitespace()).map(|i| &body[i..]);
    let Some(content) = trimmed else { return Ok(Map::new()) };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if is_form && !matches!(content.first(), Some(b'{') | Some(b'[')) {
        let mut map = Map::new();
        for (k, v) in form_urlencoded::parse(content) {
            insert_joined(&mut map, k.into_owned(), v.into_owned());
        }
        return Ok(map);
    }
    match serde_json::from_slice::<Value>(content) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(Error::invalid("failed to decode JSON input: the body must be a JSON object")),
        Err(e) => Err(Error::invalid(format!("failed to decode JSON input: {e}"))),
    }
}

/// The caller's token: `X-Vault-Token`, else `Authorization: Bearer`.
pub(crate) fn token(headers: &HeaderMap) -> Option<SecretString> {
    if let Some(t) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) {
        return Some(SecretString::new(t.trim()));
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| SecretString::new(value.trim()))
}

/// `X-Vault-Wrap-TTL`: a Go duration (`2m0s`) or seconds.
fn wrap_ttl(headers: &HeaderMap) -> Result<Option<i64>> {
    let Some(raw) = headers.get("x-vault-wrap-ttl") else { return Ok(None) };
    let text = raw
        .to_str()
        .map_err(|_| Error::invalid("error parsing X-Vault-Wrap-TTL header: not text"))?;
    match coffer_types::parse_duration_str(text) {
        Some(secs) if secs > 0 => Ok(Some(secs)),
        Some(0) => Ok(None),
        _ => Err(Error::invalid(format!(
            "error parsing X-Vault-Wrap-TTL header: invalid duration {text:?}"
        ))),
    }
}

/// Checks `X-Vault-Namespace`: only the root namespace exists.
pub(crate) fn check_namespace(headers: &HeaderMap) -> Result<()> {
    match headers.get("x-vault-namespace").and_then(|v| v.to_str().ok()) {
        None | Some("") | Some("root") | Some("root/") | Some("/") => Ok(()),
        Some(_) => Err(Error::NamespaceNotFound),
    }
}

/// Builds the logical request from its parts.
pub(crate) fn build_request(
    head: &Head,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
    remote: Option<std::net::SocketAddr>,
) -> Result<Request> {
    let is_ocsp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.eq_ignore_ascii_case("application/ocsp-request"));
    let data = match head.operation {
        // OCSP requests are raw DER: the engine gets them base64-encoded.
        Operation::Update if is_ocsp => {
            use base64::Engine as _;
            let mut map = Map::new();
            let encoded = base64::engine::general_purpose::STANDARD.encode(body);
            map.insert("http_raw_body".into(), Value::String(encoded));
            map
        }
        Operation::Update | Operation::Patch => parse_body(headers, body)?,
        _ => {
            let mut query = parse_query(uri.query());
            query.remove("list");
            query
        }
    };
    let mut request = Request::new(head.operation, head.path.clone()).with_data(data);
    request.token = token(headers);
    request.remote_addr = remote;
    request.wrap_ttl = wrap_ttl(headers)?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn head(method: &str, uri: &str) -> Result<Head> {
        let uri: http::Uri = uri.parse().unwrap();
        parse_head(&Method::from_bytes(method.as_bytes()).unwrap(), &uri, &HeaderMap::new())
    }

    #[test]
    fn methods_map_to_operations() {
        assert_eq!(head("GET", "/v1/secret/foo").unwrap().operation, Operation::Read);
        let list = head("GET", "/v1/secret/metadata?list=true").unwrap();
        assert_eq!((list.operation, list.path.as_str()), (Operation::List, "secret/metadata/"));
        assert_eq!(head("LIST", "/v1/a/b/").unwrap().path, "a/b/");
        assert_eq!(head("PUT", "/v1/a").unwrap().operation, Operation::Update);
        assert_eq!(head("PATCH", "/v1/a").err(), Some(Error::UnsupportedMediaType));
        assert_eq!(head("GET", "/v1/a?list=maybe").err().map(|e| e.status()), Some(400));
        assert_eq!(head("BREW", "/v1/a").err(), Some(Error::UnsupportedOperation));
        assert_eq!(head("GET", "/other").err(), Some(Error::NotFound));
        assert_eq!(head("GET", "/v1/a%20b").unwrap().path, "a b");
        assert_eq!(head("HEAD", "/v1/secret/x").err(), Some(Error::UnsupportedOperation));
    }

    #[test]
    fn bodies_are_parsed_leniently() {
        let mut form = HeaderMap::new();
        form.insert(header::CONTENT_TYPE, "application/x-www-form-urlencoded".parse().unwrap());
        let json_under_form = parse_body(&form, &Bytes::from_static(b"{\"a\":1}")).unwrap();
        assert_eq!(json_under_form["a"], 1);
        let real_form = parse_body(&form, &Bytes::from_static(b"a=1&a=2&b=x")).unwrap();
        assert_eq!(real_form["a"], "1,2");
        let none = HeaderMap::new();
        assert!(parse_body(&none, &Bytes::from_static(b"null")).unwrap().is_empty());
        assert!(parse_body(&none, &Bytes::from_static(b"  ")).unwrap().is_empty());
        let bad = parse_body(&none, &Bytes::from_static(b"{nope")).unwrap_err();
        assert!(bad.to_string().starts_with("failed to decode JSON input"));
    }

    #[test]
    fn tokens_from_either_header() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(token(&h).unwrap().expose(), "abc");
        h.insert("x-vault-token", "xyz".parse().unwrap());
        assert_eq!(token(&h).unwrap().expose(), "xyz");
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(token(&basic).is_none());
    }
}
