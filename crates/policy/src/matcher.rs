//! The compiled path matcher: given a request path, which (merged) rule applies (§14.2).
//!
//! Patterns come in three kinds, each in its own structure:
//! - **exact** (no trailing `*`, no `+` segment): a `HashMap`, O(|path|) per lookup;
//! - **prefix** (trailing `*`, no `+` segment): a byte trie giving the longest matching prefix
//!   in O(|path|); among prefix globs the longest always has the highest priority, so it is
//!   the only prefix candidate;
//! - **segment** (a `+` segment, maybe a trailing `*`): bucketed by their first segment (a
//!   literal, or `+`); a lookup tests the bucket of the path's first segment plus the `+`
//!   bucket, each test O(segments) without allocating.
//!
//! Priority among non-exact matches, highest first (Vault's order): the first wildcard (`+`
//! or `*`) at a later position; not ending in `*`; fewer `+` segments; longer pattern;
//! lexicographically greater. A `+` is a wildcard only as a whole segment (`a/+b` is
//! literal); a `*` only at the end (elsewhere it is literal, as in Vault).

use std::cmp::Reverse;
use std::collections::HashMap;

/// The kind of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Matches one path exactly.
    Exact,
    /// A trailing `*`: matches every path starting with the rest.
    Prefix,
    /// Has `+` segments (and maybe a trailing `*`).
    Segments,
}

/// A pattern with what matching and ranking need, computed once.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// The pattern without its trailing `*` (when it has one).
    stripped: String,
    kind: Kind,
    is_prefix: bool,
    /// Segments of `stripped`; filled for `Kind::Segments` only.
    segments: Vec<String>,
    /// Byte position of the first wildcard (`+` segment or trailing `*`).
    first_wildcard: usize,
    /// Number of `+` segments.
    wildcards: usize,
}

impl Pattern {
    pub(crate) fn compile(pattern: &str) -> Pattern {
        let (stripped, is_prefix) = match pattern.strip_suffix('*') {
            Some(rest) => (rest, true),
            None => (pattern, false),
        };
        let mut first_plus = None;
        let mut wildcards = 0;
        let mut offset = 0;
        for segment in stripped.split('/') {
            if segment == "+" {
                wildcards += 1;
                first_plus.get_or_insert(offset);
            }
            offset += segment.len() + 1;
        }
        let kind = match (wildcards, is_prefix) {
            (0, false) => Kind::Exact,
            (0, true) => Kind::Prefix,
            _ => Kind::Segments,
        };
        let segments = if kind == Kind::Segments {
            stripped.split('/').map(str::to_owned).collect()
        } else {
            Vec::new()
        };
        Pattern {
            stripped: stripped.to_owned(),
            kind,
            is_prefix,
            segments,
            first_wildcard: first_plus.unwrap_or(stripped.len()),
            wildcards,
        }
    }

    /// Whether a non-exact pattern matches `path` (Vault's segment-wildcard algorithm).
    fn segments_match(&self, path: &str) -> bool {
        let mut parts = path.split('/');
        let last = self.segments.len().saturating_sub(1);
        for (i, segment) in self.segments.iter().enumerate() {
            let Some(part) = parts.next() else { return false };
            let ok = segment == "+"
                || segment == part
                || (self.is_prefix && i == last && part.starts_with(segment.as_str()));
            if !ok {
                return false;
            }
        }
        self.is_prefix || parts.next().is_none()
    }

    /// Whether the pattern could match some path inside `mount` (given without its trailing
    /// `/`), or the mount path itself: Vault's "bare mount" check.
    fn could_match_under(&self, mount: &str) -> bool {
        let mut parts = mount.split('/');
        let last = self.segments.len().saturating_sub(1);
        for (i, segment) in self.segments.iter().enumerate() {
            let Some(part) = parts.next() else { return true };
            if self.is_prefix && i == last {
                return part.starts_with(segment.as_str());
            }
            if segment != "+" && segment != part {
                return false;
            }
        }
        parts.next().is_none()
    }

    /// The ranking key: a greater key has a higher priority.
    fn priority(&self) -> (usize, bool, Reverse<usize>, usize, &str) {
        (
            self.first_wildcard,
            !self.is_prefix,
            Reverse(self.wildcards),
            self.stripped.len(),
            &self.stripped,
        )
    }
}

/// A byte trie of prefix patterns, for longest-prefix lookups.
#[derive(Debug, Clone, Default)]
struct Trie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    /// Children sorted by byte.
    children: Vec<(u8, usize)>,
    value: Option<usize>,
}

impl Trie {
    fn insert(&mut self, key: &[u8], value: usize) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut node = 0;
        for &byte in key {
            let next_free = self.nodes.len();
            let Some(current) = self.nodes.get_mut(node) else { return };
            node = match current.children.binary_search_by_key(&byte, |&(b, _)| b) {
                Ok(pos) => current.children.get(pos).map_or(0, |&(_, child)| child),
                Err(pos) => {
                    current.children.insert(pos, (byte, next_free));
                    self.nodes.push(TrieNode::default());
                    next_free
                }
            };
        }
        if let Some(current) = self.nodes.get_mut(node) {
            current.value = Some(value);
        }
    }

    fn longest_prefix(&self, key: &[u8]) -> Option<usize> {
        let mut node = self.nodes.first()?;
        let mut best = node.value;
        for &byte in key {
            let Ok(pos) = node.children.binary_search_by_key(&byte, |&(b, _)| b) else { break };
            let Some(child) = node.children.get(pos).and_then(|&(_, child)| self.nodes.get(child))
            else {
                break;
            };
            node = child;
            best = node.value.or(best);
        }
        best
    }
}

/// Finds the rule for a path. Rule ids are indexes into the pattern list given to `new`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Matcher {
    patterns: Vec<Pattern>,
    exact: HashMap<String, usize>,
    prefixes: Trie,
    /// Segment rules whose first segment is a literal, by that literal.
    by_first_segment: HashMap<String, Vec<usize>>,
    /// Segment rules whose first segment is `+`.
    plus_first: Vec<usize>,
    /// Exact and prefix rules by their stripped pattern, sorted, for range scans.
    sorted_plain: Vec<(String, usize)>,
}

impl Matcher {
    /// Compiles distinct patterns; rule `i` is `patterns[i]`.
    pub(crate) fn new<S: AsRef<str>>(patterns: &[S]) -> Matcher {
        let mut m = Matcher::default();
        for (id, pattern) in patterns.iter().enumerate() {
            let compiled = Pattern::compile(pattern.as_ref());
            match compiled.kind {
                Kind::Exact => {
                    m.exact.insert(compiled.stripped.clone(), id);
                }
                Kind::Prefix => m.prefixes.insert(compiled.stripped.as_bytes(), id),
                Kind::Segments => match compiled.segments.first().map(String::as_str) {
                    Some("+") | None => m.plus_first.push(id),
                    Some(first) => m.by_first_segment.entry(first.to_owned()).or_default().push(id),
                },
            }
            if compiled.kind != Kind::Segments {
                m.sorted_plain.push((compiled.stripped.clone(), id));
            }
            m.patterns.push(compiled);
        }
        m.sorted_plain.sort_unstable();
        m
    }

    /// The rule applying to `path` (no leading `/`), following Vault's order: exact match; for
    /// lists the exact match without the trailing `/`, then the best glob for the path without
    /// it; then the best glob for the path.
    pub(crate) fn lookup(&self, path: &str, list: bool) -> Option<usize> {
        if let Some(&id) = self.exact.get(path) {
            return Some(id);
        }
        if list && let Some(trimmed) = path.strip_suffix('/') {
            if let Some(&id) = self.exact.get(trimmed) {
                return Some(id);
            }
            if let Some(id) = self.best_glob(trimmed) {
                return Some(id);
            }
        }
        self.best_glob(path)
    }

    /// The highest-priority prefix or segment pattern matching `path`.
    fn best_glob(&self, path: &str) -> Option<usize> {
        let mut best = self.prefixes.longest_prefix(path.as_bytes());
        let first = path.split('/').next().unwrap_or_default();
        let bucket = self.by_first_segment.get(first).map(Vec::as_slice).unwrap_or_default();
        for &id in bucket.iter().chain(&self.plus_first) {
            let Some(candidate) = self.patterns.get(id) else { continue };
            if !candidate.segments_match(path) {
                continue;
            }
            let beats = best
                .and_then(|b| self.patterns.get(b))
                .is_none_or(|b| candidate.priority() > b.priority());
            if beats {
                best = Some(id);
            }
        }
        best
    }

    /// Rules that may apply somewhere inside `mount` (which ends with `/`): exact and prefix
    /// patterns starting with it, and segment patterns compatible with its segments.
    pub(crate) fn rules_under<'a>(&'a self, mount: &'a str) -> impl Iterator<Item = usize> + 'a {
        let start = self.sorted_plain.partition_point(|(key, _)| key.as_str() < mount);
        let plain = self
            .sorted_plain
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(move |(key, _)| key.starts_with(mount))
            .map(|&(_, id)| id);
        let trimmed = mount.strip_suffix('/').unwrap_or(mount);
        let segmented = self
            .patterns
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.kind == Kind::Segments && p.could_match_under(trimmed))
            .map(|(id, _)| id);
        plain.chain(segmented)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str]) -> Matcher {
        Matcher::new(patterns)
    }

    fn winner<'a>(patterns: &[&'a str], path: &str) -> Option<&'a str> {
        matcher(patterns).lookup(path, false).and_then(|id| patterns.get(id).copied())
    }

    #[test]
    fn kinds() {
        assert_eq!(Pattern::compile("a/b").kind, Kind::Exact);
        assert_eq!(Pattern::compile("a/*").kind, Kind::Prefix);
        assert_eq!(Pattern::compile("*").kind, Kind::Prefix);
        assert_eq!(Pattern::compile("a/+/b").kind, Kind::Segments);
        assert_eq!(Pattern::compile("+").kind, Kind::Segments);
        assert_eq!(Pattern::compile("a/+/b*").kind, Kind::Segments);
        assert_eq!(Pattern::compile("a/+b").kind, Kind::Exact);
        assert_eq!(Pattern::compile("a/*/b").kind, Kind::Exact);
    }

    #[test]
    fn exact_beats_globs() {
        assert_eq!(winner(&["a/*", "a/b", "+/b"], "a/b"), Some("a/b"));
    }

    #[test]
    fn contract_example() {
        let set = [
            "secret/data/*",
            "secret/data/a/*",
            "secret/data/a/b",
            "secret/data/+/c",
            "secret/data/x*",
            "secret/data/xy/+",
        ];
        let cases = [
            ("secret/data/z", "secret/data/*"),
            ("secret/data/a/q", "secret/data/a/*"),
            ("secret/data/a/b", "secret/data/a/b"),
            ("secret/data/a/c", "secret/data/a/*"),
            ("secret/data/q/c", "secret/data/+/c"),
            ("secret/data/xy/z", "secret/data/xy/+"),
            ("secret/data/xyz", "secret/data/x*"),
            ("secret/data/a", "secret/data/*"),
        ];
        for (path, want) in cases {
            assert_eq!(winner(&set, path), Some(want), "{path}");
        }
    }

    #[test]
    fn priority_rules_in_order() {
        // Later first wildcard wins.
        assert_eq!(winner(&["foo/+", "foo/a*"], "foo/ab"), Some("foo/a*"));
        assert_eq!(
            winner(&["foo/+/bar/baz", "foo/bar/+/baz"], "foo/bar/bar/baz"),
            Some("foo/bar/+/baz")
        );
        // Not ending in `*` beats ending in `*`.
        assert_eq!(winner(&["foo/+/bar", "foo/+/ba*"], "foo/x/bar"), Some("foo/+/bar"));
        assert_eq!(winner(&["foo/*", "foo/+"], "foo/x"), Some("foo/+"));
        // Fewer `+` wins.
        assert_eq!(winner(&["foo/+/+/baz", "foo/+/x/baz"], "foo/a/x/baz"), Some("foo/+/x/baz"));
        // Longer wins.
        assert_eq!(
            winner(&["foo/+/bar/b*", "foo/+/bar/ba*"], "foo/x/bar/baz"),
            Some("foo/+/bar/ba*")
        );
        // Lexicographically greater wins.
        assert_eq!(winner(&["+/+/a", "+/a/+"], "x/a/a"), Some("+/a/+"));
        assert_eq!(winner(&["+/a/+", "+/+/a"], "x/a/a"), Some("+/a/+"));
    }

    #[test]
    fn segment_matching() {
        let m = |p: &str, path: &str| Pattern::compile(p).segments_match(path);
        assert!(m("a/+/c", "a/b/c"));
        assert!(!m("a/+/c", "a/b/c/d"));
        assert!(!m("a/+/c", "a/c"));
        assert!(m("a/+", "a/"), "+ matches an empty segment");
        assert!(m("a/+/*", "a/b/"));
        assert!(m("a/+/*", "a/b/c/d"));
        assert!(!m("a/+/*", "a/b"));
        assert!(m("a/+/c*", "a/b/cd/e"));
        assert!(!m("a/+/c*", "a/b/dc"));
        assert!(m("+", "x"));
        assert!(!m("+", "x/y"));
    }

    #[test]
    fn list_tries_the_path_without_its_slash_first() {
        let patterns = ["secret/foo", "secret/foo/*"];
        let m = matcher(&patterns);
        assert_eq!(m.lookup("secret/foo/", true), Some(0));
        assert_eq!(m.lookup("secret/foo/", false), Some(1));
        let patterns = ["secret/fo*", "secret/foo/*"];
        assert_eq!(matcher(&patterns).lookup("secret/foo/", true), Some(0));
    }

    #[test]
    fn star_alone_and_empty_paths() {
        assert_eq!(winner(&["*"], ""), Some("*"));
        assert_eq!(winner(&["*"], "anything/at/all"), Some("*"));
        assert_eq!(winner(&["a"], ""), None);
        assert_eq!(winner(&["+"], ""), Some("+"));
    }

    #[test]
    fn rules_under_a_mount() {
        let patterns = [
            "secret/data/x",
            "secret/*",
            "secretive/a",
            "sec*",
            "other/+/x",
            "+/data/*",
            "secret/+",
            "x/+",
        ];
        let m = matcher(&patterns);
        let mut under: Vec<_> =
            m.rules_under("secret/").filter_map(|id| patterns.get(id).copied()).collect();
        under.sort_unstable();
        assert_eq!(under, ["+/data/*", "secret/*", "secret/+", "secret/data/x"]);
        let under: Vec<_> =
            m.rules_under("other/a/").filter_map(|id| patterns.get(id).copied()).collect();
        assert_eq!(under, ["other/+/x"]);
    }
}
