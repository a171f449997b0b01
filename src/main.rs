//! The `coffer` binary: a thin shell over `coffer-cli`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    coffer_cli::main()
}
