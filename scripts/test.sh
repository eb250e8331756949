#!/usr/bin/env bash
# The test command. Plain `cargo test` needs only the Rust toolchain: it runs the unit
# tests and tests/it (one binary), and lists the tests of tests/tools as ignored, each
# with the outside program it needs. This script installs what is missing (Debian's
# chromium, prometheus for promtool, redis-server, nodejs/npm; the browser test's npm
# packages; TA-Lib, schemathesis, openapi-spec-validator, openapi-python-client, ruff,
# httpx, attrs and requests for Python), each checked on its own, then runs both:
#
#   scripts/test.sh                 # everything
#   scripts/test.sh --test it       # cargo test arguments: only tests/it (tools not run)
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

# Each Python module and tool is checked by itself: a machine may have some of them.
pip_missing=()
python3 -c 'import requests' >/dev/null 2>&1 || pip_missing+=(requests)
python3 -c 'import httpx' >/dev/null 2>&1 || pip_missing+=(httpx)
python3 -c 'import attrs' >/dev/null 2>&1 || pip_missing+=(attrs)
python3 -c 'import talib; assert talib.__version__ >= "0.8"' >/dev/null 2>&1 || pip_missing+=("TA-Lib==0.8.2")
scripts_dir="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
has_tool() { [ -x "$scripts_dir/$1" ] || command -v "$1" >/dev/null 2>&1; }
has_tool schemathesis || pip_missing+=("schemathesis==4.32.5")
has_tool openapi-spec-validator || pip_missing+=("openapi-spec-validator==0.9.0")
has_tool openapi-python-client || pip_missing+=("openapi-python-client==0.29.1")
has_tool ruff || pip_missing+=("ruff==0.17.6")
if ((${#pip_missing[@]})); then
    echo "== pip install ${pip_missing[*]}"
    # TA-Lib comes as a binary wheel: nothing is compiled.
    python3 -m pip install --quiet --only-binary=TA-Lib "${pip_missing[@]}"
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

echo "== cargo test (unit tests and tests/it; tests/tools listed as ignored)"
cargo test --locked "$@"
if (($# == 0)); then
    echo "== cargo test --test tools -- --ignored (the tests that need the programs above)"
    cargo test --locked --test tools -- --ignored
fi
