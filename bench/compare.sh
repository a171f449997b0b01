#!/usr/bin/env bash
# Builds Coffer and the load generator (release), then runs Coffer and OpenBao side by side:
# both in memory, then both durable; each server pinned to CPU 0, the load to CPU 1.
#   bench/compare.sh                                   # every workload, c1 and c32, 5 s each
#   bench/compare.sh --workload kv2-read --duration 2s --storage dev --json /tmp/r.json
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p coffer -p coffer-bench
exec target/release/coffer-bench compare "$@"
