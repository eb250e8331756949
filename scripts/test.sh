#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing (Debian's chromium
# for the dashboard test, prometheus for promtool, redis-server for the cluster tests,
# the browser test's npm packages, TA-Lib for the indicator reference, schemathesis and
# openapi-spec-validator for the API spec),
# then runs the whole test suite. Extra arguments go to `cargo test`.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh --test admin    # one test file
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

if ((${#missing[@]})); then
    echo "== installing test prerequisites: ${missing[*]}"
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    # Keep packaged services (prometheus) from starting: 101 = "action forbidden".
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import requests' >/dev/null 2>&1; then
    echo "== pip install requests (the Python client example)"
    python3 -m pip install --quiet requests
fi

if ! python3 -c 'import talib; assert talib.__version__ >= "0.8"' >/dev/null 2>&1; then
    echo "== pip install TA-Lib (the indicator reference; a binary wheel, nothing compiled)"
    python3 -m pip install --quiet --only-binary=:all: "TA-Lib==0.8.2"
fi

if ! command -v "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/schemathesis" >/dev/null 2>&1 \
    && ! command -v schemathesis >/dev/null 2>&1; then
    echo "== pip install schemathesis, openapi-spec-validator, openapi-python-client (the API spec tests)"
    python3 -m pip install --quiet "schemathesis==4.32.5" "openapi-spec-validator==0.9.0" \
        "openapi-python-client==0.29.1" "ruff==0.17.6" httpx attrs
fi

if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "== npm ci (tests/browser: playwright-core, no bundled browser)"
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi

# A first Chromium start on a fresh machine builds its caches and can take longer than a
# test should wait; start it once here, bounded, so the dashboard test meets a warm one.
if command -v chromium >/dev/null 2>&1; then
    timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$(mktemp -d)" --dump-dom about:blank >/dev/null 2>&1 || true
fi

echo "== cargo test"
cargo test --locked "$@"
