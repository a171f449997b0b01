//! The `coffer` binary: a thin shell over `coffer-cli`.
#![forbid(unsafe_code)]

/// mimalloc instead of the system allocator: the request path allocates many small, short-lived
/// buffers (headers, JSON, DER), and glibc's malloc spent a fifth of the server's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    coffer_cli::main()
}
