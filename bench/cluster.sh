#!/usr/bin/env bash
# bench/cluster.sh — what sharing a provider budget through Redis adds per request.
#
# Two marketgate instances in front of the same loopback upstream (an nginx that
# returns a small JSON body), both with a per-minute quota on the provider so that
# every request takes budget: `local` counts it in the process, `shared` has
# [cluster] pointing at a real redis-server on loopback and counts it in Redis
# (one Lua script call per request). Both serve the raw passthrough route.
#
#   sequential  REQUESTS requests one after another over one keep-alive connection
#               (curl), alternating local / shared for ROUNDS rounds: p50, p99, mean
#   loaded      wrk --latency -c CONNECTIONS for DURATION, alternating: req/s, p50, p99
#   misses      MISSES sequential requests to a cached normalized route (/v1/ohlcv), each
#               with a new key (limit=1, 2, ...), so every one is a cache miss: on the
#               shared instance a miss looks in Redis, takes the fill lock, fetches and
#               stores the answer for the other replicas. p50 and p99 per miss, and the
#               Redis commands each miss sends (redis-cli MONITOR, counting only the
#               commands marketgate sends, not those its scripts run inside Redis)
#
# The report gives each figure for local and shared and the difference (the added
# latency of the shared path). It also reads /api/system/cluster to prove the shared
# instance counted in Redis (shared_takes) and never fell back (local_takes).
#
# Usage: bench/cluster.sh [--quick] [--help]
# Environment: REQUESTS [2000], ROUNDS [3], CONNECTIONS [8], DURATION [4s], MISSES [300],
#   MARKETGATE_BIN [target/release/marketgate], OUT_DIR [unset: raw outputs kept there].
# Needs nginx, wrk, curl and redis-server (apt-get install nginx-light wrk curl
# redis-server). Only loopback addresses are used; everything started is stopped on exit.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done
if [[ $QUICK -eq 1 ]]; then : "${REQUESTS:=300}" "${ROUNDS:=1}" "${DURATION:=2s}" "${MISSES:=100}"; fi
REQUESTS="${REQUESTS:-2000}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-8}"
DURATION="${DURATION:-4s}"
MISSES="${MISSES:-300}"
(( MISSES * ROUNDS <= 1000 )) || die "MISSES x ROUNDS must be at most 1000 (the largest ohlcv limit)"
MARKETGATE_BIN="${MARKETGATE_BIN:-$REPO_ROOT/target/release/marketgate}"
OUT_DIR="${OUT_DIR:-}"
DO_INSTALL=0
WRK_ARGS=(--latency -t1 -c"$CONNECTIONS")

trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

check_deps nginx wrk curl redis-server redis-cli

WORK_DIR="$(mktemp -d -t marketgate-cluster-bench.XXXXXX)"
chmod 755 "$WORK_DIR"
free_port PORT_UP; free_port PORT_REDIS
free_port PORT_LOCAL; free_port PORT_LOCAL_ADMIN
free_port PORT_SHARED; free_port PORT_SHARED_ADMIN

BODY='[{"symbol":"BTCUSDT","price":"18229.90000000"},{"symbol":"ETHUSDT","price":"1395.60000000"}]'
KLINES='[[1654646400000,"31111.75","31305.48","29839.64","30189.27","27741.65",1654732799999,"0",0,"0","0","0"]]'

{
    nginx_common upstream 1
    echo "http {"
    nginx_http_common upstream
    cat << EOF
    server {
        listen 127.0.0.1:$PORT_UP;
        default_type application/json;
        location /api/v3/klines { return 200 '$KLINES'; }
        location / { return 200 '$BODY'; }
    }
}
EOF
} > "$WORK_DIR/upstream.conf"
start_nginx UP_PID upstream "$WORK_DIR/upstream.conf"
wait_http_200 "http://127.0.0.1:$PORT_UP/price" "$UP_PID" "$WORK_DIR/upstream.error.log"

spawn REDIS_PID "$WORK_DIR/redis.log" redis-server --port "$PORT_REDIS" --bind 127.0.0.1 --save "" --appendonly no
wait_port "$PORT_REDIS" "$REDIS_PID" "$WORK_DIR/redis.log"

# mg_config PORT ADMIN [REDIS_URL]
mg_config() {
    cat << EOF
[server]
listen = "127.0.0.1:$1"
admin_listen = "127.0.0.1:$2"
[log]
level = "warn"
EOF
    if [[ -n "${3:-}" ]]; then
        printf '[cluster]\nredis = "%s"\nreplicas = 3\negress = "bench"\n' "$3"
    fi
    cat << EOF
[assets]
BTC = { name = "Bitcoin" }
[providers.bench]
hosts = ["http://127.0.0.1:$PORT_UP"]
# Far above what the run sends: every request takes budget, none is refused.
quota = { limit = 100000000, per = "1m" }
# No quota here: a miss's Redis traffic is the shared cache's alone.
[providers.klines]
hosts = ["http://127.0.0.1:$PORT_UP"]
symbols = { format = "{BASE}{QUOTE}", quote = { USD = "USDT" } }
[providers.klines.ops.ohlcv]
request = { path = "/api/v3/klines", query = { symbol = "{id}", interval = "{interval}", limit = "{limit}" } }
intervals = { "1d" = "1d" }
rows = { ts = 0, open = 1, high = 2, low = 3, close = 4, volume = 5 }
response = 'map({ts: .[0], open: (.[1] | tonumber), high: (.[2] | tonumber), low: (.[3] | tonumber), close: (.[4] | tonumber), volume: (.[5] | tonumber)})'
[routes]
"/raw/{provider}/{*path}" = { passthrough = "*" }
"/v1/ohlcv" = { op = "ohlcv", pool = [["klines"]], cache = "5m", hedge_after = "off" }
EOF
}
mg_config "$PORT_LOCAL" "$PORT_LOCAL_ADMIN" > "$WORK_DIR/local.toml"
mg_config "$PORT_SHARED" "$PORT_SHARED_ADMIN" "redis://127.0.0.1:$PORT_REDIS" > "$WORK_DIR/shared.toml"
for name in local shared; do
    spawn MG_PID "$WORK_DIR/$name.log" "$MARKETGATE_BIN" --config "$WORK_DIR/$name.toml"
    port_var="PORT_${name^^}"
    wait_http_200 "http://127.0.0.1:${!port_var}/raw/bench/price" "$MG_PID" "$WORK_DIR/$name.log"
done
# wait_shared SECONDS: until the shared instance uses Redis (after its first heartbeat;
# after a load run, once calls that were slower than cluster.timeout stop counting).
wait_shared() {
    local view
    for _ in $(seq 1 $(($1 * 10))); do
        curl -s "http://127.0.0.1:$PORT_SHARED_ADMIN/api/system/cluster" | grep -Eq '"counting_shared": *true' && return 0
        sleep 0.1
    done
    view="$(curl -s "http://127.0.0.1:$PORT_SHARED_ADMIN/api/system/cluster")"
    die "the shared instance does not use Redis: $view"
}
wait_shared 5

URL_LOCAL="http://127.0.0.1:$PORT_LOCAL/raw/bench/price"
URL_SHARED="http://127.0.0.1:$PORT_SHARED/raw/bench/price"

declare -A SEQ WRK_OUT
for round in $(seq 1 "$ROUNDS"); do
    for name in local shared; do
        url_var="URL_${name^^}"
        note_build
        log "round $round/$ROUNDS: $name, $REQUESTS sequential requests"
        latency_series "$WORK_DIR/seq-$name-$round" "${!url_var}" "$REQUESTS"
        SEQ[$name]+="$(awk '$1 == 200 { print $2 }' "$WORK_DIR/seq-$name-$round.tsv")"$'\n'
        log "round $round/$ROUNDS: $name, wrk -c$CONNECTIONS -d$DURATION"
        run_wrk "${!url_var}" "$DURATION" "$WORK_DIR/wrk-$name-$round.txt"
        WRK_OUT[$name]+="$WORK_DIR/wrk-$name-$round.txt "
    done
done

# Misses: every request a new key; local and shared take turns per round.
MISS_PATH="/v1/ohlcv?symbol=BTC&interval=1d&limit=@I@"
declare -A MISS
MONITOR_PID=""
for round in $(seq 1 "$ROUNDS"); do
    for name in local shared; do
        port_var="PORT_${name^^}"
        log "round $round/$ROUNDS: $name, $MISSES cache misses"
        if [[ $name == shared ]]; then
            wait_shared 15
            redis-cli -p "$PORT_REDIS" monitor > "$WORK_DIR/monitor-$round.txt" 2> /dev/null &
            MONITOR_PID=$!
            PIDS+=("$MONITOR_PID")
            sleep 0.2
        fi
        FIRST=$(((round - 1) * MISSES + 1)) latency_series "$WORK_DIR/miss-$name-$round" \
            "http://127.0.0.1:${!port_var}$MISS_PATH" "$MISSES"
        if [[ $name == shared ]]; then
            sleep 0.2
            kill "$MONITOR_PID" 2> /dev/null || true
            wait "$MONITOR_PID" 2> /dev/null || true
        fi
        MISS[$name]+="$(awk '$1 == 200 { print $2 }' "$WORK_DIR/miss-$name-$round.tsv")"$'\n'
        bad=$(awk '$1 != 200' "$WORK_DIR/miss-$name-$round.tsv" | wc -l)
        [[ $bad -eq 0 ]] || die "$name: $bad of $MISSES misses did not answer 200 (see $WORK_DIR/miss-$name-$round.tsv)"
    done
done
# Commands marketgate sent (not those run inside its scripts, marked "lua"), leaving
# out the heartbeat's (once a second) and the bench and quota calls.
MISS_CMDS=$(cat "$WORK_DIR"/monitor-*.txt | grep -v ' lua\]' | grep -Ev '"(ZADD|ZREMRANGEBYSCORE|PEXPIRE|ZRANGE|PING|SUBSCRIBE)"' |
    grep -c '^[0-9]' || true)

# series_stats VALUES: p50 p99 mean of a series of ms values (one per line), and the count.
series_stats() {
    printf '%s' "$1" | awk 'NF' | sort -g | awk '{ v[++n] = $1; s += $1 } END {
        if (!n) { print "- - - 0"; exit }
        printf "%.3f %.3f %.3f %d\n", v[int(0.5 * (n - 1)) + 1], v[int(0.99 * (n - 1)) + 1], s / n, n }'
}
# wrk_stats NAME: median over rounds of req/s, p50 and p99 (ms), and errors seen.
wrk_stats() {
    local f rps=() p50=() p99=() errors=""
    for f in ${WRK_OUT[$1]}; do
        rps+=("$(parse_rps "$f")")
        p50+=("$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")")
        p99+=("$(parse_p99 "$f")")
        errors+="$(parse_errors "$f")"
    done
    printf '%s %s %s %s\n' "$(median "${rps[@]}")" "$(median "${p50[@]}")" "$(median "${p99[@]}")" "${errors:-none}"
}

read -r ML50 ML99 _ MLN <<< "$(series_stats "${MISS[local]}")"
read -r MS50 MS99 _ MSN <<< "$(series_stats "${MISS[shared]}")"
read -r L50 L99 LMEAN LN <<< "$(series_stats "${SEQ[local]}")"
read -r S50 S99 SMEAN SN <<< "$(series_stats "${SEQ[shared]}")"
read -r LRPS LW50 LW99 LERR <<< "$(wrk_stats local)"
read -r SRPS SW50 SW99 SERR <<< "$(wrk_stats shared)"
VIEW="$(curl -s "http://127.0.0.1:$PORT_SHARED_ADMIN/api/system/cluster")"
counter() { printf '%s' "$VIEW" | grep -Eo "\"$1\": *[0-9]+" | grep -Eo '[0-9]+$'; }
ERRORS="$(curl -s "http://127.0.0.1:$PORT_SHARED_ADMIN/metrics" | awk '/^marketgate_cluster_errors_total/ { s += $NF } END { print s + 0 }')"
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.3f", b - a }'; }

echo "================================================================"
echo "marketgate: the shared (Redis) budget path vs the local one"
echo "================================================================"
echo "command:   (cd $REPO_ROOT && REQUESTS=$REQUESTS ROUNDS=$ROUNDS CONNECTIONS=$CONNECTIONS DURATION=$DURATION bench/cluster.sh)"
echo "machine:   $(nproc) CPU(s); $(redis-server --version | awk '{ print $1, $2, $3 }'); $("$MARKETGATE_BIN" --version 2>&1)"
[[ $BUILD_SEEN -eq 1 ]] && echo "WARNING:   a Rust build ran during the benchmark; figures are noisy"
printf '\n%-34s %10s %10s %10s\n' "" local shared added
printf '%-34s %10s %10s %10s\n' "sequential p50 (ms, n=$LN/$SN)" "$L50" "$S50" "$(added "$L50" "$S50")"
printf '%-34s %10s %10s %10s\n' "sequential p99 (ms)" "$L99" "$S99" "$(added "$L99" "$S99")"
printf '%-34s %10s %10s %10s\n' "sequential mean (ms)" "$LMEAN" "$SMEAN" "$(added "$LMEAN" "$SMEAN")"
printf '%-34s %10s %10s %10s\n' "wrk -c$CONNECTIONS req/s (median)" "$LRPS" "$SRPS" "$(awk -v a="$LRPS" -v b="$SRPS" 'BEGIN { printf "%.2fx", b / a }')"
printf '%-34s %10s %10s %10s\n' "wrk -c$CONNECTIONS p50 (ms)" "$LW50" "$SW50" "$(added "$LW50" "$SW50")"
printf '%-34s %10s %10s %10s\n' "wrk -c$CONNECTIONS p99 (ms)" "$LW99" "$SW99" "$(added "$LW99" "$SW99")"
printf '%-34s %10s %10s %10s\n' "cache miss p50 (ms, n=$MLN/$MSN)" "$ML50" "$MS50" "$(added "$ML50" "$MS50")"
printf '%-34s %10s %10s %10s\n' "cache miss p99 (ms)" "$ML99" "$MS99" "$(added "$ML99" "$MS99")"
printf '%-34s %10s %10s\n' "Redis commands per miss" "0" "$(awk -v c="$MISS_CMDS" -v n="$MSN" 'BEGIN { printf "%.2f", (n ? c / n : 0) }')"
echo
echo "shared instance: shared_takes=$(counter shared_takes) local_takes=$(counter local_takes) shared_refusals=$(counter shared_refusals) redis errors=$ERRORS"
echo "wrk errors:      local $LERR; shared $SERR"
