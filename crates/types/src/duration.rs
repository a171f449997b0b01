//! Durations as Vault accepts them: integer seconds (number or string) or Go-style strings with
//! `s`, `m`, `h` and `d` units, fractions allowed (`"1.5h"`); and Go's formatting (`768h0m0s`).

use serde_json::Value;

use crate::Error;

/// Parses a duration parameter into whole seconds. `field` names the parameter in the error.
pub fn parse_duration(field: &str, value: &Value) -> Result<i64, Error> {
    let bad = || {
        Error::invalid(format!("error converting input for field \"{field}\": invalid duration"))
    };
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).ok_or_else(bad),
        Value::String(s) => parse_duration_str(s).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// Parses a duration string (`"90"`, `"1h30m"`, `"1.5h"`, `"1d"`, `"500ms"`) into whole
/// seconds, or `None` when it is not one.
pub fn parse_duration_str(input: &str) -> Option<i64> {
    let s = input.trim();
    if s.is_empty() {
        return Some(0);
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        total += number * scale;
    }
    let secs = total.floor() as i64;
    Some(if negative { -secs } else { secs })
}

/// Formats whole seconds the way Go's `time.Duration` prints them (`0s`, `1m30s`, `768h0m0s`).
pub fn format_go_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".to_string();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{sign}{m}m{sec}s")
    } else {
        format!("{sign}{sec}s")
    }
}

/// Formats whole seconds as Go prints them with trailing zero units dropped (`2h`, `20m`,
/// `1h30m`, `45s`), as the reference's TTL warnings do.
pub fn format_short_duration(secs: i64) -> String {
    let full = format_go_duration(secs);
    let trimmed = if full.ends_with("m0s") { &full[..full.len() - 2] } else { &full };
    trimmed.strip_suffix("h0m").map(|h| format!("{h}h")).unwrap_or_else(|| trimmed.to_string())
}

/// The reference's warning when a requested TTL (seconds) is capped to the effective max.
pub fn ttl_capped_warning(wanted: i64, max: i64) -> String {
    format!(
        "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
        format_short_duration(wanted),
        format_short_duration(max)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_durations_drop_trailing_zero_units() {
        let cases = [(7200, "2h"), (1200, "20m"), (5400, "1h30m"), (45, "45s"), (3630, "1h0m30s")];
        for (secs, text) in cases {
            assert_eq!(format_short_duration(secs), text);
        }
        assert_eq!(format_short_duration(0), "0s");
        assert_eq!(
            ttl_capped_warning(999_999 * 3600, 768 * 3600),
            "TTL of \"999999h\" exceeded the effective max_ttl of \"768h\"; TTL value is capped accordingly"
        );
    }

    #[test]
    fn parses_the_forms_clients_send() {
        assert_eq!(parse_duration_str("90"), Some(90));
        assert_eq!(parse_duration_str("1h30m"), Some(5400));
        assert_eq!(parse_duration_str("1.5h"), Some(5400));
        assert_eq!(parse_duration_str("1d"), Some(86400));
        assert_eq!(parse_duration_str("768h0m0s"), Some(2_764_800));
        assert_eq!(parse_duration_str("0s"), Some(0));
        assert_eq!(parse_duration_str("1w"), None);
        assert_eq!(parse_duration_str("h"), None);
        assert_eq!(parse_duration("ttl", &json!(90)).ok(), Some(90));
        assert_eq!(parse_duration("ttl", &json!("90")).ok(), Some(90));
        assert!(parse_duration("ttl", &json!(true)).is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(90), "1m30s");
        assert_eq!(format_go_duration(2_764_800), "768h0m0s");
    }
}
