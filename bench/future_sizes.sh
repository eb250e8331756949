#!/usr/bin/env bash
# The largest futures of marketgate's own async fns and blocks, in bytes, as rustc lays
# them out (`-Zprint-type-sizes`, nightly). A future is copied whole each time it is
# created and handed to the level above, so the request path's futures cost memcpy on
# every request (README, Performance). Run it before and after a change to the request
# path to see what the change did to them.
#
#   bench/future_sizes.sh [N]     the N largest (default 25)
#
# Needs the nightly toolchain (`rustup toolchain install nightly`); builds the library
# without LTO into its own target dir (~3 min the first time, ~1 min after), so the
# normal build is untouched. Nothing is installed.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOP="${1:-25}"
TARGET_DIR="${FUTURE_SIZES_TARGET:-${TMPDIR:-/tmp}/marketgate-future-sizes}"

if ! rustup run nightly rustc --version > /dev/null 2>&1; then
    echo "future_sizes: the nightly toolchain is not installed (rustup toolchain install nightly)" >&2
    exit 2
fi

out="$(mktemp -t marketgate-type-sizes.XXXXXX)"
trap 'rm -f "$out"' EXIT
echo "building with -Zprint-type-sizes into $TARGET_DIR ..." >&2
(
    cd "$REPO_ROOT"
    export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_TARGET_DIR="$TARGET_DIR"
    # rustc prints the sizes only when it compiles the crate: drop the last build of it.
    cargo +nightly clean --release --quiet -p marketgate 2> /dev/null || true
    cargo +nightly rustc --release --lib --quiet -- -Zprint-type-sizes > "$out"
)

# Lines look like: print-type-size type: `{async fn body of ingress::service::handle()}`: 5912 bytes, ...
# Only marketgate's own (paths start with one of src/'s top-level modules).
modules="$(cd "$REPO_ROOT/src" && ls | sed 's/\.rs$//' | grep -v -e '^main$' -e '^lib$' | paste -sd'|' -)"
grep -E '^print-type-size type: `\{async (fn|block) body of ' "$out" |
    sed -E 's/^print-type-size type: `\{async (fn|block) body of (.*)\}`: ([0-9]+) bytes.*/\3\t\1\t\2/' |
    grep -E "^[0-9]+"$'\t'"(fn|block)"$'\t'"($modules)::" |
    sort -t$'\t' -k1,1nr | awk -F'\t' '!seen[$3]++' | head -n "$TOP" |
    awk -F'\t' '{ printf "%8d  async %-5s %s\n", $1, $2, $3 }'
