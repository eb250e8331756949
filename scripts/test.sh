#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing (Debian's chromium
# for the dashboard test, prometheus for promtool, the browser test's npm packages),
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

if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "== npm ci (tests/browser: playwright-core, no bundled browser)"
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi

echo "== cargo test"
cargo test --locked "$@"
