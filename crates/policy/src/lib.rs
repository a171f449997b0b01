//! ACL policies, Vault-compatible: policy text (HCL or JSON) is parsed into a [`Policy`], the
//! policies of a token are compiled into an [`Acl`], and [`Acl::check`] decides requests.
//! Pure code: no I/O, no async.
//!
//! ```
//! use coffer_policy::{Acl, Policy};
//! use coffer_types::{Map, Operation};
//!
//! let app = Policy::parse("app", r#"
//!     path "secret/data/app/*" { capabilities = ["read"] }
//!     path "secret/data/app/admin" { capabilities = ["deny"] }
//! "#)?;
//! let acl = Acl::new(&[app]);
//! assert!(acl.check("secret/data/app/db", Operation::Read, &Map::new()).allowed);
//! assert!(!acl.check("secret/data/app/admin", Operation::Read, &Map::new()).allowed);
//! assert_eq!(acl.capability_names_for("secret/data/app/db"), ["read"]);
//! # Ok::<(), coffer_policy::PolicyError>(())
//! ```
//!
//! # Semantics (contract §14)
//!
//! - Syntax: `path "<pattern>" { capabilities = [...] }` plus `allowed_parameters`,
//!   `denied_parameters`, `required_parameters`, `min_wrapping_ttl`, `max_wrapping_ttl`,
//!   `expiration`, `comment`, and the legacy `policy = "deny|read|write|sudo"`. HCL v1 forms
//!   that HCL v2 rejects (items on one line, commas between items, block-form parameter maps)
//!   are accepted. Vault-only capabilities (`subscribe`, `recover`) are ignored with a warning;
//!   other unknown names are errors.
//! - Matching: an exact pattern wins outright; otherwise the highest-priority glob (`*` suffix)
//!   or segment-wildcard (`+`) pattern, ranked highest first by: later first wildcard, no
//!   trailing `*`, fewer `+` segments, longer pattern, lexicographically greater. For lists,
//!   the path without its trailing `/` is tried first (as Vault and OpenBao do). Exact rules
//!   sit in a hash map, prefix globs in a byte trie (longest prefix in O(|path|)), `+` rules
//!   in buckets by first segment; a check allocates only its list of granting policies.
//! - Merging: the same pattern in several policies unions capabilities; `deny` anywhere wins.
//! - Parameters are checked for read, create, update and patch only.
//! - Templated patterns (`{{identity.entity.id}}`, ...) are rendered per entity with
//!   [`Policy::render`]; unresolvable ones are dropped.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod acl;
mod builtin;
mod capability;
mod error;
mod hcl1;
mod matcher;
mod params;
mod parse;
mod syntax;
mod template;

pub use acl::{Acl, AclRequest, Decision, ROOT_POLICY};
pub use builtin::{
    DEFAULT_POLICY, RESPONSE_WRAPPING_POLICY, default_policy_text, response_wrapping_policy_text,
};
pub use capability::{Capabilities, Capability};
pub use error::PolicyError;
pub use params::ParamConstraints;
pub use parse::{PathRule, Policy};
pub use template::{AliasInfo, GroupInfo, RenderOptions, TemplateContext};
