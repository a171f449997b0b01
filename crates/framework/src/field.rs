//! Declared fields of a route and their types, with Vault's coercions.

use serde_json::Value;

/// The declared type of a field: decides how the raw input is coerced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string; numbers and bools are stringified.
    String,
    /// An integer; numeric strings accepted.
    Int,
    /// A bool; `"true"`, `"1"`, `"t"`... accepted.
    Bool,
    /// A duration in seconds; `"1h30m"`, `"90"`, `90` accepted.
    Duration,
    /// A list of strings; JSON arrays or comma-separated strings.
    StringList,
    /// A map of strings to strings.
    StringMap,
    /// Any JSON value, untouched.
    Any,
}

/// A declared field of a route.
#[derive(Debug, Clone)]
pub struct Field {
    /// The parameter name.
    pub name: &'static str,
    /// Its type.
    pub kind: FieldKind,
    /// The default when absent.
    pub default: Option<Value>,
    /// What it means (help and OpenAPI).
    pub description: &'static str,
}

impl Field {
    fn new(name: &'static str, kind: FieldKind) -> Self {
        Field { name, kind, default: None, description: "" }
    }

    /// A string field.
    pub fn string(name: &'static str) -> Self {
        Field::new(name, FieldKind::String)
    }

    /// An integer field.
    pub fn int(name: &'static str) -> Self {
        Field::new(name, FieldKind::Int)
    }

    /// A bool field.
    pub fn bool(name: &'static str) -> Self {
        Field::new(name, FieldKind::Bool)
    }

    /// A duration field (seconds).
    pub fn duration(name: &'static str) -> Self {
        Field::new(name, FieldKind::Duration)
    }

    /// A list-of-strings field.
    pub fn list(name: &'static str) -> Self {
        Field::new(name, FieldKind::StringList)
    }

    /// A map-of-strings field.
    pub fn map(name: &'static str) -> Self {
        Field::new(name, FieldKind::StringMap)
    }

    /// A field of any JSON type.
    pub fn any(name: &'static str) -> Self {
        Field::new(name, FieldKind::Any)
    }

    /// Sets the default (builder style).
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }

    /// Sets the description (builder style).
    pub fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }
}
