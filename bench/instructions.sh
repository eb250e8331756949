#!/usr/bin/env bash
# bench/instructions.sh — marketgate's CPU instructions per request, counted by
# valgrind's callgrind: the same figure for the same binary on any run, whatever
# else the machine is doing, so a change worth 1 % shows as 1 % (wrk's req/s on
# this VM moves by more than that from one run to the next).
#
# marketgate runs under callgrind in front of a loopback nginx upstream (the
# same upstream and marketgate config as bench/passthrough.sh). For each
# scenario, WARMUP_REQUESTS requests are sent uncounted, the counters are zeroed,
# REQUESTS requests are sent one after another on one keep-alive connection, and
# the counters are dumped:
#   passthrough  GET /raw/bench/price.json (1 KB, the lean upstream path)
#   cached       GET /v1/price?symbols=BTC,ETH (a cache hit)
# Printed: instructions per request, and the functions that take most of them,
# inclusive (with what they call) and self. Instructions are not time (a cache
# miss or a system call costs more than its count says, the kernel's part is not
# counted at all): the figure guards marketgate's user-space work, wrk's runs in
# bench/passthrough.sh stay the measure of speed.
#
# The figures go to bench/instructions.txt; a scenario more than 2 % above the
# committed file is reported (never a failure). Commit the file to make a run the
# baseline.
#
# Usage: bench/instructions.sh [--install] [--help]
#
# Environment overrides (defaults in brackets):
#   SCENARIOS        [passthrough cached]
#   REQUESTS         [2000]  counted requests per scenario
#   WARMUP_REQUESTS  [300]   uncounted requests before them
#   MARKETGATE_BIN   [target/profiling/marketgate if built, else target/release/marketgate]
#                    (`cargo build --profile profiling` keeps line tables, so the
#                    function list names them; the instructions are the release
#                    build's either way)
#   TOP              [25]    functions listed per scenario
#   OUT_DIR          [unset] if set, the callgrind files and logs are copied there
#                    (open them with callgrind_annotate or kcachegrind)
#
# Only loopback addresses are used. Every process started here is stopped on exit.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"
# shellcheck source=bench/setup.sh
source "$REPO_ROOT/bench/setup.sh"

DO_INSTALL=0
for arg in "$@"; do
    case "$arg" in
        --install) DO_INSTALL=1 ;;
        -h | --help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

SCENARIOS="${SCENARIOS:-passthrough cached}"
REQUESTS="${REQUESTS:-2000}"
WARMUP_REQUESTS="${WARMUP_REQUESTS:-300}"
TOP="${TOP:-25}"
OUT_DIR="${OUT_DIR:-}"
if [[ -z "${MARKETGATE_BIN:-}" ]]; then
    MARKETGATE_BIN="$REPO_ROOT/target/release/marketgate"
    [[ -x "$REPO_ROOT/target/profiling/marketgate" ]] && MARKETGATE_BIN="$REPO_ROOT/target/profiling/marketgate"
fi
UPSTREAM_WORKERS=1
MG_POOL_MAX_IDLE=""
BASELINE="$REPO_ROOT/bench/instructions.txt"
APT_CMD="apt-get update && apt-get install -y nginx-light valgrind curl python3"

for s in $SCENARIOS; do
    [[ " passthrough cached " == *" $s "* ]] || die "unknown scenario: $s (known: passthrough cached)"
done
if ! command -v valgrind > /dev/null 2>&1 && [[ $DO_INSTALL -eq 1 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind
fi
check_deps nginx valgrind callgrind_control callgrind_annotate curl python3

WORK_DIR="$(mktemp -d /tmp/marketgate-instructions.XXXXXX)"
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

free_port PORT_UP
free_port PORT_MG
free_port PORT_ADMIN
BODY="$(make_body)"
start_upstream

mg_main_config > "$WORK_DIR/mg.toml"

# MIMALLOC_PURGE_DELAY set: marketgate would otherwise restart itself to set it
# (src/allocator.rs), out of valgrind's sight.
spawn MG_PID "$WORK_DIR/mg.log" env MIMALLOC_PURGE_DELAY=0 \
    valgrind --tool=callgrind --callgrind-out-file="$WORK_DIR/callgrind.out" \
    "$MARKETGATE_BIN" --config "$WORK_DIR/mg.toml"
log "marketgate under callgrind (pid $MG_PID, $MARKETGATE_BIN); waiting for it to answer (up to 120 s)"
ready=0
for _ in $(seq 1 240); do
    kill -0 "$MG_PID" 2> /dev/null || { cat "$WORK_DIR/mg.log" >&2; die "marketgate exited under valgrind"; }
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT_MG/raw/bench/price.json" || true)" == 200 ]]; then
        ready=1
        break
    fi
    sleep 0.5
done
[[ $ready -eq 1 ]] || { cat "$WORK_DIR/mg.log" >&2; die "marketgate did not answer within 120 s"; }

# drive.py URL COUNT: COUNT sequential GETs on one keep-alive connection; every
# answer must be a 200 (a cached one a hit).
cat > "$WORK_DIR/drive.py" << 'EOF'
import http.client, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
count = int(sys.argv[2])
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
target = url.path + ("?" + url.query if url.query else "")
for i in range(count):
    conn.request("GET", target)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        sys.exit(f"request {i + 1}: HTTP {resp.status}: {body[:200]!r}")
    cache = resp.getheader("x-marketgate-cache")
    if "/v1/" in target and i > 0 and cache != "hit":
        sys.exit(f"request {i + 1}: x-marketgate-cache {cache!r}, expected a hit")
conn.close()
EOF

# callgrind_control waits for marketgate to run guest code; its timers wake it at
# least once a second. Bounded all the same.
control() { timeout 120 callgrind_control "$@" "$MG_PID" > /dev/null; }

# top_functions --inclusive=yes|no FILE: the TOP functions of a dump, as instructions
# per request and share, without the source file and binary that callgrind_annotate
# adds.
top_functions() {
    callgrind_annotate --threshold=100 "$1" "$2" 2> /dev/null | awk -v top="$TOP" -v n="$REQUESTS" '
        /file:function/ { table = 1; getline; next }
        table && /^ *[0-9,]+ / {
            ir = $1; gsub(",", "", ir)
            line = $0
            sub(/^ *[0-9,]+ +/, "", line)
            share = line; sub(/\).*/, ")", share)
            sub(/^\([^)]*\) +/, "", line)
            sub(/^[^:]*:/, "", line)
            sub(/ \[[^]]*\]$/, "", line)
            # Where each thread starts: everything runs under them.
            if (line ~ /^(clone|start_thread|<std::sys::thread::unix::Thread>::new::thread_start|core::ops::function::FnOnce::call_once\{\{vtable.shim\}\}|std::sys::backtrace::__rust_begin_short_backtrace)$/) next
            printf "%8.0f %s  %s\n", ir / n, share, line
            if (++shown >= top) exit
        }
        table && /^$/ { exit }' || true
}

declare -A PER_REQUEST
for s in $SCENARIOS; do
    case "$s" in
        passthrough) url="http://127.0.0.1:$PORT_MG/raw/bench/price.json" ;;
        cached) url="http://127.0.0.1:$PORT_MG/v1/price?$PRICE_QUERY" ;;
    esac
    timeout 600 python3 "$WORK_DIR/drive.py" "$url" "$WARMUP_REQUESTS" || die "$s: warm-up failed"
    control --zero
    log "$s: $REQUESTS counted requests to $url"
    timeout 1200 python3 "$WORK_DIR/drive.py" "$url" "$REQUESTS" || die "$s: counted requests failed"
    control --dump="$s"
    dump="$(grep -l "^desc: Trigger: Client Request: $s\$" "$WORK_DIR"/callgrind.out.* 2> /dev/null | head -n 1 || true)"
    [[ -n "$dump" ]] || dump="$(ls -t "$WORK_DIR"/callgrind.out.* | head -n 1)"
    total="$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")"
    PER_REQUEST[$s]="$(awk -v t="$total" -v n="$REQUESTS" 'BEGIN { printf "%.0f", t / n }')"
    cp "$dump" "$WORK_DIR/$s.callgrind"
    top_functions --inclusive=yes "$WORK_DIR/$s.callgrind" > "$WORK_DIR/$s.inclusive.txt"
    top_functions --inclusive=no "$WORK_DIR/$s.callgrind" > "$WORK_DIR/$s.self.txt"
done

echo
echo "marketgate instructions per request (callgrind, $REQUESTS sequential requests on one connection; $MARKETGATE_BIN)"
for s in $SCENARIOS; do
    printf '\n%s: %s instructions per request\n' "$s" "${PER_REQUEST[$s]}"
    echo "  inclusive (instructions per request, share of all; with what each calls):"
    sed 's/^/    /' "$WORK_DIR/$s.inclusive.txt"
    echo "  self (instructions per request, share of all):"
    sed 's/^/    /' "$WORK_DIR/$s.self.txt"
done

# The baseline: compared, then overwritten.
echo
{
    echo "# bench/instructions.sh: marketgate's instructions per request (callgrind; lower is better)"
    for s in passthrough cached; do
        if [[ -n "${PER_REQUEST[$s]:-}" ]]; then
            echo "$s ${PER_REQUEST[$s]}"
        else # not run this time: the committed figure stays
            awk -v s="$s" '$1 == s' "$BASELINE" 2> /dev/null || true
        fi
    done
} > "$WORK_DIR/instructions.txt"
for s in $SCENARIOS; do
    old="$(awk -v s="$s" '$1 == s { print $2 }' "$BASELINE" 2> /dev/null || true)"
    if [[ -z "$old" ]]; then
        printf '  %-12s %10s (no committed figure)\n' "$s" "${PER_REQUEST[$s]}"
        continue
    fi
    awk -v s="$s" -v new="${PER_REQUEST[$s]}" -v old="$old" 'BEGIN {
        change = (new - old) * 100 / old
        flag = change > 2 ? "  REGRESSION: more than 2 % above the committed run" : ""
        printf "  %-12s %10d (committed %d, %+.1f %%)%s\n", s, new, old, change, flag
    }'
done
cp "$WORK_DIR/instructions.txt" "$BASELINE"
echo "Figures written to bench/instructions.txt (commit it to make it the next run's baseline)."
