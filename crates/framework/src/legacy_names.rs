//! Vault's legacy names of token settings (`policies`, `ttl`, `max_ttl`, `period`,
//! `num_uses`, `bound_cidrs`, from before the `token_` fields): a write may use them in
//! place of the current names, and a read echoes a legacy name, with the current value, only
//! when the role was set through it and the setting is still set. hvac, for one, writes
//! Kubernetes roles with `policies`, `ttl` and `max_ttl`.

use coffer_types::Map;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Req;
use crate::token_fields::TokenFields;

/// Every legacy name and the current name it stands for.
const NAMES: &[(&str, &str)] = &[
    ("policies", "token_policies"),
    ("ttl", "token_ttl"),
    ("max_ttl", "token_max_ttl"),
    ("period", "token_period"),
    ("num_uses", "token_num_uses"),
    ("bound_cidrs", "token_bound_cidrs"),
];

/// The legacy names a stored role was set through (stored with the role).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LegacyNames(Vec<String>);

impl LegacyNames {
    /// Before [`TokenFields::update`]: copies each legacy name of `accepted` that `req`
    /// carries onto its current name and remembers it. When the current name is given, it
    /// wins and the legacy name is forgotten, as the reference does.
    pub fn upgrade(&mut self, req: &mut Req, accepted: &[&str]) {
        for (legacy, current) in NAMES.iter().filter(|(l, _)| accepted.contains(l)) {
            if req.has(current) {
                self.0.retain(|l| l != legacy);
                continue;
            }
            let Some(value) = req.inner.data.get(*legacy).cloned() else { continue };
            req.inner.data.insert((*current).to_string(), value);
            if !self.0.iter().any(|l| l == legacy) {
                self.0.push((*legacy).to_string());
            }
        }
    }

    /// Remembers `legacy` as used (a method's own alias, such as cert's `lease` for `ttl`).
    pub fn mark(&mut self, legacy: &str) {
        if !self.0.iter().any(|l| l == legacy) {
            self.0.push(legacy.to_string());
        }
    }

    /// After [`TokenFields::update`]: forgets the names whose setting is no longer set.
    pub fn retain_in_use(&mut self, token: &TokenFields) {
        self.0.retain(|legacy| match legacy.as_str() {
            "policies" => !token.policies.is_empty(),
            "ttl" => token.ttl > 0,
            "max_ttl" => token.max_ttl > 0,
            "period" => token.period > 0,
            "num_uses" => token.num_uses > 0,
            "bound_cidrs" => !token.bound_cidrs.is_empty(),
            _ => false,
        });
    }

    /// Adds the remembered legacy names to a read, with the current values.
    pub fn echo(&self, token: &TokenFields, out: &mut Map) {
        for legacy in &self.0 {
            let value = match legacy.as_str() {
                "policies" => json!(token.policies),
                "ttl" => json!(token.ttl),
                "max_ttl" => json!(token.max_ttl),
                "period" => json!(token.period),
                "num_uses" => json!(token.num_uses),
                "bound_cidrs" => json!(token.bound_cidrs),
                _ => continue,
            };
            out.insert(legacy.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_only_names_in_use() {
        let mut names = LegacyNames(vec!["policies".into(), "ttl".into(), "max_ttl".into()]);
        let token = TokenFields { policies: vec!["a".into()], ttl: 60, ..TokenFields::default() };
        names.retain_in_use(&token);
        let mut out = Map::new();
        names.echo(&token, &mut out);
        assert_eq!(serde_json::Value::Object(out), json!({"policies": ["a"], "ttl": 60}));
        names.mark("ttl");
        names.mark("period");
        assert_eq!(names.0, ["policies", "ttl", "period"]);
    }
}
