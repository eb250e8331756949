#!/usr/bin/env bash
# bench/ab.sh — two marketgate builds side by side: CPU time per request of each,
# in short wrk runs that alternate between them, A first in half the rounds and
# B first in the other half.
#
# bench/passthrough.sh compares marketgate with nginx; on this VM its ratios move
# by 10 % and more between runs of one binary, so a change of a few percent cannot
# be seen there. Here both builds run at once, in front of one loopback nginx
# upstream, and each round gives both a run of the same length back to back. On
# this VM the one that runs first in a round often does better (the machine drifts
# within a round), so the order alternates and the result is given for each order
# and for both together: the mean of the two orders' mean differences, in which the
# order's effect cancels.
#
# Usage: bench/ab.sh A_BINARY B_BINARY [--install] [--help]
#
# Environment overrides (defaults in brackets):
#   SCENARIOS    [passthrough cached]   raw passthrough (1 KB), /v1/price cache hit
#   ROUNDS       [8]    rounds per scenario (an even number: half in each order)
#   DURATION     [4]    seconds of each wrk run
#   CONNECTIONS  [16]   wrk connections
#
# CPU time is the process's user + system time from /proc over each run, divided
# by the requests wrk completed. Only loopback addresses are used; every process
# started here is stopped on exit.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"
# shellcheck source=bench/setup.sh
source "$REPO_ROOT/bench/setup.sh"

DO_INSTALL=0
BINS=()
for arg in "$@"; do
    case "$arg" in
        --install) DO_INSTALL=1 ;;
        -h | --help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
        *) BINS+=("$arg") ;;
    esac
done
[[ ${#BINS[@]} -eq 2 ]] || { echo "usage: bench/ab.sh A_BINARY B_BINARY (try --help)" >&2; exit 2; }
for b in "${BINS[@]}"; do [[ -x "$b" ]] || die "not an executable: $b"; done

SCENARIOS="${SCENARIOS:-passthrough cached}"
ROUNDS="${ROUNDS:-8}"
DURATION="${DURATION:-4}"
CONNECTIONS="${CONNECTIONS:-16}"
OUT_DIR=""
UPSTREAM_WORKERS=1
MG_POOL_MAX_IDLE=""
MARKETGATE_BIN="${BINS[0]}"
for s in $SCENARIOS; do
    [[ " passthrough cached " == *" $s "* ]] || die "unknown scenario: $s (known: passthrough cached)"
done
(( ROUNDS >= 2 && ROUNDS % 2 == 0 )) || die "ROUNDS must be an even number of at least 2"
check_deps nginx wrk curl

WORK_DIR="$(mktemp -d /tmp/marketgate-ab.XXXXXX)"
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

free_port PORT_UP
BODY="$(make_body)"
start_upstream

declare -a MG_PORT MG_PID
declare -A got
for i in 0 1; do
    free_port PORT_MG
    free_port PORT_ADMIN
    mg_main_config > "$WORK_DIR/mg$i.toml"
    spawn NEW_PID "$WORK_DIR/mg$i.log" "${BINS[$i]}" --config "$WORK_DIR/mg$i.toml"
    wait_http_200 "http://127.0.0.1:$PORT_MG/raw/bench/price.json" "$NEW_PID" "$WORK_DIR/mg$i.log"
    MG_PORT[i]="$PORT_MG"
    MG_PID[i]="$NEW_PID"
done
log "A: ${BINS[0]} (pid ${MG_PID[0]}), B: ${BINS[1]} (pid ${MG_PID[1]})"

cpu_ticks() { cpu_ticks_split "$1" | awk '{ print $1 + $2 }'; }

# one_run INDEX URL OUT: a wrk run against build INDEX; appends "rps us_per_request".
one_run() {
    local i="$1" url="$2" before after
    before="$(cpu_ticks "${MG_PID[$i]}")"
    timeout $(( DURATION + 30 )) wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$url" > "$WORK_DIR/wrk.txt" 2>&1 ||
        die "wrk failed: $(cat "$WORK_DIR/wrk.txt")"
    after="$(cpu_ticks "${MG_PID[$i]}")"
    local reqs rps
    reqs="$(parse_requests "$WORK_DIR/wrk.txt")"
    rps="$(parse_rps "$WORK_DIR/wrk.txt")"
    [[ -n "$reqs" && "$reqs" -gt 0 ]] || die "wrk completed no requests against $url"
    awk -v r="$rps" -v t=$(( after - before )) -v n="$reqs" -v hz="$CLK_TCK" \
        'BEGIN { printf "%s %.2f\n", r, t * 1e6 / hz / n }'
}

for s in $SCENARIOS; do
    case "$s" in
        passthrough) path="/raw/bench/price.json" ;;
        cached) path="/v1/price?$PRICE_QUERY" ;;
    esac
    for i in 0 1; do # the first answer of a cached route is a miss
        curl -s -o /dev/null --max-time 5 "http://127.0.0.1:${MG_PORT[$i]}$path" || true
    done
    : > "$WORK_DIR/$s.rounds"
    log "[$s] $ROUNDS rounds of ${DURATION}s per build, $CONNECTIONS connections"
    for r in $(seq 1 "$ROUNDS"); do
        if (( r % 2 )); then order="0 1"; else order="1 0"; fi
        got=()
        for i in $order; do
            got[$i]="$(one_run "$i" "http://127.0.0.1:${MG_PORT[$i]}$path")"
        done
        first=$(( r % 2 ? 0 : 1 ))
        echo "$r $first ${got[0]} ${got[1]}" >> "$WORK_DIR/$s.rounds"
        log "[$s] round $r ($( ((first == 0)) && echo "A first" || echo "B first")): A ${got[0]#* } us/req, B ${got[1]#* } us/req"
    done
done

echo
echo "marketgate A/B: CPU time (user + system) per request, $ROUNDS rounds of ${DURATION}s per build"
echo "  A: ${BINS[0]}"
echo "  B: ${BINS[1]}"
for s in $SCENARIOS; do
    echo
    echo "$s:"
    # Columns: round, who went first (0 = A), A rps, A us, B rps, B us.
    awk -v s="$s" '
        function med(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { n++; ar[n] = $3; au[n] = $4; br[n] = $5; bu[n] = $6
          d = $6 - $4; sum[$2] += d; cnt[$2]++; if (d < 0) bless++ }
        END {
            printf "  CPU us/request, median: A %.2f, B %.2f\n", med(au, n), med(bu, n)
            printf "  req/s, median:          A %.0f, B %.0f\n", med(ar, n), med(br, n)
            da = sum[0] / cnt[0]; db = sum[1] / cnt[1]
            printf "  B - A, mean per round:  %+.2f us with A first, %+.2f us with B first\n", da, db
            printf "  B - A, both orders:     %+.2f us (%+.1f %% of A), B lower in %d of %d rounds\n",
                (da + db) / 2, 100 * (da + db) / 2 / med(au, n), bless, n
        }' "$WORK_DIR/$s.rounds"
done
