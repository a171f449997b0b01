//! Vault's flag syntax on top of clap. Vault (Go's `flag` package) takes long flags with one
//! dash (`-format=json`, `-dev`) and booleans as `-flag=true|false`; clap wants `--format`.
//! Before parsing, every argument naming a flag declared in `args` is rewritten; anything
//! else (short flags like `-f`, `-`, negative numbers, `k=v`, words after `--`) is left alone.

use std::collections::HashMap;

use clap::{ArgAction, Command};

/// Whether a declared long flag takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Switch,
    Value,
}

/// Every long flag declared anywhere in `command`, with its kind.
fn long_flags(command: &Command) -> HashMap<String, Kind> {
    let mut out = HashMap::from([("help".to_string(), Kind::Switch)]);
    out.insert("version".into(), Kind::Switch);
    collect(command, &mut out);
    out
}

fn collect(command: &Command, out: &mut HashMap<String, Kind>) {
    for arg in command.get_arguments() {
        if let Some(name) = arg.get_long() {
            let kind = match arg.get_action() {
                ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Help | ArgAction::Version => {
                    Kind::Switch
                }
                _ => Kind::Value,
            };
            // Two commands could declare one name with different kinds; a value wins, so
            // `-name=value` is never dropped.
            let entry = out.entry(name.to_string()).or_insert(kind);
            if kind == Kind::Value {
                *entry = Kind::Value;
            }
        }
    }
    for sub in command.get_subcommands() {
        collect(sub, out);
    }
}

/// Rewrites Vault-style flags in `args` (program name included) for clap.
pub fn normalize(args: impl IntoIterator<Item = String>, command: &Command) -> Vec<String> {
    let flags = long_flags(command);
    let mut out = Vec::new();
    let mut literal = false;
    for arg in args {
        if literal || arg == "--" {
            literal = true;
            out.push(arg);
            continue;
        }
        let Some(stripped) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            out.push(arg);
            continue;
        };
        let (name, value) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (stripped, None),
        };
        match (flags.get(name), value) {
            // `-dev=false` means the switch is off: drop it; `-dev=true` is just `--dev`.
            (Some(Kind::Switch), Some(v)) => match parse_bool(v) {
                Some(true) => out.push(format!("--{name}")),
                Some(false) => {}
                None => out.push(format!("--{name}={v}")),
            },
            (Some(_), _) => out.push(format!("--{stripped}")),
            (None, _) => out.push(arg),
        }
    }
    out
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::args::{Cli, Command as Cmd, Kv};

    fn norm(args: &[&str]) -> Vec<String> {
        normalize(args.iter().map(|s| s.to_string()), &Cli::command())
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        assert_eq!(
            norm(&["coffer", "-format=json", "status"]),
            ["coffer", "--format=json", "status"]
        );
        assert_eq!(
            norm(&["c", "kv", "get", "-field=x", "a"]),
            ["c", "kv", "get", "--field=x", "a"]
        );
        assert_eq!(
            norm(&["c", "server", "-dev", "-dev-root-token-id", "root"]),
            ["c", "server", "--dev", "--dev-root-token-id", "root"]
        );
        assert_eq!(
            norm(&["c", "kv", "put", "-cas=-1", "p", "a=b"]),
            ["c", "kv", "put", "--cas=-1", "p", "a=b"]
        );
    }

    #[test]
    fn other_arguments_are_left_alone() {
        assert_eq!(norm(&["write", "-f", "p"]), ["write", "-f", "p"]);
        assert_eq!(norm(&["write", "p", "k=-1", "-"]), ["write", "p", "k=-1", "-"]);
        assert_eq!(norm(&["write", "p", "-unknown=1"]), ["write", "p", "-unknown=1"]);
        assert_eq!(norm(&["--", "-format=json"]), ["--", "-format=json"]);
        assert_eq!(norm(&["-5"]), ["-5"]);
    }

    #[test]
    fn boolean_switches_take_go_style_values() {
        assert_eq!(norm(&["server", "-dev=true"]), ["server", "--dev"]);
        assert_eq!(norm(&["server", "-dev=false"]), ["server"]);
        assert_eq!(norm(&["status", "--tls-skip-verify=1"]), ["status", "--tls-skip-verify"]);
        assert_eq!(
            norm(&["status", "-tls-skip-verify=maybe"]),
            ["status", "--tls-skip-verify=maybe"]
        );
    }

    #[test]
    fn vault_command_lines_parse() {
        let args =
            norm(&["coffer", "kv", "put", "-mount=secret", "-cas=0", "app", "a=b", "-format=json"]);
        let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.global.format, "json");
        let Cmd::Kv(Kv::Put { mount, cas, path, pairs }) = cli.command else {
            panic!("parsed as {:?}", cli.command)
        };
        assert_eq!((mount.mount.as_deref(), cas, path.as_str()), (Some("secret"), 0, "app"));
        assert_eq!(pairs, ["a=b"]);

        let args = norm(&["coffer", "-address=http://127.0.0.1:1", "write", "-f", "sys/x"]);
        let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.global.address.as_deref(), Some("http://127.0.0.1:1"));
        assert!(matches!(cli.command, Cmd::Write { force: true, .. }));

        let bad = Cli::try_parse_from(norm(&["coffer", "status", "-format=yaml"]));
        assert!(bad.is_err());
    }
}
