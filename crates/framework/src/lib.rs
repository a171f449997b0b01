//! The framework every engine is built with: a [`Backend`] trait the core dispatches to, and a
//! [`Router`] that builds one from routes declared as data: a pattern, typed fields with Vault's
//! coercions, and a handler per operation.
//!
//! ```ignore
//! Router::new(state)
//!     .path(Path::new("config").field(Field::int("max_versions")).read(read_config).write(write_config))
//!     .path(Path::new("data/{path*}").read(read_data))
//! ```
#![forbid(unsafe_code)]

mod backend;
pub mod cidr;
mod field;
pub mod glob;
mod legacy_names;
mod pattern;
mod renewal;
mod request;
mod router;
pub mod token_fields;
pub mod tools;

pub use backend::{Backend, BackendConfig, Factory, SecretRequest, SpecialPaths};
pub use field::{Field, FieldKind};
pub use legacy_names::LegacyNames;
pub use pattern::Pattern;
pub use renewal::{IssuedLogin, LoginRenewal, RenewTerms};
pub use request::{BackendRequest, Caller, Req, read_json};
pub use router::{BoxFuture, Handler, Path, Router};
