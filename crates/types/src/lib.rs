//! Shared vocabulary of Coffer: requests, responses (the Vault envelope), operations, the error
//! enum whose `status()` is the single mapping to HTTP, secrets in zeroizing wrappers, and
//! Vault's weak typing of parameters (durations such as `"1h30m"`, `"90"` or `90`; bools; comma
//! lists). No I/O happens here.
#![forbid(unsafe_code)]

mod duration;
mod error;
mod fields;
mod ids;
mod request;
mod response;
mod secret;

pub use duration::{
    format_go_duration, format_short_duration, parse_duration, parse_duration_str,
    ttl_capped_warning,
};
pub use error::Error;
pub use fields::{coerce_bool, coerce_int, coerce_string, coerce_string_list, coerce_string_map};
pub use ids::{new_uuid, random_base62, random_bytes, request_id, unix_now};
pub use request::{Operation, Request};
pub use response::{
    Auth, LeaseInfo, Login, RawBody, Response, ResponseShape, SecretLease, WrapInfo,
};
pub use secret::SecretString;

/// A JSON object, the shape of request and response data.
pub type Map = serde_json::Map<String, serde_json::Value>;

/// The result type of every request-path function.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The version reported by `sys/seal-status` and `sys/health`. It must be semver: the
/// Terraform provider parses it and gates features on it.
pub const VERSION: &str = "2.7.2";
