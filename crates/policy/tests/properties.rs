//! Property tests of the compiled ACL against a slow, straightforward reference model.
//!
//! Contents:
//! 1. the reference model: pattern matching by walking characters, priority from §14.2 as a
//!    sort key, merging by pattern
//! 2. generators: random policies (patterns from a small alphabet of segments, `+`, trailing
//!    `*`), written as HCL or JSON text and parsed, and random paths
//! 3. properties: deny always wins; a path no rule matches is denied; check and capabilities
//!    agree with the model; the parser never panics on arbitrary input
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use coffer_policy::{Acl, Policy};
use coffer_types::{Map, Operation};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// 1. Reference model
// ---------------------------------------------------------------------------------------------

/// One pattern element: a literal byte, a `+` segment or the trailing `*`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Item {
    Lit(u8),
    Plus,
    Star,
}

fn items(pattern: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let (body, star) = match pattern.strip_suffix('*') {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    for (i, segment) in body.split('/').enumerate() {
        if i > 0 {
            out.push(Item::Lit(b'/'));
        }
        if segment == "+" {
            out.push(Item::Plus);
        } else {
            out.extend(segment.bytes().map(Item::Lit));
        }
    }
    if star {
        out.push(Item::Star);
    }
    out
}

/// Does `pattern` match `path`? `+` stands for one whole segment (possibly empty), a trailing
/// `*` for any suffix.
fn model_matches(pattern: &[Item], path: &[u8]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((Item::Star, _)) => true,
        Some((Item::Lit(c), rest)) => path.first() == Some(c) && model_matches(rest, &path[1..]),
        Some((Item::Plus, rest)) => {
            let end = path.iter().position(|&c| c == b'/').unwrap_or(path.len());
            model_matches(rest, &path[end..])
        }
    }
}

fn is_exact(pattern: &str) -> bool {
    !items(pattern).iter().any(|i| matches!(i, Item::Plus | Item::Star))
}

/// §14.2's ranking as a key; the greatest key wins.
fn priority(pattern: &str) -> (usize, bool, Reverse<usize>, usize, String) {
    let stripped = pattern.strip_suffix('*').unwrap_or(pattern);
    let mut first = stripped.len();
    let mut plus = 0;
    let mut offset = 0;
    for segment in stripped.split('/') {
        if segment == "+" {
            plus += 1;
            first = first.min(offset);
        }
        offset += segment.len() + 1;
    }
    (first, !pattern.ends_with('*'), Reverse(plus), stripped.len(), stripped.to_owned())
}

/// The merged capability names per pattern: union, or `{"deny"}` if any rule denies.
fn merged(
    policies: &[Vec<(String, Vec<&'static str>)>],
) -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut out: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for rules in policies {
        for (pattern, caps) in rules {
            let entry = out.entry(pattern.clone()).or_default();
            if entry.contains("deny") {
                continue;
            }
            if caps.contains(&"deny") {
                *entry = BTreeSet::from(["deny"]);
            } else {
                entry.extend(caps.iter().copied());
            }
        }
    }
    out
}

fn best_glob<'a>(
    rules: &'a BTreeMap<String, BTreeSet<&'static str>>,
    path: &str,
) -> Option<&'a String> {
    rules
        .keys()
        .filter(|p| !is_exact(p) && model_matches(&items(p), path.as_bytes()))
        .max_by_key(|p| priority(p))
}

/// The pattern selected for `path` (leading slashes are not part of a request path).
fn model_select<'a>(
    rules: &'a BTreeMap<String, BTreeSet<&'static str>>,
    path: &str,
    list: bool,
) -> Option<&'a String> {
    let path = path.trim_start_matches('/');
    let exact = |p: &str| rules.keys().find(|k| is_exact(k) && k.as_str() == p);
    if let Some(p) = exact(path) {
        return Some(p);
    }
    if list && let Some(trimmed) = path.strip_suffix('/') {
        if let Some(p) = exact(trimmed).or_else(|| best_glob(rules, trimmed)) {
            return Some(p);
        }
    }
    best_glob(rules, path)
}

fn model_caps(
    rules: &BTreeMap<String, BTreeSet<&'static str>>,
    path: &str,
    list: bool,
) -> BTreeSet<&'static str> {
    model_select(rules, path, list).and_then(|p| rules.get(p)).cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// 2. Generators
// ---------------------------------------------------------------------------------------------

const OPS: [(Operation, &str); 6] = [
    (Operation::Read, "read"),
    (Operation::List, "list"),
    (Operation::Create, "create"),
    (Operation::Update, "update"),
    (Operation::Patch, "patch"),
    (Operation::Delete, "delete"),
];

/// Patterns from a wide alphabet, or from a tight one (`a` and `+` only) where ties on every
/// key but the last (lexicographic order) are frequent.
fn pattern() -> impl Strategy<Value = String> {
    let wide = prop::sample::select(vec!["a", "b", "ab", "+"]);
    let tight = prop::sample::select(vec!["a", "+"]);
    let segments =
        prop_oneof![prop::collection::vec(wide, 1..4), prop::collection::vec(tight, 2..4)];
    let ending = prop::sample::select(vec!["", "*", "/*"]);
    (segments, ending)
        .prop_map(|(segments, ending)| format!("{}{ending}", segments.join("/")))
        .prop_filter("+* is forbidden", |p| !p.contains("+*"))
}

fn capabilities() -> impl Strategy<Value = Vec<&'static str>> {
    let all = vec!["read", "list", "create", "update", "patch", "delete", "sudo", "deny"];
    prop::sample::subsequence(all, 1..4)
}

fn policy_rules() -> impl Strategy<Value = Vec<(String, Vec<&'static str>)>> {
    prop::collection::vec((pattern(), capabilities()), 1..6)
}

fn path() -> impl Strategy<Value = String> {
    let wide = prop::sample::select(vec!["a", "b", "ab", "abc", "x", ""]);
    let tight = prop::sample::select(vec!["a", "b"]);
    let segments =
        prop_oneof![prop::collection::vec(wide, 1..5), prop::collection::vec(tight, 2..5)];
    (segments, any::<bool>()).prop_map(|(segments, slash)| {
        format!("{}{}", segments.join("/"), if slash { "/" } else { "" })
    })
}

/// Writes rules as policy text, HCL or JSON, so that the parser is exercised too.
fn policy_text(rules: &[(String, Vec<&'static str>)], json: bool) -> String {
    let quoted =
        |caps: &[&str]| caps.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ");
    if json {
        // A list of single-entry objects keeps repeated patterns.
        let entries: Vec<_> = rules
            .iter()
            .map(|(p, caps)| format!("{{{p:?}: {{\"capabilities\": [{}]}}}}", quoted(caps)))
            .collect();
        format!("{{\"path\": [{}]}}", entries.join(", "))
    } else {
        rules
            .iter()
            .map(|(p, caps)| format!("path {p:?} {{\n  capabilities = [{}]\n}}\n", quoted(caps)))
            .collect()
    }
}

fn compile(policies: &[Vec<(String, Vec<&'static str>)>], json: bool) -> Acl {
    let parsed: Vec<Policy> = policies
        .iter()
        .enumerate()
        .map(|(i, rules)| {
            Policy::parse(format!("p{i}"), &policy_text(rules, json))
                .expect("generated policy parses")
        })
        .collect();
    Acl::new(&parsed)
}

// ---------------------------------------------------------------------------------------------
// 3. Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn deny_always_wins(policies in prop::collection::vec(policy_rules(), 1..4), path in path(), json in any::<bool>()) {
        let acl = compile(&policies, json);
        let rules = merged(&policies);
        for (op, _) in OPS {
            let Some(selected) = model_select(&rules, &path, op == Operation::List) else { continue };
            let denies = policies.iter().flatten().any(|(p, caps)| p == selected && caps.contains(&"deny"));
            if denies {
                let d = acl.check(&path, op, &Map::new());
                prop_assert!(!d.allowed && !d.sudo, "{path} {op:?} via {selected}");
            }
        }
    }

    #[test]
    fn unmatched_paths_are_denied(policies in prop::collection::vec(policy_rules(), 1..4), path in path()) {
        let acl = compile(&policies, false);
        let path = path.trim_start_matches('/');
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let any_match = policies.iter().flatten().any(|(p, _)| {
            let items = items(p);
            model_matches(&items, path.as_bytes()) || model_matches(&items, trimmed.as_bytes())
        });
        if !any_match {
            for (op, _) in OPS {
                prop_assert!(!acl.check(path, op, &Map::new()).allowed);
            }
            prop_assert_eq!(acl.capability_names_for(path), vec!["deny"]);
        }
    }

    #[test]
    fn parsing_never_panics(text in "[ -~\\n]{0,200}") {
        let _ = Policy::parse("fuzz", &text);
    }
}

proptest! {
    // Ties broken by length or lexicographic order need several thousand cases to show up.
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn agrees_with_the_reference_model(
        policies in prop::collection::vec(policy_rules(), 1..4),
        paths in prop::collection::vec(path(), 1..8),
        json in any::<bool>(),
    ) {
        let acl = compile(&policies, json);
        let rules = merged(&policies);
        for path in &paths {
            for (op, name) in OPS {
                let caps = model_caps(&rules, path, op == Operation::List);
                let want = caps.contains(name) && !caps.contains("deny");
                let d = acl.check(path, op, &Map::new());
                prop_assert_eq!(d.allowed, want, "{} {:?} model {:?} got {:?}", path, op, caps, d);
                prop_assert_eq!(d.sudo, caps.contains("sudo"));
            }
            let caps = model_caps(&rules, path, true);
            let want: Vec<&str> = if caps.is_empty() || caps.contains("deny") {
                vec!["deny"]
            } else {
                caps.into_iter().collect()
            };
            prop_assert_eq!(acl.capability_names_for(path), want, "{}", path);
        }
    }
}

proptest! {
    #[test]
    fn parsing_policy_like_text_never_panics(
        pieces in prop::collection::vec(
            prop::sample::select(vec![
                "path", "\"a/*\"", "{", "}", "[", "]", "=", ",", "capabilities", "\"read\"",
                "allowed_parameters", "policy", "\"write\"", "\n", " ", "#", "//", "/*", "*/",
                "\"", ":", "<<EOF", "{{identity.entity.id}}", "+", "é",
            ]),
            0..40,
        ),
    ) {
        let text: String = pieces.concat();
        if let Ok(policy) = Policy::parse("fuzz", &text) {
            let acl = Acl::new(&[policy]);
            let _ = acl.check("a/b", Operation::Read, &Map::new());
        }
    }
}
