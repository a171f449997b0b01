//! Capabilities: the verbs a policy grants on a path, kept as a bitset so that merging rules
//! from several policies is an `|` and a check is an `&`.

use std::fmt;

use coffer_types::Operation;

/// One capability a path rule can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Write to a path that does not exist yet (POST/PUT on a create-aware backend).
    Create,
    /// GET.
    Read,
    /// POST/PUT on an existing item; also renew and revoke operations.
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// LIST.
    List,
    /// Access to root-protected paths, in addition to the operation's capability.
    Sudo,
    /// Explicit denial: wins over every other capability on the same rule.
    Deny,
    /// OpenBao's `scan` (recursive list). Accepted and reported; no Coffer operation needs it.
    Scan,
}

/// What a capability name in policy text means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParsedCapability {
    /// A capability Coffer knows.
    Known(Capability),
    /// A name only Vault knows (`subscribe`, `recover`): accepted so that Vault-authored
    /// policies load, and ignored.
    VaultOnly,
}

/// Names Vault accepts that OpenBao and Coffer do not implement.
const VAULT_ONLY: &[&str] = &["subscribe", "recover"];

impl Capability {
    /// Every capability, in the order Vault sorts their names (alphabetical).
    pub const ALL: [Capability; 9] = [
        Capability::Create,
        Capability::Delete,
        Capability::Deny,
        Capability::List,
        Capability::Patch,
        Capability::Read,
        Capability::Scan,
        Capability::Sudo,
        Capability::Update,
    ];

    /// The name used in policy text and in `sys/capabilities` responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
            Capability::Scan => "scan",
        }
    }

    /// The capability an operation needs.
    pub fn for_operation(op: Operation) -> Capability {
        match op {
            Operation::Read => Capability::Read,
            Operation::List => Capability::List,
            Operation::Create => Capability::Create,
            Operation::Update => Capability::Update,
            Operation::Patch => Capability::Patch,
            Operation::Delete => Capability::Delete,
        }
    }

    /// Parses a capability name as written in a policy (exact, lower-case, like Vault).
    pub(crate) fn parse(name: &str) -> Option<ParsedCapability> {
        let cap = match name {
            "create" => Capability::Create,
            "read" => Capability::Read,
            "update" => Capability::Update,
            "patch" => Capability::Patch,
            "delete" => Capability::Delete,
            "list" => Capability::List,
            "sudo" => Capability::Sudo,
            "deny" => Capability::Deny,
            "scan" => Capability::Scan,
            other if VAULT_ONLY.contains(&other) => return Some(ParsedCapability::VaultOnly),
            _ => return None,
        };
        Some(ParsedCapability::Known(cap))
    }

    const fn bit(self) -> u16 {
        match self {
            Capability::Deny => 1,
            Capability::Create => 1 << 1,
            Capability::Read => 1 << 2,
            Capability::Update => 1 << 3,
            Capability::Delete => 1 << 4,
            Capability::List => 1 << 5,
            Capability::Sudo => 1 << 6,
            Capability::Patch => 1 << 7,
            Capability::Scan => 1 << 8,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of capabilities.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u16);

impl Capabilities {
    /// The empty set: nothing granted.
    pub const NONE: Capabilities = Capabilities(0);
    /// Only `deny`.
    pub const DENY: Capabilities = Capabilities(Capability::Deny.bit());
    /// Everything except `deny` (what the root policy amounts to).
    pub const ALL: Capabilities = Capabilities(
        Capability::Create.bit()
            | Capability::Read.bit()
            | Capability::Update.bit()
            | Capability::Patch.bit()
            | Capability::Delete.bit()
            | Capability::List.bit()
            | Capability::Sudo.bit()
            | Capability::Scan.bit(),
    );

    /// The raw bits (stable only within one build; for hashing and debugging).
    pub fn bits(self) -> u16 {
        self.0
    }

    /// Whether `cap` is in the set.
    pub fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Whether nothing is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the set contains `deny` (which then overrides everything else).
    pub fn is_deny(self) -> bool {
        self.contains(Capability::Deny)
    }

    /// Whether the set grants anything: not empty and not `deny`.
    pub fn grants_anything(self) -> bool {
        !self.is_empty() && !self.is_deny()
    }

    /// Adds one capability.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// The union of two sets.
    pub fn union(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }

    /// The members, in the order Vault prints them in `sys/capabilities` (alphabetical).
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// The member names, sorted as Vault prints them.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Capability::as_str).collect()
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = Capabilities::NONE;
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

impl From<Capability> for Capabilities {
    fn from(cap: Capability) -> Self {
        Capabilities(cap.bit())
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Capability::as_str)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_like_vault_prints_them() {
        let caps: Capabilities = [
            Capability::Update,
            Capability::Sudo,
            Capability::Read,
            Capability::Create,
            Capability::List,
        ]
        .into_iter()
        .collect();
        assert_eq!(caps.names(), ["create", "list", "read", "sudo", "update"]);
        let mut sorted = Capabilities::ALL.names();
        sorted.sort_unstable();
        assert_eq!(Capabilities::ALL.names(), sorted);
    }

    #[test]
    fn parse_accepts_vault_only_names_and_rejects_typos() {
        assert_eq!(Capability::parse("read"), Some(ParsedCapability::Known(Capability::Read)));
        assert_eq!(Capability::parse("subscribe"), Some(ParsedCapability::VaultOnly));
        assert_eq!(Capability::parse("recover"), Some(ParsedCapability::VaultOnly));
        assert_eq!(Capability::parse("raed"), None);
        assert_eq!(Capability::parse("READ"), None);
        assert_eq!(Capability::parse("root"), None);
    }

    #[test]
    fn every_capability_round_trips_through_its_name() {
        for cap in Capability::ALL {
            assert_eq!(Capability::parse(cap.as_str()), Some(ParsedCapability::Known(cap)));
        }
    }

    #[test]
    fn deny_and_empty_grant_nothing() {
        assert!(!Capabilities::NONE.grants_anything());
        assert!(!Capabilities::DENY.grants_anything());
        assert!(Capabilities::from(Capability::List).grants_anything());
        assert!(!Capabilities::ALL.contains(Capability::Deny));
        assert!(Capabilities::ALL.contains(Capability::Sudo));
    }

    #[test]
    fn operations_map_to_their_capability() {
        assert_eq!(Capability::for_operation(Operation::Read), Capability::Read);
        assert_eq!(Capability::for_operation(Operation::List), Capability::List);
        assert_eq!(Capability::for_operation(Operation::Create), Capability::Create);
        assert_eq!(Capability::for_operation(Operation::Update), Capability::Update);
        assert_eq!(Capability::for_operation(Operation::Patch), Capability::Patch);
        assert_eq!(Capability::for_operation(Operation::Delete), Capability::Delete);
    }
}
