//! Identity templates in path patterns (§14.4): `{{identity.entity.id}}` and friends, rendered
//! per token against its entity. A rule whose template cannot be resolved is dropped, as in
//! Vault; so is one whose substituted value would smuggle in wildcards or extra segments,
//! unless the policy allows them.

use std::collections::HashMap;

use crate::{PathRule, Policy, PolicyError};

/// What templates can refer to: the token's entity, its aliases and its groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateContext {
    /// The entity's id; empty when the token has no entity (every `identity.entity.*`
    /// template is then unresolvable).
    pub entity_id: String,
    /// The entity's name.
    pub entity_name: String,
    /// The entity's metadata.
    pub entity_metadata: HashMap<String, String>,
    /// The entity's aliases, by mount accessor.
    pub aliases: HashMap<String, AliasInfo>,
    /// The groups the entity belongs to.
    pub groups: Vec<GroupInfo>,
}

/// One alias of an entity (one login identity on one auth mount).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AliasInfo {
    /// The alias id.
    pub id: String,
    /// The alias name (AppRole role_id, JWT user claim, ...).
    pub name: String,
    /// Metadata set by the auth method at login.
    pub metadata: HashMap<String, String>,
    /// Metadata set by operators.
    pub custom_metadata: HashMap<String, String>,
}

/// A group the entity is a member of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group id.
    pub id: String,
    /// The group name.
    pub name: String,
    /// The group's metadata.
    pub metadata: HashMap<String, String>,
}

/// Per-policy switches (`allow_*_in_identity_templates` on `sys/policies/acl/:name`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Let substituted values contain `*` and `+`.
    pub allow_wildcards: bool,
    /// Let substituted values contain `/`.
    pub allow_slashes: bool,
}

impl Policy {
    /// Renders templated patterns for one entity with the default (strict) options.
    pub fn render(&self, ctx: &TemplateContext) -> Policy {
        self.render_with(ctx, RenderOptions::default())
    }

    /// Renders templated patterns; rules that cannot be resolved are dropped.
    pub fn render_with(&self, ctx: &TemplateContext, opts: RenderOptions) -> Policy {
        let paths = self
            .paths
            .iter()
            .filter_map(|rule| {
                if !rule.is_templated() {
                    return Some(rule.clone());
                }
                let rendered = render_str(&rule.pattern, ctx, opts)?;
                let pattern = rendered.strip_prefix('/').unwrap_or(&rendered);
                if pattern.contains("+*") {
                    return None;
                }
                Some(PathRule { pattern: pattern.to_owned(), ..rule.clone() })
            })
            .collect();
        Policy {
            name: self.name.clone(),
            raw: self.raw.clone(),
            paths,
            warnings: self.warnings.clone(),
        }
    }
}

/// Checks that `{{` and `}}` are balanced (Vault's validity check at parse time).
pub(crate) fn validate(s: &str) -> Result<(), PolicyError> {
    let mut pieces = s.split("{{");
    if pieces.next().is_some_and(|head| head.contains("}}")) {
        return Err(PolicyError::UnbalancedTemplate);
    }
    if pieces.all(|piece| piece.split("}}").count() == 2) {
        Ok(())
    } else {
        Err(PolicyError::UnbalancedTemplate)
    }
}

/// Substitutes every `{{...}}` in `s`; `None` when one cannot be resolved or is not allowed.
pub(crate) fn render_str(s: &str, ctx: &TemplateContext, opts: RenderOptions) -> Option<String> {
    let mut pieces = s.split("{{");
    let mut out = String::with_capacity(s.len() + 32);
    out.push_str(pieces.next()?);
    for piece in pieces {
        let (expr, tail) = piece.split_once("}}")?;
        let value = resolve(expr.trim(), ctx)?;
        if value.is_empty()
            || (!opts.allow_wildcards && value.contains(['*', '+']))
            || (!opts.allow_slashes && value.contains('/'))
            || value.contains("{{")
        {
            return None;
        }
        out.push_str(value);
        out.push_str(tail);
    }
    Some(out)
}

fn resolve<'a>(expr: &str, ctx: &'a TemplateContext) -> Option<&'a str> {
    if let Some(rest) = expr.strip_prefix("identity.entity.") {
        if ctx.entity_id.is_empty() {
            return None;
        }
        return match rest {
            "id" => Some(&ctx.entity_id),
            "name" => Some(&ctx.entity_name),
            _ => {
                if let Some(key) = rest.strip_prefix("metadata.") {
                    return ctx.entity_metadata.get(key).map(String::as_str);
                }
                let (accessor, field) = rest.strip_prefix("aliases.")?.split_once('.')?;
                let alias = ctx.aliases.get(accessor)?;
                match field {
                    "id" => Some(&alias.id),
                    "name" => Some(&alias.name),
                    _ => field
                        .strip_prefix("metadata.")
                        .map(|k| alias.metadata.get(k))
                        .or_else(|| {
                            field
                                .strip_prefix("custom_metadata.")
                                .map(|k| alias.custom_metadata.get(k))
                        })
                        .flatten()
                        .map(String::as_str),
                }
            }
        };
    }
    let rest = expr.strip_prefix("identity.groups.")?;
    let (by_id, rest) = match rest.split_once('.')? {
        ("ids", rest) => (true, rest),
        ("names", rest) => (false, rest),
        _ => return None,
    };
    let (selector, field) = rest.split_once('.')?;
    let group =
        ctx.groups.iter().find(|g| if by_id { g.id == selector } else { g.name == selector })?;
    match field {
        "id" => Some(&group.id),
        "name" => Some(&group.name),
        _ => group.metadata.get(field.strip_prefix("metadata.")?).map(String::as_str),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capabilities;

    fn ctx() -> TemplateContext {
        let alias = AliasInfo {
            id: "alias-1".into(),
            name: "web".into(),
            metadata: HashMap::from([("role".into(), "frontend".into())]),
            custom_metadata: HashMap::from([("team".into(), "blue".into())]),
        };
        TemplateContext {
            entity_id: "ent-1".into(),
            entity_name: "alice".into(),
            entity_metadata: HashMap::from([
                ("env".into(), "prod".into()),
                ("path".into(), "a/b".into()),
            ]),
            aliases: HashMap::from([("auth_approle_1".into(), alias)]),
            groups: vec![GroupInfo {
                id: "grp-1".into(),
                name: "ops".into(),
                metadata: HashMap::from([("tier".into(), "gold".into())]),
            }],
        }
    }

    fn render(s: &str) -> Option<String> {
        render_str(s, &ctx(), RenderOptions::default())
    }

    #[test]
    fn renders_every_documented_form() {
        assert_eq!(render("a/{{identity.entity.id}}/b").as_deref(), Some("a/ent-1/b"));
        assert_eq!(render("{{ identity.entity.name }}").as_deref(), Some("alice"));
        assert_eq!(render("{{identity.entity.metadata.env}}").as_deref(), Some("prod"));
        assert_eq!(
            render("{{identity.entity.aliases.auth_approle_1.id}}").as_deref(),
            Some("alias-1")
        );
        assert_eq!(
            render("{{identity.entity.aliases.auth_approle_1.name}}").as_deref(),
            Some("web")
        );
        assert_eq!(
            render("{{identity.entity.aliases.auth_approle_1.metadata.role}}").as_deref(),
            Some("frontend")
        );
        assert_eq!(
            render("{{identity.entity.aliases.auth_approle_1.custom_metadata.team}}").as_deref(),
            Some("blue")
        );
        assert_eq!(render("{{identity.groups.ids.grp-1.name}}").as_deref(), Some("ops"));
        assert_eq!(render("{{identity.groups.names.ops.id}}").as_deref(), Some("grp-1"));
        assert_eq!(render("{{identity.groups.names.ops.metadata.tier}}").as_deref(), Some("gold"));
        assert_eq!(render("{{identity.groups.ids.grp-1.metadata.tier}}").as_deref(), Some("gold"));
        assert_eq!(
            render("x/{{identity.entity.id}}/{{identity.entity.name}}").as_deref(),
            Some("x/ent-1/alice")
        );
    }

    #[test]
    fn unresolvable_templates_yield_none() {
        assert_eq!(render("{{identity.entity.metadata.missing}}"), None);
        assert_eq!(render("{{identity.entity.aliases.other.name}}"), None);
        assert_eq!(render("{{identity.groups.names.devs.id}}"), None);
        assert_eq!(render("{{identity.entity.groups.names}}"), None);
        assert_eq!(render("{{time.now}}"), None);
        assert_eq!(
            render_str(
                "{{identity.entity.id}}",
                &TemplateContext::default(),
                RenderOptions::default()
            ),
            None
        );
    }

    #[test]
    fn slashes_and_wildcards_need_permission() {
        assert_eq!(render("{{identity.entity.metadata.path}}"), None);
        let opts = RenderOptions { allow_slashes: true, ..RenderOptions::default() };
        assert_eq!(
            render_str("{{identity.entity.metadata.path}}", &ctx(), opts).as_deref(),
            Some("a/b")
        );
        let mut wild = ctx();
        wild.entity_name = "a*".into();
        assert_eq!(render_str("{{identity.entity.name}}", &wild, RenderOptions::default()), None);
        let opts = RenderOptions { allow_wildcards: true, ..RenderOptions::default() };
        assert_eq!(render_str("{{identity.entity.name}}", &wild, opts).as_deref(), Some("a*"));
    }

    #[test]
    fn validation_catches_unbalanced_braces() {
        assert!(validate("a/{{identity.entity.id}}").is_ok());
        assert!(validate("plain/path").is_ok());
        assert!(validate("a/{{identity.entity.id").is_err());
        assert!(validate("a/}}x").is_err());
        assert!(validate("a/{{x}}}}").is_err());
    }

    #[test]
    fn render_drops_unresolvable_rules() {
        let policy = Policy::from_rules(
            "p",
            vec![
                PathRule::new("kv/data/{{identity.entity.name}}/*", Capabilities::ALL),
                PathRule::new("kv/data/{{identity.entity.metadata.nope}}", Capabilities::ALL),
                PathRule::new("static", Capabilities::ALL),
            ],
        );
        assert!(policy.is_templated());
        let rendered = policy.render(&ctx());
        let patterns: Vec<_> = rendered.paths.iter().map(|r| r.pattern.as_str()).collect();
        assert_eq!(patterns, ["kv/data/alice/*", "static"]);
        assert!(!rendered.is_templated());
    }
}
