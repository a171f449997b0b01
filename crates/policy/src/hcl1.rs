//! A minimal rewrite of HCL v1 forms that HCL v2 (what `hcl-rs` parses) rejects but Vault's
//! policy parser accepts. Used only as a fallback when the text does not parse as it is, so
//! valid HCL2 is never touched:
//!
//! - items on one line without separators: `{ "a" = [] "b" = ["x"] }`,
//!   `path "a" { capabilities = ["read"] comment = "x" }`, `path "a" {} path "b" {}`;
//! - commas between the items of a block or object: `{ capabilities = ["read"], }`;
//! - the block form of the parameter maps: `allowed_parameters { "a" = [] }`.
//!
//! The rewrite only inserts newlines and ` =`, replaces commas between items by newlines, and
//! copies everything else (strings and comments included) verbatim. Texts with heredocs are
//! left alone.

/// Identifiers whose block form (`name { ... }`) is an object in HCL v1 policies.
const MAP_FIELDS: &[&str] = &["allowed_parameters", "denied_parameters"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A quoted string.
    Str,
    /// An identifier, number or keyword.
    Word,
    /// Any other character.
    Punct(u8),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    /// Whether a newline (possibly inside a comment) separates this token from the previous.
    newline_before: bool,
}

impl Token {
    fn ends_value(&self) -> bool {
        matches!(self.kind, Kind::Str | Kind::Word | Kind::Punct(b']' | b'}'))
    }
}

/// Rewrites HCL v1 forms into HCL v2; `None` when the text cannot be tokenized (an unterminated
/// string or comment, or a heredoc).
pub(crate) fn normalize(text: &str) -> Option<String> {
    let tokens = lex(text)?;
    let mut out = String::with_capacity(text.len() + 32);
    let mut stack: Vec<u8> = Vec::new();
    let mut prev_end = 0;
    for (i, tok) in tokens.iter().enumerate() {
        let trivia = text.get(prev_end..tok.start)?;
        prev_end = tok.end;
        let lexeme = text.get(tok.start..tok.end)?;
        let in_braces = matches!(stack.last(), None | Some(b'{'));
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
        let next = tokens.get(i + 1);
        if tok.kind == Kind::Punct(b'{')
            && tok.newline_before
            && prev.is_some_and(|p| matches!(p.kind, Kind::Str | Kind::Word))
        {
            // `path "x"` and its `{` on separate lines: move the brace up, keep the comments.
            stack.push(b'{');
            out.push_str(" {");
            out.push_str(trivia);
            continue;
        }
        out.push_str(trivia);
        match tok.kind {
            Kind::Punct(b',') if stack.last() == Some(&b'{') => {
                out.push('\n');
                continue;
            }
            Kind::Punct(b'{') => {
                // HCL2 allows a one-line block of a single attribute only: put the body of
                // every block and object on lines of its own.
                stack.push(b'{');
                out.push('{');
                if next.is_some_and(|n| !n.newline_before) {
                    out.push('\n');
                }
                continue;
            }
            Kind::Punct(b'}') => {
                stack.pop();
                if !tok.newline_before && prev.is_some_and(|p| p.kind != Kind::Punct(b'{')) {
                    out.push('\n');
                }
            }
            Kind::Punct(open @ (b'[' | b'(')) => stack.push(open),
            Kind::Punct(b']' | b')') => {
                stack.pop();
            }
            Kind::Str | Kind::Word if in_braces => {
                let next_kind = next.map(|n| n.kind);
                let starts_attribute = matches!(next_kind, Some(Kind::Punct(b'=' | b':')));
                let starts_block = matches!(prev.map(|p| p.kind), Some(Kind::Punct(b'}')));
                let glued = prev.is_some_and(|p| p.ends_value()) && !tok.newline_before;
                if glued && (starts_attribute || starts_block) {
                    out.push('\n');
                }
                if tok.kind == Kind::Word
                    && !stack.is_empty()
                    && next_kind == Some(Kind::Punct(b'{'))
                    && MAP_FIELDS.contains(&lexeme)
                {
                    out.push_str(lexeme);
                    out.push_str(" =");
                    continue;
                }
            }
            _ => {}
        }
        out.push_str(lexeme);
    }
    out.push_str(text.get(prev_end..)?);
    Some(out)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn lex(text: &str) -> Option<Vec<Token>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut newline = false;
    while let Some(&b) = bytes.get(i) {
        let rest = bytes.get(i..).unwrap_or_default();
        if b == b'\n' {
            newline = true;
            i += 1;
        } else if b.is_ascii_whitespace() {
            i += 1;
        } else if b == b'#' || rest.starts_with(b"//") {
            i += rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
        } else if rest.starts_with(b"/*") {
            let len = text.get(i + 2..)?.find("*/")? + 4;
            newline |= rest.get(..len)?.contains(&b'\n');
            i += len;
        } else if rest.starts_with(b"<<") {
            return None;
        } else {
            let start = i;
            let kind = if b == b'"' {
                i += 1;
                loop {
                    match bytes.get(i)? {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
                Kind::Str
            } else if is_word_byte(b) {
                while bytes.get(i).copied().is_some_and(is_word_byte) {
                    i += 1;
                }
                Kind::Word
            } else {
                // Step over a whole UTF-8 character so that slices stay on boundaries.
                i += text.get(i..)?.chars().next()?.len_utf8();
                Kind::Punct(b)
            };
            tokens.push(Token { kind, start, end: i, newline_before: newline });
            newline = false;
        }
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(text: &str) -> bool {
        hcl::parse(text).is_ok()
    }

    #[test]
    fn separates_items_on_one_line() {
        let text =
            "path \"a\" {\n  allowed_parameters = { \"foo\" = [] \"bar\" = [\"a\",\"b\"] }\n}";
        assert!(!parses(text));
        let fixed = normalize(text).unwrap_or_default();
        assert!(parses(&fixed), "{fixed}");
        assert!(fixed.contains("[\"a\",\"b\"]"), "commas inside lists are kept: {fixed}");

        let text = "path \"a\" { capabilities = [\"read\"] comment = \"x, y\" }";
        let fixed = normalize(text).unwrap_or_default();
        assert!(parses(&fixed), "{fixed}");
        assert!(fixed.contains("\"x, y\""), "strings are copied verbatim: {fixed}");
    }

    #[test]
    fn separates_blocks_on_one_line() {
        let text =
            "path \"a\" { capabilities = [\"read\"] } path \"b\" { capabilities = [\"list\"] }";
        let fixed = normalize(text).unwrap_or_default();
        assert!(parses(&fixed), "{fixed}");
    }

    #[test]
    fn joins_a_brace_on_its_own_line() {
        let text = "path \"sys/health\" # why\n{\n  capabilities = [\"read\", \"sudo\"]\n}\n";
        assert!(!parses(text));
        let fixed = normalize(text).unwrap_or_default();
        assert!(parses(&fixed), "{fixed}");
        assert!(fixed.contains("# why"));
    }

    #[test]
    fn turns_item_commas_into_newlines() {
        let text = "path \"a\" { capabilities = [\"read\", \"list\"], }";
        assert!(!parses(text));
        let fixed = normalize(text).unwrap_or_default();
        assert!(parses(&fixed), "{fixed}");
    }

    #[test]
    fn rewrites_block_form_maps() {
        let text = "path \"a\" {\n  allowed_parameters {\n    \"foo\" = []\n  }\n}";
        assert!(!parses(text));
        let fixed = normalize(text).unwrap_or_default();
        assert!(parses(&fixed), "{fixed}");
    }

    #[test]
    fn keeps_comments_and_refuses_heredocs() {
        let text = "# a, b { c\npath \"a\" { capabilities = [\"read\"] } // x, y\n/* p,\nq */";
        let fixed = normalize(text).unwrap_or_default();
        assert!(
            fixed.contains("# a, b { c")
                && fixed.contains("// x, y")
                && fixed.contains("/* p,\nq */")
        );
        assert!(normalize("x = <<EOF\nhi\nEOF\n").is_none());
        assert!(normalize("path \"unterminated { }").is_none());
    }
}
