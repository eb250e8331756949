# shellcheck shell=bash
# Settings (WORK_DIR, PORT_UP, UPSTREAM_WORKERS, MG_POOL_MAX_IDLE, ...) come from the
# sourcing script.
# shellcheck disable=SC2154
#
# bench/setup.sh — what bench/passthrough.sh and bench/instructions.sh both serve
# (sourced after lib.sh, not run): the upstream nginx and its bodies, and the
# fragments of marketgate's config.

# ----------------------------------------------------------------------------
# Bodies and upstream
# ----------------------------------------------------------------------------

# A fixed ~1 KB JSON document (exactly 1024 bytes), shaped like a small ticker
# list. No single quotes, backslashes or '$' so it can sit in nginx's
# `return 200 '...'` verbatim.
make_body() {
    local body='{"source":"bench","tickers":[' i sep=""
    for i in $(seq 0 11); do
        body+="${sep}{\"symbol\":\"SYM${i}USDT\",\"price\":\"$(( 1000 + i * 37 )).12345678\",\"volume\":\"$(( 50000 + i * 911 )).5\"}"
        sep=","
    done
    body+='],"pad":"'
    local pad=$(( 1024 - ${#body} - 2 ))
    (( pad >= 0 )) || die "body template longer than 1 KB"
    body+="$(printf '%*s' "$pad" '' | tr ' ' 'x')\"}"
    printf '%s' "$body"
}

# What Binance's /api/v3/ticker/price returns, cut down to two pairs.
PRICE_BODY='[{"symbol":"BTCUSDT","price":"18229.90000000"},{"symbol":"ETHUSDT","price":"1395.60000000"}]'
PRICE_QUERY="symbols=BTC,ETH"

start_upstream() {
    local conf="$WORK_DIR/upstream.conf"
    {
        nginx_common upstream "$UPSTREAM_WORKERS"
        echo "http {"
        nginx_http_common upstream
        cat << EOF
    server {
        listen 127.0.0.1:$PORT_UP;
        default_type application/json;
        location = /api/v3/ticker/price {
            return 200 '$PRICE_BODY';
        }
        location / {
            return 200 '$BODY';
        }
    }
}
EOF
    } > "$conf"
    start_nginx UP_PID upstream "$conf"
    wait_http_200 "http://127.0.0.1:$PORT_UP/price.json" "$UP_PID" "$WORK_DIR/upstream.error.log"
}

# mg_head PORT ADMIN_PORT [LEVEL]: [server], [log] and the optional [upstream].
# LEVEL defaults to warn (no access lines); the shipped default is info.
mg_head() {
    cat << EOF
[server]
listen = "127.0.0.1:$1"
admin_listen = "127.0.0.1:$2"

[log]
level = "${3:-warn}"

EOF
    if [[ -n "$MG_POOL_MAX_IDLE" ]]; then
        printf '[upstream]\npool_max_idle_per_host = %s\n\n' "$MG_POOL_MAX_IDLE"
    fi
}

mg_assets() {
    cat << 'EOF'
[assets]
BTC = { name = "Bitcoin" }
ETH = { name = "Ethereum" }

EOF
}

# mg_price_provider NAME HOSTS: a Binance-style provider with the price op.
mg_price_provider() {
    cat << EOF
[providers.$1]
hosts = $2
symbols = { format = "{BASE}{QUOTE}", quote = { USD = "USDT" } }

[providers.$1.ops.price]
request = { path = "/api/v3/ticker/price" }
response = 'map(select(.symbol | in(\$symbol_of)) | {symbol: \$symbol_of[.symbol], vs: \$vs, price: (.price | tonumber), ts: \$now})'

EOF
}

# mg_main_config: the instance of the `passthrough` and `cached` scenarios, on
# PORT_MG and PORT_ADMIN: a raw passthrough to the upstream, and /v1/price cached.
mg_main_config() {
    mg_head "$PORT_MG" "$PORT_ADMIN"
    mg_assets
    mg_price_provider bench "[\"http://127.0.0.1:$PORT_UP\"]"
    cat << 'EOF'
[routes]
"/v1/price" = { op = "price", pool = [["bench"]], cache = "60s" }
"/raw/{provider}/{*path}" = { passthrough = "*" }
EOF
}
