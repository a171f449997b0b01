//! The identity store: one entity per person or service, found or created at each login from
//! the (auth mount, alias name) pair, so that tokens carry an `entity_id` and templated policies
//! (`{{identity.entity.id}}`, `{{identity.entity.aliases.<accessor>.name}}`) can give every
//! service its own paths. `identity/` creates, changes and deletes entities (name, metadata,
//! policies their tokens also carry, disabled), their aliases, and groups of entities whose
//! policies their members' tokens carry too.

mod groups;
mod routes;
mod store;

pub(crate) use routes::backend;
pub use store::{Alias, Entity, IdentityStore};
