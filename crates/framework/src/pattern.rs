//! Route patterns: literals, `{name}` for one path segment and `{name*}` for the rest of the
//! path (possibly empty, possibly followed by a literal suffix such as `/tune`).

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Segment(String),
    Rest(String),
}

/// A compiled route pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    tokens: Vec<Token>,
}

impl Pattern {
    /// Compiles `source` (`"roles/{name}"`, `"data/{path*}"`, `"mounts/{path*}/tune"`).
    pub fn new(source: &str) -> Self {
        let mut tokens = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            match (rest.find('{'), rest.find('}')) {
                (Some(0), Some(end)) => {
                    let name = &rest[1..end];
                    tokens.push(match name.strip_suffix('*') {
                        Some(n) => Token::Rest(n.to_string()),
                        None => Token::Segment(name.to_string()),
                    });
                    rest = &rest[end + 1..];
                }
                (Some(start), _) => {
                    tokens.push(Token::Literal(rest[..start].to_string()));
                    rest = &rest[start..];
                }
                (None, _) => {
                    tokens.push(Token::Literal(rest.to_string()));
                    rest = "";
                }
            }
        }
        Pattern { source: source.to_string(), tokens }
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Matches a whole path, returning the captures.
    pub fn matches(&self, path: &str) -> Option<HashMap<String, String>> {
        let mut captures = HashMap::new();
        let mut rest = path;
        let mut tokens = self.tokens.iter().peekable();
        while let Some(token) = tokens.next() {
            match token {
                Token::Literal(lit) => rest = rest.strip_prefix(lit.as_str())?,
                Token::Segment(name) => {
                    let end = rest.find('/').unwrap_or(rest.len());
                    if end == 0 {
                        return None;
                    }
                    captures.insert(name.clone(), rest[..end].to_string());
                    rest = &rest[end..];
                }
                Token::Rest(name) => {
                    let suffix = match tokens.next() {
                        Some(Token::Literal(s)) if tokens.peek().is_none() => s.as_str(),
                        None => "",
                        Some(_) => return None,
                    };
                    let value = rest.strip_suffix(suffix)?;
                    captures.insert(name.clone(), value.to_string());
                    rest = "";
                }
            }
        }
        rest.is_empty().then_some(captures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(p: &str, path: &str, name: &str) -> Option<String> {
        Pattern::new(p).matches(path).and_then(|c| c.get(name).cloned())
    }

    #[test]
    fn literals_segments_and_rests() {
        assert!(Pattern::new("config").matches("config").is_some());
        assert!(Pattern::new("config").matches("config/x").is_none());
        assert_eq!(capture("roles/{name}", "roles/web", "name").as_deref(), Some("web"));
        assert!(Pattern::new("roles/{name}").matches("roles/").is_none());
        assert!(Pattern::new("roles/{name}").matches("roles/a/b").is_none());
        assert_eq!(capture("data/{path*}", "data/a/b", "path").as_deref(), Some("a/b"));
        assert_eq!(capture("metadata/{path*}", "metadata/", "path").as_deref(), Some(""));
        assert_eq!(
            capture("mounts/{path*}/tune", "mounts/a/b/tune", "path").as_deref(),
            Some("a/b")
        );
        assert!(Pattern::new("mounts/{path*}/tune").matches("mounts/a/b").is_none());
    }
}
