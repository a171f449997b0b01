//! Usernames of dynamic credentials from Vault's username templates: a subset of Go's
//! `text/template` with pipelines, parentheses, string and integer literals, the fields
//! `.DisplayName` and `.RoleName`, and Vault's functions (`printf`, `truncate`,
//! `truncate_sha256`, `random`, `unix_time`, `unix_time_millis`, `timestamp`, `uuid`,
//! `lowercase`, `uppercase`, `replace`, `sha256`, `base64`).

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_types::{Error, Result, new_uuid, random_base62};

use crate::statements::civil_from_days;

/// Vault's default template for PostgreSQL.
pub(crate) const DEFAULT_TEMPLATE: &str = r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}"#;

/// PostgreSQL keeps at most this many bytes of an identifier (NAMEDATALEN - 1).
pub(crate) const MAX_USERNAME: usize = 63;

/// What a template can see.
pub(crate) struct Inputs<'a> {
    /// The caller's token display name.
    pub display_name: &'a str,
    /// The role's name.
    pub role_name: &'a str,
}

/// Renders `template` (the default when empty) into a username of at most 63 bytes.
pub(crate) fn render(template: &str, inputs: &Inputs<'_>) -> Result<String> {
    let template = if template.trim().is_empty() { DEFAULT_TEMPLATE } else { template };
    let out = expand(template, inputs)?;
    if out.is_empty() {
        return Err(Error::invalid("username template produced an empty username"));
    }
    if out.len() > MAX_USERNAME {
        return Err(Error::invalid(format!(
            "username template produced a username longer than {MAX_USERNAME} bytes"
        )));
    }
    if out.chars().any(|c| c.is_control()) {
        return Err(Error::invalid("username template produced control characters"));
    }
    Ok(out)
}

/// Checks that `template` parses (at write time).
pub(crate) fn validate(template: &str) -> Result<()> {
    if template.trim().is_empty() {
        return Ok(());
    }
    expand(template, &Inputs { display_name: "token", role_name: "role" }).map(drop)
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("invalid username template: {msg}"))
}

fn expand(template: &str, inputs: &Inputs<'_>) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        let mut action = &rest[start + 2..];
        if let Some(a) = action.strip_prefix("- ") {
            text = text.trim_end();
            action = a;
        }
        let end = action.find("}}").ok_or_else(|| bad("unclosed action"))?;
        let (mut body, after) = (&action[..end], &action[end + 2..]);
        let mut trim_after = false;
        if let Some(b) = body.strip_suffix(" -") {
            body = b;
            trim_after = true;
        }
        out.push_str(text);
        let tokens = lex(body)?;
        let mut parser = Parser { tokens: &tokens, pos: 0, inputs };
        let value = parser.pipeline()?;
        if parser.pos != tokens.len() {
            return Err(bad("unexpected tokens after the pipeline"));
        }
        out.push_str(&value.to_text());
        rest = if trim_after { after.trim_start() } else { after };
    }
    out.push_str(rest);
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Field(String),
    Ident(String),
    Str(String),
    Int(i64),
    Pipe,
    Open,
    Close,
}

fn lex(body: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = body.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(bad("unterminated string")),
                        Some('"') => break,
                        Some('\\') => {
                            let escaped = chars.get(i + 1).ok_or_else(|| bad("bad escape"))?;
                            s.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                other => *other,
                            });
                            i += 2;
                        }
                        Some(other) => {
                            s.push(*other);
                            i += 1;
                        }
                    }
                }
                i += 1;
                tokens.push(Token::Str(s));
            }
            // Slices below stay in bounds: `i` indexes a char, and `len` was found after it.
            '`' => {
                let len = chars[i + 1..].iter().position(|c| *c == '`');
                let len = len.ok_or_else(|| bad("unterminated raw string"))?;
                tokens.push(Token::Str(chars[i + 1..i + 1 + len].iter().collect()));
                i += len + 2;
            }
            _ => {
                let len = chars[i..]
                    .iter()
                    .position(|c| c.is_whitespace() || matches!(c, '|' | '(' | ')'))
                    .unwrap_or(chars.len() - i);
                let word: String = chars[i..i + len].iter().collect();
                i += len;
                tokens.push(if let Some(field) = word.strip_prefix('.') {
                    Token::Field(field.to_string())
                } else if let Ok(n) = word.parse::<i64>() {
                    Token::Int(n)
                } else if word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    Token::Ident(word)
                } else {
                    return Err(bad(format!("unexpected {word:?}")));
                });
            }
        }
    }
    Ok(tokens)
}

#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Int(i64),
}

impl Val {
    fn to_text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Int(n) => n.to_string(),
        }
    }

    fn int(&self, func: &str) -> Result<i64> {
        match self {
            Val::Int(n) => Ok(*n),
            Val::Str(s) => s.parse().map_err(|_| bad(format!("{func}: expected a number"))),
        }
    }
}

struct Parser<'t, 'i> {
    tokens: &'t [Token],
    pos: usize,
    inputs: &'i Inputs<'i>,
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn pipeline(&mut self) -> Result<Val> {
        let mut value = self.command(None)?;
        while self.peek() == Some(&Token::Pipe) {
            self.pos += 1;
            value = self.command(Some(value))?;
        }
        Ok(value)
    }

    fn command(&mut self, piped: Option<Val>) -> Result<Val> {
        if let Some(Token::Ident(name)) = self.peek().cloned() {
            self.pos += 1;
            let mut args = Vec::new();
            while let Some(token) = self.peek() {
                if matches!(token, Token::Pipe | Token::Close) {
                    break;
                }
                args.push(self.operand()?);
            }
            args.extend(piped);
            return call(&name, args);
        }
        let value = self.operand()?;
        if piped.is_some() {
            return Err(bad("only a function can receive a pipeline"));
        }
        Ok(value)
    }

    fn operand(&mut self) -> Result<Val> {
        let token = self.peek().cloned().ok_or_else(|| bad("missing value"))?;
        self.pos += 1;
        match token {
            Token::Str(s) => Ok(Val::Str(s)),
            Token::Int(n) => Ok(Val::Int(n)),
            Token::Field(f) => match f.as_str() {
                "DisplayName" => Ok(Val::Str(self.inputs.display_name.to_string())),
                "RoleName" => Ok(Val::Str(self.inputs.role_name.to_string())),
                other => Err(bad(format!("unknown field .{other}"))),
            },
            Token::Ident(name) => call(&name, Vec::new()),
            Token::Open => {
                let value = self.pipeline()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(bad("missing )"));
                }
                self.pos += 1;
                Ok(value)
            }
            Token::Pipe | Token::Close => Err(bad("unexpected | or )")),
        }
    }
}

fn arity(func: &str, args: &[Val], n: usize) -> Result<()> {
    if args.len() != n {
        return Err(bad(format!("{func} takes {n} arguments, got {}", args.len())));
    }
    Ok(())
}

/// The first argument as a number (callers check the arity first).
fn first_int(func: &str, args: &[Val]) -> Result<i64> {
    args.first().ok_or_else(|| bad(format!("{func}: missing argument")))?.int(func)
}

fn truncate(s: &str, n: i64) -> String {
    s.chars().take(usize::try_from(n).unwrap_or(0)).collect()
}

fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

fn call(func: &str, args: Vec<Val>) -> Result<Val> {
    let text = |i: usize| args.get(i).map(Val::to_text).unwrap_or_default();
    Ok(match func {
        "printf" => {
            let format = args.first().ok_or_else(|| bad("printf needs a format"))?.to_text();
            Val::Str(printf(&format, args.get(1..).unwrap_or(&[]))?)
        }
        "truncate" => {
            arity(func, &args, 2)?;
            Val::Str(truncate(&text(1), first_int(func, &args)?))
        }
        "truncate_sha256" => {
            arity(func, &args, 2)?;
            let (max, s) = (first_int(func, &args)?, text(1));
            if s.chars().count() as i64 <= max {
                Val::Str(s)
            } else {
                let hash = hex::encode(digest::digest(&digest::SHA256, s.as_bytes()));
                Val::Str(format!("{}{}", truncate(&s, (max - 8).max(0)), &hash[..8]))
            }
        }
        "random" => {
            arity(func, &args, 1)?;
            let n = first_int(func, &args)?;
            if !(1..=256).contains(&n) {
                return Err(bad("random: length out of range"));
            }
            Val::Str(random_base62(usize::try_from(n).unwrap_or(1)))
        }
        "unix_time" => Val::Int((now_nanos() / 1_000_000_000) as i64),
        "unix_time_millis" => Val::Int((now_nanos() / 1_000_000) as i64),
        "timestamp" => {
            arity(func, &args, 1)?;
            Val::Str(go_time_format(&text(0), (now_nanos() / 1_000_000_000) as i64))
        }
        "uuid" => Val::Str(new_uuid()),
        "lowercase" => {
            arity(func, &args, 1)?;
            Val::Str(text(0).to_lowercase())
        }
        "uppercase" => {
            arity(func, &args, 1)?;
            Val::Str(text(0).to_uppercase())
        }
        "replace" => {
            arity(func, &args, 3)?;
            Val::Str(text(2).replace(&text(0), &text(1)))
        }
        "sha256" => {
            arity(func, &args, 1)?;
            Val::Str(hex::encode(digest::digest(&digest::SHA256, text(0).as_bytes())))
        }
        "base64" => {
            arity(func, &args, 1)?;
            Val::Str(STANDARD.encode(text(0)))
        }
        other => return Err(bad(format!("unknown function {other:?}"))),
    })
}

/// Go's `fmt.Sprintf` for `%s`, `%d`, `%v` and `%%`.
fn printf(format: &str, args: &[Val]) -> Result<String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s' | 'd' | 'v') => {
                out.push_str(&args.next().ok_or_else(|| bad("printf: missing argument"))?.to_text())
            }
            _ => return Err(bad("printf: unsupported verb")),
        }
    }
    Ok(out)
}

/// Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`) for a UTC instant.
fn go_time_format(layout: &str, unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let table: [(&str, String); 10] = [
        ("2006", format!("{y:04}")),
        ("Z07:00", "Z".into()),
        ("-07:00", "+00:00".into()),
        ("-0700", "+0000".into()),
        ("MST", "UTC".into()),
        ("01", format!("{m:02}")),
        ("02", format!("{d:02}")),
        ("15", format!("{hh:02}")),
        ("04", format!("{mm:02}")),
        ("05", format!("{ss:02}")),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (token, value) in &table {
            if let Some(r) = rest.strip_prefix(token) {
                out.push_str(value);
                rest = r;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        out.extend(chars.next());
        rest = chars.as_str();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs<'static> {
        Inputs { display_name: "kubernetes-default-app", role_name: "readonly-role" }
    }

    #[test]
    fn default_template_matches_vault() {
        let name = render("", &inputs()).unwrap_or_default();
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(&parts[..3], &["v", "kubernet", "readonly"], "{name}");
        assert_eq!(parts[3].len(), 20);
        assert!(parts[3].chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(parts[4].parse::<i64>().is_ok_and(|t| t > 1_700_000_000));
        assert!(name.len() <= 63);
    }

    #[test]
    fn functions_and_pipelines() {
        let r = |t: &str| render(t, &inputs()).unwrap_or_else(|e| format!("ERR {e}"));
        assert_eq!(r("{{.RoleName | uppercase}}"), "READONLY-ROLE");
        assert_eq!(r(r#"{{ .RoleName | replace "-" "_" }}"#), "readonly_role");
        assert_eq!(r("pre-{{ .DisplayName | truncate 4 }}-post"), "pre-kube-post");
        assert_eq!(r("{{ truncate_sha256 10 .DisplayName }}").len(), 10);
        assert_eq!(r("{{ truncate_sha256 30 .DisplayName }}"), "kubernetes-default-app");
        assert_eq!(r(r#"{{ printf "%s_%d%%" "a" 5 }}"#), "a_5%");
        assert_eq!(r("{{uuid}}").len(), 36);
        assert_eq!(r(r#"{{ timestamp "2006" }}"#).len(), 4);
        assert_eq!(r("a {{- .RoleName -}} b"), "areadonly-roleb");
        assert!(r("{{ .Nope }}").starts_with("ERR"));
        assert!(r("{{ nope }}").starts_with("ERR"));
        assert!(r("{{ .RoleName").starts_with("ERR"));
        assert!(r("{{ (random 3 }}").starts_with("ERR"));
        assert!(r(r#"{{ printf "%s" "x" | truncate 70 }}{{ random 70 }}"#).starts_with("ERR"));
    }

    #[test]
    fn go_layouts() {
        assert_eq!(
            go_time_format("2006-01-02T15:04:05Z07:00", 1_795_887_783),
            "2026-11-28T17:43:03Z"
        );
        assert_eq!(go_time_format("20060102", 0), "19700101");
    }
}
