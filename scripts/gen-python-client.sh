#!/usr/bin/env bash
# Regenerates examples/python/marketgate_client, the typed Python client, from the
# OpenAPI document of the embedded default config (`marketgate print-openapi`), with
# openapi-python-client (pip install openapi-python-client==0.29.1).
# tests/openapi.rs fails when the committed client differs from what this produces.
#
#   scripts/gen-python-client.sh            # uses target/debug/marketgate (cargo build first)
#   MARKETGATE_BIN=target/release/marketgate scripts/gen-python-client.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-examples/python/marketgate_client}"
bin="${MARKETGATE_BIN:-target/debug/marketgate}"
[ -x "$bin" ] || { echo "no $bin: run cargo build first (or set MARKETGATE_BIN)" >&2; exit 1; }
gen="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/openapi-python-client"
command -v "$gen" >/dev/null 2>&1 || gen=openapi-python-client
spec="$(mktemp -t marketgate-openapi.XXXXXX.json)"
trap 'rm -f "$spec"' EXIT
# The default config without any API key: the document does not depend on keys.
env -u COINCAP_API_KEY -u CRYPTOCOMPARE_API_KEY -u CRYPTOPANIC_API_KEY -u COINGECKO_API_KEY -u COINPAPRIKA_API_KEY \
    -u MARKETGATE_FALLBACK_URL "$bin" print-openapi > "$spec"
"$gen" generate --path "$spec" --output-path "$out" --meta none --overwrite --fail-on-warning > /dev/null
rm -rf "$out/.ruff_cache"
echo "generated $out from $("$bin" --version)"
