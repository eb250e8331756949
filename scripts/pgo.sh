#!/usr/bin/env bash
# scripts/pgo.sh — a profile-guided release build of marketgate: target/pgo/marketgate.
#
#   scripts/pgo.sh                                   # ~10-15 min on 2 cores
#   MARKETGATE_BIN=target/pgo/marketgate bench/passthrough.sh
#
# 1. A release build instrumented to count what runs (target/pgo-gen).
# 2. The workload of tests/alone/pgo_workload.rs run against it: the shipped config, its
#    providers on loopback mocks (HTTPS with a test CA, and the fallback tier over plain
#    HTTP), cached and uncached normalized requests, raw passthrough, /metrics.
#    MARKETGATE_PGO_REQUESTS sets the count (default 150000). marketgate writes its
#    counts when it stops on SIGTERM.
# 3. llvm-profdata merges them (the llvm-tools component of the toolchain; installed
#    with rustup when missing).
# 4. The release build optimised with them (target/pgo-use), copied to
#    target/pgo/marketgate. The profile is made from this checkout's code, so it is
#    rebuilt here rather than kept in the repository.
#
# Only the Rust toolchain is needed (and the network once, for llvm-tools). What it
# bought is in the README's Performance section.
set -euo pipefail
cd "$(dirname "$0")/.."

requests="${MARKETGATE_PGO_REQUESTS:-150000}"
sysroot="$(rustc --print sysroot)"
host="$(rustc -vV | sed -n 's/^host: //p')"
profdata="$sysroot/lib/rustlib/$host/bin/llvm-profdata"
if [[ ! -x "$profdata" ]]; then
    echo "== rustup component add llvm-tools (for llvm-profdata)"
    rustup component add llvm-tools
fi

data="$PWD/target/pgo-data"
rm -rf "$data"
mkdir -p "$data"

echo "== 1/4 instrumented release build (target/pgo-gen)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$data/build" \
    cargo build --release --locked --bin marketgate --target-dir target/pgo-gen

echo "== 2/4 training workload: $requests requests (tests/alone/pgo_workload.rs)"
LLVM_PROFILE_FILE="$data/marketgate-%p-%m.profraw" \
    MARKETGATE_PGO_BIN="$PWD/target/pgo-gen/release/marketgate" \
    MARKETGATE_PGO_REQUESTS="$requests" \
    cargo test --locked --test alone pgo_workload -- --exact pgo_workload::pgo_workload_succeeds_and_stops_cleanly --nocapture

shopt -s nullglob
raw=("$data"/marketgate-*.profraw)
if [[ ${#raw[@]} -eq 0 ]]; then
    echo "no profile was written in $data: marketgate did not stop cleanly" >&2
    exit 1
fi

echo "== 3/4 llvm-profdata merge (${#raw[@]} file(s))"
"$profdata" merge -o "$data/merged.profdata" "${raw[@]}"
# Cargo does not watch the profile's content, only RUSTFLAGS: named by its hash, a new
# profile changes the flags and so rebuilds every crate with it.
profile="$data/marketgate-$(sha256sum "$data/merged.profdata" | cut -c1-16).profdata"
mv "$data/merged.profdata" "$profile"

echo "== 4/4 release build with the profile (target/pgo-use)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$profile" \
    cargo build --release --locked --bin marketgate --target-dir target/pgo-use

mkdir -p target/pgo
cp target/pgo-use/release/marketgate target/pgo/marketgate
echo "== done: target/pgo/marketgate (profile: $profile)"
