//! The token store (`auth/token/`): tokens are random strings stored only as salted HMACs,
//! with an accessor index, a parent→children index for cascading revocation, and an expiry
//! index so expired tokens are cleaned up without scanning every token.

mod create;
mod entry;
mod roles;
mod routes;
mod store;

pub use create::CreateParams;
pub(crate) use create::RenewalTerms;
pub use entry::TokenEntry;
pub(crate) use routes::backend;
pub use store::{REVOCATION_PENDING, TokenStore};
