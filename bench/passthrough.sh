#!/usr/bin/env bash
# bench/passthrough.sh — marketgate vs nginx, and marketgate's failover latency.
#
# Scenarios (all run by default, in this order):
#   passthrough  marketgate's raw passthrough vs nginx as a reverse proxy, both
#                in front of the same loopback upstream (an nginx returning a
#                fixed 1 KB JSON body); wrk throughput, alternating A, B, A, B,
#                ... so that drift on a shared machine (other builds, thermal,
#                noisy neighbours) hits both sides about equally.
#   cached       marketgate serving a cached normalized route (/v1/price, a
#                Binance-style price list mapped by jq, cache 60s) vs the same
#                nginx proxying the 1 KB body; wrk throughput, alternating.
#   logged       the same passthrough with logging on both sides: marketgate
#                with the shipped log settings (info, one text access line per
#                request to stderr, here a file) against nginx with its default
#                access log (combined format, to a file).
#   idle         memory per idle keep-alive connection: IDLE_CONNECTIONS
#                connections each make one request and stay open; the RSS
#                growth is divided by their number, for marketgate and for the
#                nginx proxy; then they close, a short burst of traffic runs,
#                and the RSS is read again.
#   failover     latency of single sequential requests (curl, one keep-alive
#                connection) through separate marketgate instances: `direct`
#                (one good host), `refused` (a refusing host next to the good
#                one, breaker never opening), `backup` (the normalized route
#                on the good provider alone) and `hanging` (tier 1 accepts and
#                never answers, hedge after 50 ms to the good provider).
#
# Usage: bench/passthrough.sh [--quick] [--install] [--scenarios=LIST] [--help]
#
# Environment overrides (defaults in brackets):
#   SCENARIOS   [passthrough cached logged idle failover]  which scenarios to run
#   CONNECTIONS [32]   wrk -c
#   THREADS     [1]    wrk -t
#   DURATION    [4s]   wrk -d per measured run
#   ROUNDS      [3]    alternating rounds
#   WARMUP      [2s]   wrk -d of the unmeasured warm-up against each target
#   UPSTREAM_WORKERS [1] worker processes of the upstream nginx
#   IDLE_CONNECTIONS [2000] connections of the `idle` scenario
#   FAILOVER_REQUESTS [200]  measured sequential requests per failover setup
#   FAILOVER_WARMUP   [20]   unmeasured requests before them
#   HEDGE_AFTER_MS    [50]   hedge_after of the `hanging` route
#   FAILOVER_RETRY_BUDGET [{ ratio = 10, min_per_second = 1000 }]
#               [defaults] retry_budget of the failover instances. Every
#               request there needs a second attempt, which marketgate's
#               default budget (20 % + 10/s) would refuse after ~100 quick
#               requests; "default" leaves marketgate's default in place.
#   MARKETGATE_BIN [target/release/marketgate]
#   OUT_DIR     [unset] if set, the raw wrk/curl outputs and logs are copied there
#   MIMALLOC_PURGE_DELAY [unset] passed to marketgate when set (its allocator's
#               purge delay, ms); unset, marketgate sets 0 itself (src/allocator.rs)
#   MG_POOL_MAX_IDLE [unset] if set, written as marketgate's
#               [upstream] pool_max_idle_per_host (its default is 256)
#
# --quick: 1 round of 3 s (warm-up 1 s), 50 failover requests (warm-up 5).
#
# After the wrk rounds of a scenario, one more run per side with `perf stat`
# attached gives system calls and context switches per request
# (PROFILE_SYSCALLS=0 skips it), and one more with `perf record` shows where the
# CPU went, grouped: kernel, marketgate's own code, tokio, hyper, http+bytes, memcpy,
# allocator, clock (bench/profile.sh; PROFILE_CPU=0 skips it). User and system CPU
# per request come from /proc in the measured rounds. The ratios go to
# bench/ratios.txt; each one more
# than 15 % worse than in the committed file is reported (never a failure: the
# machines are noisy). Commit the file to make a run the baseline.
# Only loopback addresses are used. Every process started here is stopped on
# exit (normal, error or Ctrl-C). Nothing is installed unless --install is given.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORIG_CMDLINE="$0${*:+ $*}"
SCENARIOS_ENV="${SCENARIOS:-}"
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"
# shellcheck source=bench/setup.sh
source "$REPO_ROOT/bench/setup.sh"
# shellcheck source=bench/profile.sh
source "$REPO_ROOT/bench/profile.sh"

# ----------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------

QUICK=0
DO_INSTALL=0
ALL_SCENARIOS="passthrough cached logged idle failover"

usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --install) DO_INSTALL=1 ;;
        --scenarios=*) SCENARIOS="${arg#--scenarios=}" ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

if [[ $QUICK -eq 1 ]]; then
    # Smoke run: proves the plumbing works, the figures mean little.
    : "${ROUNDS:=1}" "${DURATION:=3s}" "${WARMUP:=1s}" "${FAILOVER_REQUESTS:=50}" "${FAILOVER_WARMUP:=5}"
fi
SCENARIOS="${SCENARIOS:-$ALL_SCENARIOS}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
DURATION="${DURATION:-4s}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-2s}"
UPSTREAM_WORKERS="${UPSTREAM_WORKERS:-1}"
IDLE_CONNECTIONS="${IDLE_CONNECTIONS:-2000}"
FAILOVER_REQUESTS="${FAILOVER_REQUESTS:-200}"
FAILOVER_WARMUP="${FAILOVER_WARMUP:-20}"
HEDGE_AFTER_MS="${HEDGE_AFTER_MS:-50}"
FAILOVER_RETRY_BUDGET="${FAILOVER_RETRY_BUDGET:-"{ ratio = 10, min_per_second = 1000 }"}"
MARKETGATE_BIN="${MARKETGATE_BIN:-$REPO_ROOT/target/release/marketgate}"
OUT_DIR="${OUT_DIR:-}"
MG_POOL_MAX_IDLE="${MG_POOL_MAX_IDLE:-}"

# Scenarios to run, validated, in the canonical order.
SELECTED=()
for s in $SCENARIOS; do
    [[ " $ALL_SCENARIOS " == *" $s "* ]] || { echo "unknown scenario: $s (known: $ALL_SCENARIOS)" >&2; exit 2; }
done
for s in $ALL_SCENARIOS; do
    [[ " $SCENARIOS " == *" $s "* ]] && SELECTED+=("$s")
done
[[ ${#SELECTED[@]} -gt 0 ]] || { echo "no scenario selected (known: $ALL_SCENARIOS)" >&2; exit 2; }
selected() { [[ " ${SELECTED[*]} " == *" $1 "* ]]; }

CPUS="$(nproc)"
# marketgate runs one single-threaded runtime per CPU, so nginx gets the same
# number of worker processes (explicitly, rather than `auto`, so the figure can
# be printed).
NGINX_WORKERS="$CPUS"
WRK_ARGS=(--latency -t"$THREADS" -c"$CONNECTIONS")

trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# ----------------------------------------------------------------------------
# The nginx proxy and the hanging upstream (the upstream nginx and marketgate's
# config fragments: bench/setup.sh)
# ----------------------------------------------------------------------------

# start_nginx_proxy [logged]: nginx as a reverse proxy; `logged` keeps nginx's
# default access log (combined format) in a file.
start_nginx_proxy() {
    local name="nginx-proxy" port="$PORT_NGINX" access="off"
    if [[ "${1:-}" == logged ]]; then
        name="nginx-logged"; port="$PORT_NGINX_LOGGED"; access="$WORK_DIR/nginx-access.log"
    fi
    local conf="$WORK_DIR/$name.conf"
    {
        nginx_common "$name" "$NGINX_WORKERS"
        echo "http {"
        nginx_http_common "$name" | sed "s|access_log off;|access_log $access;|"
        cat << EOF
    upstream u {
        server 127.0.0.1:$PORT_UP;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://u;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } > "$conf"
    if [[ "$name" == nginx-logged ]]; then
        start_nginx NGINX_LOGGED_PID "$name" "$conf"
        wait_http_200 "$URL_NGINX_LOGGED" "$NGINX_LOGGED_PID" "$WORK_DIR/$name.error.log"
    else
        start_nginx NGINX_PID "$name" "$conf"
        wait_http_200 "$URL_NGINX" "$NGINX_PID" "$WORK_DIR/$name.error.log"
    fi
}

# A TCP server on 127.0.0.1:PORT_HANG that accepts every connection, reads
# and never answers; a connection is closed only when its peer closes it.
start_hang_server() {
    cat > "$WORK_DIR/hang.py" << 'EOF'
import selectors, socket, sys
sel = selectors.DefaultSelector()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(1024)
srv.setblocking(False)
sel.register(srv, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is srv:
            c, _ = srv.accept()
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ)
        else:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
EOF
    spawn HANG_PID "$WORK_DIR/hang.log" python3 "$WORK_DIR/hang.py" "$PORT_HANG"
    wait_port "$PORT_HANG" "$HANG_PID" "$WORK_DIR/hang.log"
}

# ----------------------------------------------------------------------------
# marketgate configs and instances
# ----------------------------------------------------------------------------

# Failover instances: the breaker never opens (every request meets the bad
# host), one attempt may take 2 s, and the retry budget is out of the way.
mg_failover_defaults() {
    echo '[defaults]'
    echo 'attempt_timeout = "2s"'
    echo 'breaker = { consecutive_failures = 1000000 }'
    [[ "$FAILOVER_RETRY_BUDGET" == default ]] || echo "retry_budget = $FAILOVER_RETRY_BUDGET"
    echo
}

# start_mg NAME PORT READY_PATH: starts marketgate on
# $WORK_DIR/mg-NAME.toml (already written) and waits for READY_PATH to answer 200.
# Sets MG_PID_OF[NAME].
declare -A MG_PID_OF
start_mg() {
    local name="$1" port="$2" path="$3" new_pid
    # As a user runs it: without MIMALLOC_PURGE_DELAY marketgate restarts itself with
    # it set to 0 (src/allocator.rs); a value given here is passed on and kept.
    if [[ -n "${MIMALLOC_PURGE_DELAY:-}" ]]; then
        spawn new_pid "$WORK_DIR/mg-$name.log" env MIMALLOC_PURGE_DELAY="$MIMALLOC_PURGE_DELAY" \
            "$MARKETGATE_BIN" --config "$WORK_DIR/mg-$name.toml"
    else
        spawn new_pid "$WORK_DIR/mg-$name.log" env -u MIMALLOC_PURGE_DELAY \
            "$MARKETGATE_BIN" --config "$WORK_DIR/mg-$name.toml"
    fi
    MG_PID_OF[$name]="$new_pid"
    wait_http_200 "http://127.0.0.1:$port$path" "$new_pid" "$WORK_DIR/mg-$name.log"
}

# The instance of the `logged` scenario: the shipped log settings (info, text),
# stderr to a file.
start_marketgate_logged() {
    {
        mg_head "$PORT_MG_LOGGED" "$PORT_ADMIN_LOGGED" info
        mg_price_provider bench "[\"http://127.0.0.1:$PORT_UP\"]"
        echo '[routes]'
        echo '"/raw/{provider}/{*path}" = { passthrough = "*" }'
    } > "$WORK_DIR/mg-logged.toml"
    start_mg logged "$PORT_MG_LOGGED" /raw/bench/price.json
}

# The instance for `passthrough` and `cached`.
start_marketgate() {
    mg_main_config > "$WORK_DIR/mg-main.toml"
    start_mg main "$PORT_MG" /raw/bench/price.json
    MG_PID="${MG_PID_OF[main]}"
}

start_failover_instances() {
    local up="\"http://127.0.0.1:$PORT_UP\""
    {
        mg_head "$PORT_FO_DIRECT" "$PORT_FO_DIRECT_ADMIN"
        mg_failover_defaults
        echo "[providers.fast]"
        echo "hosts = [$up]"
        echo
        echo '[routes]'
        echo '"/raw/{provider}/{*path}" = { passthrough = "*" }'
    } > "$WORK_DIR/mg-direct.toml"
    {
        mg_head "$PORT_FO_REFUSED" "$PORT_FO_REFUSED_ADMIN"
        mg_failover_defaults
        echo "[providers.refusing]"
        echo "hosts = [\"http://127.0.0.1:$PORT_DEAD\", $up]"
        echo
        echo '[routes]'
        echo '"/raw/{provider}/{*path}" = { passthrough = "*" }'
    } > "$WORK_DIR/mg-refused.toml"
    {
        mg_head "$PORT_FO_HANG" "$PORT_FO_HANG_ADMIN"
        mg_failover_defaults
        mg_assets
        mg_price_provider hang "[\"http://127.0.0.1:$PORT_HANG\"]"
        mg_price_provider fast "[$up]"
        echo '[routes]'
        echo "\"/v1/price\" = { op = \"price\", pool = [[\"hang\"], [\"fast\"]], hedge_after = \"${HEDGE_AFTER_MS}ms\" }"
        echo '"/v1/price-fast" = { op = "price", pool = [["fast"]] }'
    } > "$WORK_DIR/mg-hanging.toml"
    start_mg direct "$PORT_FO_DIRECT" /raw/fast/price.json
    start_mg refused "$PORT_FO_REFUSED" /raw/refusing/price.json
    start_mg hanging "$PORT_FO_HANG" "/v1/price-fast?$PRICE_QUERY"
}

# ----------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------

# Both proxies must serve the upstream's exact body with a 200 before any
# figure is worth comparing.
check_same_body() {
    local url status
    for url in "$@"; do
        status="$(curl -s -o "$WORK_DIR/check.body" -w '%{http_code}' --max-time 5 "$url" || true)"
        [[ "$status" == 200 ]] || die "$url returned HTTP $status, expected 200"
        cmp -s "$WORK_DIR/check.body" "$WORK_DIR/expected.body" ||
            die "$url returned a body different from the upstream's ($(wc -c < "$WORK_DIR/check.body") bytes)"
    done
    log "body check OK: 200 and identical ${#BODY}-byte body from: $*"
}

# The cached route: 200 with both prices, and a cache hit on the second call.
check_cached() {
    local url="$1" out="$WORK_DIR/check.cached" i status cache
    for i in 1 2; do
        status="$(curl -s -D "$out.headers" -o "$out.body" -w '%{http_code}' --max-time 5 "$url" || true)"
        cache="$(awk -F': *' 'tolower($1) == "x-marketgate-cache" { gsub(/\r/, "", $2); print $2 }' "$out.headers")"
        log "cached check call $i: HTTP $status, x-marketgate-cache: ${cache:-absent}"
    done
    [[ "$status" == 200 && "$cache" == hit ]] || {
        cat "$out.headers" "$out.body" >&2
        die "$url: expected 200 with x-marketgate-cache: hit on the second call, got $status / ${cache:-absent}"
    }
    if ! grep -q '"symbol":"BTC","vs":"USD","price":18229.9' "$out.body" ||
        ! grep -q '"symbol":"ETH","vs":"USD","price":1395.6' "$out.body"; then
        cat "$out.body" >&2
        die "$url: body lacks the mapped BTC/ETH prices"
    fi
    CACHED_BODY_BYTES="$(wc -c < "$out.body")"
}

# ----------------------------------------------------------------------------
# Scenarios
# ----------------------------------------------------------------------------

scenario_passthrough() {
    check_same_body "http://127.0.0.1:$PORT_UP/price.json" "$URL_NGINX" "$URL_MG"
    run_pair passthrough nginx "$URL_NGINX" marketgate "$URL_MG"
}

scenario_logged() {
    start_nginx_proxy logged
    start_marketgate_logged
    PID_OF[nginx-logged]="$NGINX_LOGGED_PID"
    PID_OF[marketgate-logged]="${MG_PID_OF[logged]}"
    check_same_body "$URL_NGINX_LOGGED" "$URL_MG_LOGGED"
    run_pair logged nginx-logged "$URL_NGINX_LOGGED" marketgate-logged "$URL_MG_LOGGED"
    LOGGED_LINES="nginx $(wc -l < "$WORK_DIR/nginx-access.log"), marketgate $(grep -c 'marketgate::access' "$WORK_DIR/mg-logged.log" || true)"
    LOGGED_DROPPED="$(metric_sum "http://127.0.0.1:$PORT_ADMIN_LOGGED/metrics" marketgate_log_lines_dropped_total)"
}

# idle_memory NAME PID PORT PATH: IDLE_CONNECTIONS keep-alive connections, one
# request each; sets IDLE_PER_CONN[NAME] (KiB), IDLE_BEFORE/IDLE_DURING/IDLE_AFTER.
declare -A IDLE_PER_CONN IDLE_BEFORE IDLE_DURING IDLE_AFTER
idle_memory() {
    local name="$1" pid="$2" port="$3" path="$4" out
    # shellcheck disable=SC2046 # the child PIDs are separate words on purpose
    out="$(python3 "$REPO_ROOT/bench/idle_connections.py" --port "$port" --path "$path" \
        --connections "$IDLE_CONNECTIONS" --pids "$pid" $(pgrep -P "$pid" | tr '\n' ' '))" ||
        die "idle connections against $name failed: $out"
    log "[idle] $name: $out"
    IDLE_BEFORE[$name]="$(sed -n 's/.*before_kib=\([0-9]*\).*/\1/p' <<< "$out")"
    IDLE_DURING[$name]="$(sed -n 's/.*during_kib=\([0-9]*\).*/\1/p' <<< "$out")"
    IDLE_AFTER[$name]="$(sed -n 's/.*after_kib=\([0-9]*\).*/\1/p' <<< "$out")"
    IDLE_PER_CONN[$name]="$(sed -n 's/.*per_connection_kib=\([0-9.]*\).*/\1/p' <<< "$out")"
}

scenario_idle() {
    idle_memory nginx "$NGINX_PID" "$PORT_NGINX" /price.json
    idle_memory marketgate "$MG_PID" "$PORT_MG" /raw/bench/price.json
}

scenario_cached() {
    check_cached "$URL_MG_CACHED"
    local metrics="http://127.0.0.1:$PORT_ADMIN/metrics" r
    declare -A before
    for r in hit miss coalesced stale; do
        before[$r]="$(metric_sum "$metrics" marketgate_cache_requests_total "result=\"$r\"")"
    done
    run_pair cached nginx "$URL_NGINX" marketgate "$URL_MG_CACHED"
    CACHE_COUNTS=""
    for r in hit miss coalesced stale; do
        CACHE_COUNTS+="$r $(( $(metric_sum "$metrics" marketgate_cache_requests_total "result=\"$r\"") - ${before[$r]} )), "
    done
    CACHE_COUNTS="${CACHE_COUNTS%, }"
}

# Per-setup results: FO_N, FO_P50, FO_P99, FO_MAX, FO_OK (requests that were
# 200 from the expected provider), FO_BAD (first bad one, described).
declare -A FO_N FO_P50 FO_P99 FO_MAX FO_OK FO_BAD FO_URL

# fo_stats KEY TSV EXPECTED_PROVIDER [AWK_FILTER]: summarises the lines of TSV
# (status ms provider) matching AWK_FILTER (on NR, the request number).
fo_stats() {
    local key="$1" tsv="$2" want="$3" filter="${4:-1}" ms="$WORK_DIR/fo-$1.ms"
    awk "$filter" "$tsv" > "$WORK_DIR/fo-$key.sel"
    awk '{ print $2 }' "$WORK_DIR/fo-$key.sel" > "$ms"
    FO_N[$key]="$(wc -l < "$ms" | tr -d ' ')"
    FO_P50[$key]="$(percentile 50 "$ms")"
    FO_P99[$key]="$(percentile 99 "$ms")"
    FO_MAX[$key]="$(percentile 100 "$ms")"
    FO_OK[$key]="$(awk -v w="$want" '$1 == 200 && $3 == w' "$WORK_DIR/fo-$key.sel" | wc -l | tr -d ' ')"
}

# fo_warmup NAME URL: FAILOVER_WARMUP unmeasured requests.
fo_warmup() {
    if (( FAILOVER_WARMUP > 0 )); then
        latency_series "$WORK_DIR/fo-$1.warmup" "$2" "$FAILOVER_WARMUP"
    fi
}

# fo_measure NAME URL EXPECTED_PROVIDER: the measured series.
fo_measure() {
    local name="$1" url="$2" want="$3" prefix="$WORK_DIR/fo-$1"
    FO_URL[$name]="$url"
    log "[failover] $name: $FAILOVER_REQUESTS sequential requests to $url"
    latency_series "$prefix" "$url" "$FAILOVER_REQUESTS"
    fo_stats "$name" "$prefix.tsv" "$want"
    # The first request that was not a 200 from the expected provider.
    local bad
    bad="$(awk -v w="$want" '!($1 == 200 && $3 == w) { print NR; exit }' "$prefix.tsv")"
    if [[ -n "$bad" ]]; then
        FO_BAD[$name]="request $bad: $(sed -n "${bad}p" "$prefix.tsv"), body $(head -c 400 "$prefix.bodies/$bad" 2> /dev/null)"
    fi
    if (( FO_N[$name] < FAILOVER_REQUESTS )); then
        FO_BAD[$name]="only ${FO_N[$name]} of $FAILOVER_REQUESTS requests completed (see $prefix.err); ${FO_BAD[$name]:-}"
    fi
    log "[failover] $name: p50 ${FO_P50[$name]} ms, p99 ${FO_P99[$name]} ms, ${FO_OK[$name]}/${FO_N[$name]} OK"
}

scenario_failover() {
    if port_open "$PORT_DEAD"; then
        die "port $PORT_DEAD was meant to refuse connections but something listens there"
    fi
    start_hang_server
    start_failover_instances
    local url_direct="http://127.0.0.1:$PORT_FO_DIRECT/raw/fast/price.json"
    local url_refused="http://127.0.0.1:$PORT_FO_REFUSED/raw/refusing/price.json"
    local url_backup="http://127.0.0.1:$PORT_FO_HANG/v1/price-fast?$PRICE_QUERY"
    local url_hanging="http://127.0.0.1:$PORT_FO_HANG/v1/price?$PRICE_QUERY"
    local m_refused="http://127.0.0.1:$PORT_FO_REFUSED_ADMIN/metrics"
    local m_hang="http://127.0.0.1:$PORT_FO_HANG_ADMIN/metrics"
    note_build

    fo_warmup direct "$url_direct"
    fo_measure direct "$url_direct" fast

    # `refused`: the provider's hosts are used in rotation, so consecutive
    # requests alternate between starting at the refusing host and at the
    # good one. One probe request, with the refusing host's attempts counted
    # around it, tells which of the two the series starts with; the count
    # over the series checks the split.
    local dead="host=\"127.0.0.1:$PORT_DEAD\"" c0 c1 c2 first_dead
    fo_warmup refused "$url_refused"
    c0="$(metric_sum "$m_refused" marketgate_upstream_requests_total "$dead")"
    curl -s -o /dev/null --max-time 5 "$url_refused" || true
    c1="$(metric_sum "$m_refused" marketgate_upstream_requests_total "$dead")"
    # Probe started at the refusing host -> request 1 of the series starts at the good one.
    if (( c1 > c0 )); then first_dead=0; else first_dead=1; fi
    fo_measure refused "$url_refused" refusing
    c2="$(metric_sum "$m_refused" marketgate_upstream_requests_total "$dead")"
    REFUSED_ATTEMPTS=$(( c2 - c1 ))
    fo_stats refused-first "$WORK_DIR/fo-refused.tsv" refusing "NR % 2 == $first_dead"
    fo_stats good-first "$WORK_DIR/fo-refused.tsv" refusing "NR % 2 != $first_dead"
    REFUSED_CLASSIFIED=1
    (( REFUSED_ATTEMPTS == FO_N[refused-first] )) || REFUSED_CLASSIFIED=0
    REFUSED_BUDGET_EXHAUSTED="$(metric_sum "$m_refused" marketgate_retry_budget_exhausted_total)"

    fo_warmup backup "$url_backup"
    fo_measure backup "$url_backup" fast

    local h0 h1 t0 t1
    fo_warmup hanging "$url_hanging"
    h0="$(metric_sum "$m_hang" marketgate_hedges_total)"
    t0="$(metric_sum "$m_hang" marketgate_upstream_requests_total 'provider="hang"' 'outcome="timeout"')"
    fo_measure hanging "$url_hanging" fast
    h1="$(metric_sum "$m_hang" marketgate_hedges_total)"
    t1="$(metric_sum "$m_hang" marketgate_upstream_requests_total 'provider="hang"' 'outcome="timeout"')"
    HEDGES=$(( h1 - h0 ))
    HANG_TIMEOUTS=$(( t1 - t0 ))
    HANG_BUDGET_EXHAUSTED="$(metric_sum "$m_hang" marketgate_retry_budget_exhausted_total)"
    note_build

    local name
    for name in direct refused hanging; do
        kill -0 "${MG_PID_OF[$name]}" 2> /dev/null || die "marketgate instance $name exited; see $WORK_DIR/mg-$name.log"
    done
}

print_failover() {
    local key
    echo
    echo "Scenario: failover latency   (sequential GETs over one keep-alive curl connection;"
    echo "          $FAILOVER_REQUESTS measured per setup after $FAILOVER_WARMUP warm-up; ms = curl time_total)"
    printf '  %-15s %5s %9s %9s %9s  %s\n' setup n "p50 ms" "p99 ms" "max ms" "200 from expected provider"
    for key in direct refused refused-first good-first backup hanging; do
        printf '  %-15s %5s %9s %9s %9s  %s\n' "$key" "${FO_N[$key]}" "${FO_P50[$key]}" \
            "${FO_P99[$key]}" "${FO_MAX[$key]}" "${FO_OK[$key]}/${FO_N[$key]}"
    done
    echo "  direct:  ${FO_URL[direct]}  (provider fast = the upstream nginx)"
    echo "  refused: ${FO_URL[refused]}  (hosts: 127.0.0.1:$PORT_DEAD refusing, then the upstream)"
    echo "           hosts rotate per request, so half the requests start at the refusing host"
    echo "           (refused-first) and half at the good one (good-first); refusing-host attempts"
    printf '           counted by marketgate: %s, refused-first requests: %s (%s)\n' "$REFUSED_ATTEMPTS" \
        "${FO_N[refused-first]}" "$([[ $REFUSED_CLASSIFIED -eq 1 ]] && echo "split consistent" || echo "MISMATCH: split unreliable")"
    echo "  backup:  ${FO_URL[backup]}  (normalized, pool [[fast]], no cache)"
    echo "  hanging: ${FO_URL[hanging]}  (pool [[hang], [fast]], hedge_after ${HEDGE_AFTER_MS}ms, no cache)"
    echo "           hedges started during the series: $HEDGES for ${FO_N[hanging]} requests; tier-1 attempts timed out (2 s): $HANG_TIMEOUTS"
    echo "  retry budget: ${FAILOVER_RETRY_BUDGET}; exhausted: refused $REFUSED_BUDGET_EXHAUSTED, hanging $HANG_BUDGET_EXHAUSTED"
    REFUSED_ADDS="$(awk -v a="${FO_P50[refused-first]}" -v b="${FO_P50[direct]}" 'BEGIN { printf "%.3f", a - b }')"
    HANG_BOUND50="$(awk -v h="$HEDGE_AFTER_MS" -v b="${FO_P50[backup]}" 'BEGIN { printf "%.3f", h + b }')"
    HANG_BOUND99="$(awk -v h="$HEDGE_AFTER_MS" -v b="${FO_P99[backup]}" 'BEGIN { printf "%.3f", h + b }')"
    echo "  refusing adds ${REFUSED_ADDS} ms  (p50 refused-first - p50 direct)"
    printf '  hanging p50 %s ms vs hedge_after + backup p50 = %s ms (%+.3f ms)\n' "${FO_P50[hanging]}" \
        "$HANG_BOUND50" "$(awk -v a="${FO_P50[hanging]}" -v b="$HANG_BOUND50" 'BEGIN { print a - b }')"
    printf '  hanging p99 %s ms vs hedge_after + backup p99 = %s ms (%+.3f ms)\n' "${FO_P99[hanging]}" \
        "$HANG_BOUND99" "$(awk -v a="${FO_P99[hanging]}" -v b="$HANG_BOUND99" 'BEGIN { print a - b }')"
    local any=0
    for key in direct refused backup hanging; do
        if [[ -n "${FO_BAD[$key]:-}" ]]; then
            any=1
            echo "  NOT OK $key: ${FO_BAD[$key]}"
        fi
    done
    [[ $any -eq 1 ]] || echo "  every request: HTTP 200 from the expected provider"
}

# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

main() {
    local tools=(nginx curl)
    if selected passthrough || selected cached || selected logged; then tools+=(wrk); fi
    if selected failover || selected idle; then tools+=(python3); fi
    check_deps "${tools[@]}"

    WORK_DIR="$(mktemp -d -t marketgate-bench.XXXXXX)"
    # nginx workers drop to an unprivileged user when started as root; let
    # them reach their temp dirs. Nothing secret lives here.
    chmod 755 "$WORK_DIR"

    free_port PORT_UP; free_port PORT_NGINX; free_port PORT_MG; free_port PORT_ADMIN
    free_port PORT_NGINX_LOGGED; free_port PORT_MG_LOGGED; free_port PORT_ADMIN_LOGGED
    free_port PORT_DEAD; free_port PORT_HANG
    free_port PORT_FO_DIRECT; free_port PORT_FO_DIRECT_ADMIN
    free_port PORT_FO_REFUSED; free_port PORT_FO_REFUSED_ADMIN
    free_port PORT_FO_HANG; free_port PORT_FO_HANG_ADMIN
    URL_NGINX="http://127.0.0.1:$PORT_NGINX/price.json"
    URL_MG="http://127.0.0.1:$PORT_MG/raw/bench/price.json"
    URL_MG_CACHED="http://127.0.0.1:$PORT_MG/v1/price?$PRICE_QUERY"
    URL_NGINX_LOGGED="http://127.0.0.1:$PORT_NGINX_LOGGED/price.json"
    URL_MG_LOGGED="http://127.0.0.1:$PORT_MG_LOGGED/raw/bench/price.json"

    BODY="$(make_body)"
    printf '%s' "$BODY" > "$WORK_DIR/expected.body"

    local load_before
    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

    log "work dir $WORK_DIR; scenarios: ${SELECTED[*]}"
    start_upstream
    MG_PID=""
    if selected passthrough || selected cached || selected idle; then
        start_nginx_proxy
        start_marketgate
        PID_OF[nginx]="$NGINX_PID"
        PID_OF[marketgate]="$MG_PID"
    fi

    local started=$SECONDS s
    for s in "${SELECTED[@]}"; do
        "scenario_$s"
    done
    local elapsed=$(( SECONDS - started ))

    local mg_rss="" mg_hwm="" nginx_rss=""
    if [[ -n "$MG_PID" ]]; then
        kill -0 "$MG_PID" 2> /dev/null || { cat "$WORK_DIR/mg-main.log" >&2; die "marketgate exited during the run"; }
        mg_rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$MG_PID/status")"
        mg_hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$MG_PID/status")"
        nginx_rss="$(rss_tree_kib "$NGINX_PID")"
    fi

    # ---- Report (stdout) ----
    echo "================================================================"
    echo "marketgate benchmark: ${SELECTED[*]}"
    echo "================================================================"
    echo "command:        (cd $REPO_ROOT && ${SCENARIOS_ENV:+SCENARIOS=\"$SCENARIOS_ENV\" }$ORIG_CMDLINE)"
    if [[ -n "$MG_PID" ]]; then
        echo "wrk:            wrk ${WRK_ARGS[*]} -d$DURATION URL   (warm-up -d$WARMUP, $ROUNDS round(s), alternating)"
        echo "urls:           nginx $URL_NGINX"
        selected passthrough && echo "                marketgate passthrough $URL_MG"
        selected cached && echo "                marketgate cached $URL_MG_CACHED"
    fi
    echo "machine:        $CPUS CPU(s) ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo))"
    echo "load avg:       $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after (1/5/15 min)"
    echo "nginx workers:  proxy $NGINX_WORKERS (= CPU count, as marketgate's one runtime per core), upstream $UPSTREAM_WORKERS"
    echo "versions:       $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }' || true), $("$MARKETGATE_BIN" --version 2>&1)"
    echo "binary:         $MARKETGATE_BIN (modified $(date -r "$MARKETGATE_BIN" '+%F %T'))"
    echo "bodies:         ${#BODY} bytes application/json from the upstream nginx (/price.json);"
    echo "                ${#PRICE_BODY} bytes at /api/v3/ticker/price${CACHED_BODY_BYTES:+, mapped to a ${CACHED_BODY_BYTES}-byte /v1/price answer}"
    echo "upstream pools: marketgate pool_max_idle_per_host ${MG_POOL_MAX_IDLE:-default (256)}; nginx keepalive 64 per worker"
    echo "measured time:  ${elapsed}s"
    if [[ $BUILD_SEEN -eq 1 ]]; then
        echo "WARNING:        a Rust build (cargo/rustc/linker) was running during the benchmark; figures are noisy"
    fi

    selected passthrough && print_pair passthrough
    if selected cached; then
        print_pair cached
        echo "  marketgate cache lookups during the scenario: $CACHE_COUNTS"
    fi
    if selected logged; then
        print_pair logged
        echo "  access lines written: $LOGGED_LINES; marketgate lines dropped (slow output): ${LOGGED_DROPPED:-0}"
    fi
    if selected idle; then
        echo
        echo "Scenario: idle   ($IDLE_CONNECTIONS keep-alive connections, one request each, then idle)"
        local who
        for who in nginx marketgate; do
            printf '  %-11s RSS before %s MiB, with the connections %s MiB: %s KiB per connection; after they closed (and a short burst) %s MiB\n' \
                "$who" "$(kib_to_mib "${IDLE_BEFORE[$who]}")" "$(kib_to_mib "${IDLE_DURING[$who]}")" \
                "${IDLE_PER_CONN[$who]}" "$(kib_to_mib "${IDLE_AFTER[$who]}")"
        done
    fi
    selected failover && print_failover
    [[ ${#PAIRS[@]} -gt 0 ]] && record_ratios "$REPO_ROOT/bench/ratios.txt"

    if [[ -n "$MG_PID" ]]; then
        echo
        echo "marketgate memory after the runs: VmRSS $(kib_to_mib "$mg_rss") MiB, peak (VmHWM) $(kib_to_mib "$mg_hwm") MiB"
        echo "nginx proxy memory (master+workers, sum of VmRSS): $(kib_to_mib "$nginx_rss") MiB"
    fi
    echo
    echo "Aims (informational, the script does not fail on them):"
    if selected passthrough; then
        aim "passthrough req/s ratio >= 1.0 (${RATIO_RPS[passthrough]})" 'x >= 1.0' "${RATIO_RPS[passthrough]}"
        aim "passthrough p99 ratio <= 1.0 (${RATIO_P99[passthrough]})" 'x <= 1.0' "${RATIO_P99[passthrough]}"
        aim "passthrough CPU us/request <= 1.2x nginx's (${CPU_MEDIAN[passthrough/marketgate]} vs ${CPU_MEDIAN[passthrough/nginx]})" \
            "x <= 1.2 * ${CPU_MEDIAN[passthrough/nginx]:-0}" "${CPU_MEDIAN[passthrough/marketgate]:-0}"
    fi
    if selected logged; then
        aim "logged req/s ratio >= 1.0 (${RATIO_RPS[logged]})" 'x >= 1.0' "${RATIO_RPS[logged]}"
    fi
    if selected idle; then
        aim "idle keep-alive connection <= 8 KiB (${IDLE_PER_CONN[marketgate]})" 'x <= 8' "${IDLE_PER_CONN[marketgate]}"
        aim "RSS after the connections closed within 20 % of before ($(kib_to_mib "${IDLE_AFTER[marketgate]}") vs $(kib_to_mib "${IDLE_BEFORE[marketgate]}") MiB)" \
            "x <= 1.2 * ${IDLE_BEFORE[marketgate]:-0}" "${IDLE_AFTER[marketgate]:-0}"
    fi
    if selected cached; then
        aim "cached req/s ratio >= 2.2 (${RATIO_RPS[cached]})" 'x >= 2.2' "${RATIO_RPS[cached]}"
    fi
    if [[ -n "$MG_PID" ]]; then
        aim "RSS after the runs <= 20 MiB ($(kib_to_mib "$mg_rss"))" 'x <= 20 * 1024' "$mg_rss"
    fi
    if selected failover; then
        aim "refusing adds < 2 ms (${REFUSED_ADDS})" 'x < 2' "$REFUSED_ADDS"
        aim "hanging p50 < hedge_after + backup p50 (${FO_P50[hanging]} < ${HANG_BOUND50})" "x < $HANG_BOUND50" "${FO_P50[hanging]}"
        aim "hanging p99 < hedge_after + backup p99 (${FO_P99[hanging]} < ${HANG_BOUND99})" "x < $HANG_BOUND99" "${FO_P99[hanging]}"
        aim "hanging p99 < 1000 ms (${FO_P99[hanging]})" 'x < 1000' "${FO_P99[hanging]}"
        local n_ok=$(( FO_OK[direct] + FO_OK[refused] + FO_OK[backup] + FO_OK[hanging] ))
        aim "every failover request 200 from the expected provider ($n_ok/$(( 4 * FAILOVER_REQUESTS )))" \
            "x == $(( 4 * FAILOVER_REQUESTS ))" "$n_ok"
    fi
}

main
