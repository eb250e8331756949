# shellcheck shell=bash
# Settings (DURATION, ROUNDS, ...) come from the sourcing script, which also
# reads the results set here (BUILD_SEEN, RPS, ...).
# shellcheck disable=SC2154,SC2034
#
# bench/lib.sh — helpers for bench/passthrough.sh (sourced, not run).
#
# Process bookkeeping and cleanup, nginx config fragments, wrk runs and their
# parsing, sequential-latency series, statistics and report formatting. The
# sourcing script sets the settings (WORK_DIR, DURATION, ROUNDS, ...) and
# installs the traps that call `cleanup`.

# ----------------------------------------------------------------------------
# Generic helpers
# ----------------------------------------------------------------------------

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# wrk's -d accepts 10s / 2m / 1h; convert to seconds to bound each run.
duration_secs() {
    local d="$1"
    case "$d" in
        *s) echo "${d%s}" ;;
        *m) echo $(( ${d%m} * 60 )) ;;
        *h) echo $(( ${d%h} * 3600 )) ;;
        *) echo "$d" ;;
    esac
}

APT_CMD="apt-get update && apt-get install -y nginx-light wrk curl python3"
NGINX="$(command -v nginx 2> /dev/null || echo /usr/sbin/nginx)"

install_deps() {
    # The packaged nginx would start a system service on port 80 during
    # install; policy-rc.d returning 101 tells invoke-rc.d not to start it.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        log "creating /usr/sbin/policy-rc.d (exit 101) so nginx's service does not start"
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
    log "running: $APT_CMD"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light wrk curl python3
}

# check_deps TOOL... (nginx, wrk, curl, python3)
check_deps() {
    local missing=() tool
    for tool in "$@"; do
        case "$tool" in
            nginx) command -v nginx > /dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx) ;;
            *) command -v "$tool" > /dev/null 2>&1 || missing+=("$tool") ;;
        esac
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        if [[ $DO_INSTALL -eq 1 ]]; then
            install_deps
            return
        fi
        echo "missing: ${missing[*]}" >&2
        echo "install with (as root; create /usr/sbin/policy-rc.d with 'exit 101' first so nginx's" >&2
        echo "service does not start on port 80), or rerun with --install:" >&2
        echo "  $APT_CMD" >&2
        exit 1
    fi
    [[ -x "$MARKETGATE_BIN" ]] ||
        die "marketgate binary not found at $MARKETGATE_BIN (build with 'cargo build --release' or set MARKETGATE_BIN)"
}

# A port on 127.0.0.1 that nothing uses right now. Ports are taken below the
# kernel's ephemeral range: a proxy's outgoing connections leave thousands of
# TIME_WAIT sockets on ephemeral ports, and a listener cannot bind a port that
# is the local end of one of those. There is a small race until the server
# binds it, which the readiness checks would catch.
# Usage: free_port VAR (not $(...), so that USED_PORTS survives between calls).
USED_PORTS=" "
free_port() {
    local __var="$1" port low
    low="$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2> /dev/null || echo 32768)"
    (( low > 11000 )) || low=60000 # odd ephemeral range: fall back to high ports
    for _ in $(seq 1 200); do
        port=$(( 10000 + RANDOM % (low - 10000) ))
        [[ "$USED_PORTS" == *" $port "* ]] && continue
        if command -v ss > /dev/null 2>&1 &&
            [[ -n "$(ss -Htan "( sport = :$port )" 2> /dev/null)" ]]; then
            continue
        fi
        if ! (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
            USED_PORTS+="$port "
            printf -v "$__var" '%s' "$port"
            return
        fi
    done
    die "no free loopback port found"
}

# Whether something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# A compile on this (small) machine competes for the same CPUs; note it so
# noisy figures are not taken at face value.
BUILD_SEEN=0
note_build() {
    if pgrep '^(cargo|rustc|rust-lld|ld|ld\.lld|cc1)$' > /dev/null 2>&1; then BUILD_SEEN=1; fi
}

# Kernel-wide count of TCP connect()s so far. The delta over a run shows how
# many new connections were opened: wrk's own (= CONNECTIONS) plus whatever a
# proxy opened towards the upstream, i.e. how well it reuses connections.
tcp_active_opens() {
    awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "ActiveOpens") c = i; h = 1 }
                  else print $c }' /proc/net/snmp
}

# Sum of a Prometheus counter's samples whose line contains every FILTER
# (plain substrings such as 'outcome="ok"'), read from an admin /metrics URL.
# Usage: metric_sum URL NAME [FILTER...]
metric_sum() {
    local url="$1" name="$2" filters
    shift 2
    filters="$(IFS=$'\034'; echo "$*")"
    curl -s --max-time 5 "$url" | awk -v n="$name" -v filters="$filters" '
        BEGIN { nf = split(filters, f, "\034") }
        index($0, n "{") == 1 || $1 == n {
            ok = 1
            for (i = 1; i <= nf; i++) if (f[i] != "" && index($0, f[i]) == 0) ok = 0
            if (ok) s += $NF
        }
        END { printf "%d", s }'
}

# ----------------------------------------------------------------------------
# Process bookkeeping and cleanup
# ----------------------------------------------------------------------------

WORK_DIR=""
PIDS=()
WRK_PID=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    # timeout(1) passes TERM on to wrk.
    if [[ -n "$WRK_PID" ]]; then kill -TERM "$WRK_PID" 2> /dev/null || true; fi
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2> /dev/null || true
    done
    # Give them up to ~5 s to exit (nginx's master stops its workers on TERM),
    # then force. Children are found by parent pid, never by name.
    for _ in $(seq 1 50); do
        local alive=0
        for pid in "${PIDS[@]}"; do
            kill -0 "$pid" 2> /dev/null && alive=1
        done
        [[ $alive -eq 0 ]] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2> /dev/null; then
            pkill -KILL -P "$pid" 2> /dev/null || true
            kill -KILL "$pid" 2> /dev/null || true
        fi
        wait "$pid" 2> /dev/null || true
    done
    if [[ -n "$OUT_DIR" && -n "$WORK_DIR" && -d "$WORK_DIR" ]]; then
        mkdir -p "$OUT_DIR"
        cp -r "$WORK_DIR"/. "$OUT_DIR"/ 2> /dev/null || true
        log "raw outputs copied to $OUT_DIR"
    fi
    if [[ -n "$WORK_DIR" ]]; then rm -rf "$WORK_DIR"; fi
    exit "$rc"
}

# Start a command in the background, remember its pid for cleanup.
# Usage: spawn VAR logfile cmd args...
spawn() {
    local __var="$1" logfile="$2"
    shift 2
    "$@" > "$logfile" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    printf -v "$__var" '%s' "$pid"
}

# Wait until URL answers 200 (bounded), failing with the log on timeout.
wait_http_200() {
    local url="$1" pid="$2" logfile="$3"
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2> /dev/null; then
            cat "$logfile" >&2 || true
            die "process $pid exited before $url became ready"
        fi
        if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)" == 200 ]]; then
            return
        fi
        sleep 0.1
    done
    cat "$logfile" >&2 || true
    die "$url not ready after 10 s"
}

# Wait until 127.0.0.1:PORT accepts connections (bounded).
wait_port() {
    local port="$1" pid="$2" logfile="$3"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2> /dev/null || { cat "$logfile" >&2 || true; die "process $pid exited before port $port opened"; }
        port_open "$port" && return
        sleep 0.1
    done
    cat "$logfile" >&2 || true
    die "port $port not open after 10 s"
}

# ----------------------------------------------------------------------------
# nginx
# ----------------------------------------------------------------------------

# Common nginx main-context settings: everything that nginx would otherwise
# write under /var (pid, error log, temp dirs) goes to the run's own dir.
nginx_common() {
    local name="$1" workers="$2"
    cat << EOF
daemon off;
master_process on;
worker_processes $workers;
pid $WORK_DIR/$name.pid;
error_log $WORK_DIR/$name.error.log warn;
events { worker_connections 4096; }
EOF
}

nginx_http_common() {
    local name="$1"
    cat << EOF
    access_log off;
    client_body_temp_path $WORK_DIR/$name-tmp/body;
    proxy_temp_path       $WORK_DIR/$name-tmp/proxy;
    fastcgi_temp_path     $WORK_DIR/$name-tmp/fastcgi;
    uwsgi_temp_path       $WORK_DIR/$name-tmp/uwsgi;
    scgi_temp_path        $WORK_DIR/$name-tmp/scgi;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
EOF
}

start_nginx() {
    local __var="$1" name="$2" conf="$3"
    mkdir -p "$WORK_DIR/$name-tmp"
    # -e: keep even the pre-config error log off /var/log; -p: prefix for
    # any relative path.
    "$NGINX" -t -q -p "$WORK_DIR" -e "$WORK_DIR/$name.error.log" -c "$conf" ||
        { cat "$WORK_DIR/$name.error.log" >&2; die "nginx config $conf invalid"; }
    spawn "$__var" "$WORK_DIR/$name.out" \
        "$NGINX" -p "$WORK_DIR" -e "$WORK_DIR/$name.error.log" -c "$conf"
}

# ----------------------------------------------------------------------------
# wrk runs and parsing
# ----------------------------------------------------------------------------

# Run wrk, save its output, bounded by timeout(1) in case a target hangs.
# wrk runs in the background and we `wait` for it: wrk catches SIGINT and
# exits 0, and bash then skips the INT trap for a foreground child, so a
# Ctrl-C would not stop the script; `wait` is interrupted by the trap at once.
run_wrk() {
    local url="$1" dur="$2" out="$3"
    local limit=$(( $(duration_secs "$dur") + 30 ))
    timeout --kill-after=5 "$limit" \
        wrk "${WRK_ARGS[@]}" -d"$dur" "$url" > "$out" 2>&1 &
    WRK_PID=$!
    if ! wait "$WRK_PID"; then
        WRK_PID=""
        cat "$out" >&2
        die "wrk against $url failed or timed out"
    fi
    WRK_PID=""
}

# Latency value with unit (us, ms, s, m) -> milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000;
        else if (u == "m") n *= 60000;
        printf "%.3f", n }'
}

parse_rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
parse_p99() { to_ms "$(awk '$1 == "99%" { print $2 }' "$1")"; }
# Total requests wrk completed ("N requests in Xs").
parse_requests() { awk '/ requests in / { print $1; exit }' "$1"; }

# Errors wrk reports: non-2xx/3xx responses and socket errors. Empty if none.
parse_errors() {
    grep -E 'Non-2xx or 3xx responses|Socket errors' "$1" | sed 's/^ *//' | paste -sd ';' - || true
}

# ----------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------

median() {
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
        END { if (NR % 2) printf "%.3f", a[(NR + 1) / 2];
              else printf "%.3f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# Nearest-rank percentile Q (0-100) of the numbers in FILE, one per line.
percentile() {
    local q="$1" file="$2"
    sort -g "$file" | awk -v q="$q" '{ a[NR] = $1 }
        END { if (NR == 0) { print "-"; exit }
              k = int(q / 100 * NR); if (k < q / 100 * NR) k++; if (k < 1) k = 1
              printf "%.3f", a[k] }'
}

CLK_TCK="$(getconf CLK_TCK)"

# The utime and stime (clock ticks) of a process and its direct children.
cpu_ticks_split() {
    local pid="$1" u=0 s=0 p a b
    for p in "$pid" $(pgrep -P "$pid" || true); do
        # Fields after the ")" that ends comm: utime is the 12th, stime the 13th. A
        # process gone meanwhile counts 0 (not the previous one's figures again).
        a=0 b=0
        read -r a b < <(sed 's/.*) //' "/proc/$p/stat" 2> /dev/null | awk '{ print $12, $13 }') || true
        u=$(( u + ${a:-0} )); s=$(( s + ${b:-0} ))
    done
    echo "$u $s"
}
declare -A USER_US SYS_US

# Sum of VmRSS over a process and its direct children (nginx master+workers).
rss_tree_kib() {
    local pid="$1" total=0 p v
    for p in "$pid" $(pgrep -P "$pid" || true); do
        v="$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2> /dev/null || echo 0)"
        total=$(( total + ${v:-0} ))
    done
    echo "$total"
}

kib_to_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

aim() { # aim DESCRIPTION CONDITION(awk expr on x) VALUE
    local desc="$1" cond="$2" x="$3" verdict
    verdict="$(awk -v x="$x" "BEGIN { print (($cond) ? \"met\" : \"NOT met\") }")"
    printf '  %-62s %s\n' "$desc" "$verdict"
}

# ----------------------------------------------------------------------------
# Throughput pairs (wrk, alternating)
# ----------------------------------------------------------------------------

# Results: RPS[pair/label/round], P99[...], ERR[...], OPENS[...], CPU_US[...].
declare -A RPS P99 ERR OPENS CPU_US
# PID_OF[label]: the proxy process behind a label, to charge it CPU time.
declare -A PID_OF
PAIRS=()
declare -A PAIR_A PAIR_B RATIO_RPS RATIO_P99 CPU_MEDIAN

# run_pair NAME LABEL_A URL_A LABEL_B URL_B
# Warms both targets up, then alternates A, B for ROUNDS rounds. LABEL_B is
# the candidate: ratios are printed as B/A.
run_pair() {
    local name="$1" la="$2" ua="$3" lb="$4" ub="$5"
    PAIRS+=("$name")
    PAIR_A[$name]="$la"
    PAIR_B[$name]="$lb"

    log "[$name] warm-up ${WARMUP} each: $la, $lb"
    run_wrk "$ua" "$WARMUP" "$WORK_DIR/$name.warmup.$la.txt"
    run_wrk "$ub" "$WARMUP" "$WORK_DIR/$name.warmup.$lb.txt"

    local r label url out
    for r in $(seq 1 "$ROUNDS"); do
        for label in "$la" "$lb"; do
            [[ "$label" == "$la" ]] && url="$ua" || url="$ub"
            out="$WORK_DIR/$name.r$r.$label.txt"
            local opens_before
            local pid="${PID_OF[$label]:-}" split_before="0 0" split_ticks="0 0" cpu_ticks=0 requests
            opens_before="$(tcp_active_opens)"
            if [[ -n "$pid" ]]; then split_before="$(cpu_ticks_split "$pid")"; fi
            note_build
            run_wrk "$url" "$DURATION" "$out"
            note_build
            if [[ -n "$pid" ]]; then
                kill -0 "$pid" 2> /dev/null ||
                    die "$label (pid $pid) died during round $r; its log is under $WORK_DIR (set OUT_DIR to keep it)"
                split_ticks="$(awk -v a="$split_before" -v b="$(cpu_ticks_split "$pid")" \
                    'BEGIN { split(a, x, " "); split(b, y, " "); print y[1] - x[1], y[2] - x[2] }')"
                cpu_ticks=$(( ${split_ticks% *} + ${split_ticks#* } ))
            fi
            OPENS[$name/$label/$r]=$(( $(tcp_active_opens) - opens_before ))
            # Proxy CPU per request: on a small shared machine the proxies
            # compete with wrk and the upstream for the same cores, so this is
            # a steadier efficiency figure than req/s alone.
            requests="$(parse_requests "$out")"
            CPU_US[$name/$label/$r]="$(awk -v t="$cpu_ticks" -v hz="$CLK_TCK" -v n="${requests:-0}" \
                'BEGIN { if (n > 0 && t > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')"
            USER_US[$name/$label/$r]="$(awk -v t="${split_ticks% *}" -v hz="$CLK_TCK" -v n="${requests:-0}" \
                'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')"
            SYS_US[$name/$label/$r]="$(awk -v t="${split_ticks#* }" -v hz="$CLK_TCK" -v n="${requests:-0}" \
                'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')"
            RPS[$name/$label/$r]="$(parse_rps "$out")"
            P99[$name/$label/$r]="$(parse_p99 "$out")"
            ERR[$name/$label/$r]="$(parse_errors "$out")"
            log "[$name] round $r/$ROUNDS $label: ${RPS[$name/$label/$r]} req/s, p99 ${P99[$name/$label/$r]} ms, ${OPENS[$name/$label/$r]} TCP connects, proxy CPU ${CPU_US[$name/$label/$r]} us/req${ERR[$name/$label/$r]:+, ${ERR[$name/$label/$r]}}"
        done
    done
    if [[ "${PROFILE_SYSCALLS:-1}" == 1 ]]; then
        syscall_profile "$name" "$la" "$ua"
        syscall_profile "$name" "$lb" "$ub"
    fi
    if [[ "${PROFILE_CPU:-1}" == 1 ]] && declare -F cpu_profile > /dev/null; then
        cpu_profile "$name" "$la" "$ua"
        cpu_profile "$name" "$lb" "$ub"
    fi
}

# record_ratios FILE: the run's ratios as `scenario metric value` lines, and a
# report of each that moved the wrong way by more than 15 % against the same file
# as committed (git HEAD). The machines are noisy: this reports, it never fails.
record_ratios() {
    local file="$1" prev="$WORK_DIR/ratios.prev" name
    git -C "$REPO_ROOT" show "HEAD:${file#"$REPO_ROOT"/}" > "$prev" 2> /dev/null || : > "$prev"
    {
        echo "# bench/passthrough.sh ratios, marketgate/nginx (req/s: higher is better; p99, cpu: lower)"
        for name in "${PAIRS[@]}"; do
            echo "$name req_per_s ${RATIO_RPS[$name]}"
            echo "$name p99 ${RATIO_P99[$name]}"
            local a="${CPU_MEDIAN[$name/${PAIR_A[$name]}]:-}" b="${CPU_MEDIAN[$name/${PAIR_B[$name]}]:-}"
            if [[ -n "$a" && -n "$b" ]]; then
                echo "$name cpu_per_request $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')"
            fi
        done
        # Scenarios this run did not measure keep their committed lines.
        awk -v ran=" ${PAIRS[*]} " '$1 !~ /^#/ && index(ran, " " $1 " ") == 0' "$prev"
    } > "$file"
    echo
    echo "Ratios written to ${file#"$REPO_ROOT"/} (commit it to make it the next run's baseline):"
    awk 'FILENAME == ARGV[1] { if ($1 !~ /^#/) old[$1 " " $2] = $3; next }
         $1 !~ /^#/ {
            key = $1 " " $2; was = old[key]; now = $3
            change = (was > 0) ? (now - was) / was * 100 : 0
            worse = ($2 == "req_per_s") ? -change : change
            flag = (was > 0 && worse > 15) ? "  REGRESSION: more than 15 % worse than the committed run" : ""
            printf "  %-12s %-16s %6s (committed %s)%s\n", $1, $2, now, (was == "" ? "none" : was), flag
         }' "$prev" "$file"
}

# syscall_profile NAME LABEL URL: one more wrk run of DURATION with `perf stat`
# attached to the proxy's processes (master and workers): system calls and context
# switches per request. Skipped (with a note) when perf cannot attach.
declare -A SYSCALLS CSWITCH
syscall_profile() {
    local name="$1" label="$2" url="$3" pid="${PID_OF[$2]:-}" out="$WORK_DIR/$1.perf.$2.txt"
    [[ -n "$pid" ]] || return 0
    if ! command -v perf > /dev/null; then SYSCALLS[$name/$label]="-"; CSWITCH[$name/$label]="-"; return 0; fi
    local pids
    pids="$(printf '%s\n' "$pid" $(pgrep -P "$pid") | paste -sd, -)"
    local limit=$(( $(duration_secs "$DURATION") + 30 ))
    timeout --kill-after=5 "$limit" wrk "${WRK_ARGS[@]}" -d"$DURATION" "$url" > "$out.wrk" 2>&1 &
    local wrk_pid=$!
    perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$pids" -- sleep "$(duration_secs "$DURATION")" 2> "$out" || true
    wait "$wrk_pid" || true
    local n calls cs
    n="$(parse_requests "$out.wrk")"
    calls="$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$out")"
    cs="$(awk -F, '$3 == "context-switches" { print $1 }' "$out")"
    SYSCALLS[$name/$label]="$(awk -v c="$calls" -v n="${n:-0}" 'BEGIN { if (n > 0 && c + 0 > 0) printf "%.2f", c / n; else print "-" }')"
    CSWITCH[$name/$label]="$(awk -v c="$cs" -v n="${n:-0}" 'BEGIN { if (n > 0 && c != "") printf "%.3f", c / n; else print "-" }')"
}

print_pair() {
    local name="$1" la="${PAIR_A[$1]}" lb="${PAIR_B[$1]}" r
    local -a ra=() rb=() pa=() pb=()
    echo
    echo "Scenario: $name   (ratios are $lb/$la)"
    printf '  %-8s %18s %18s %18s %18s\n' round "$la req/s" "$la p99 ms" "$lb req/s" "$lb p99 ms"
    for r in $(seq 1 "$ROUNDS"); do
        ra+=("${RPS[$name/$la/$r]}"); pa+=("${P99[$name/$la/$r]}")
        rb+=("${RPS[$name/$lb/$r]}"); pb+=("${P99[$name/$lb/$r]}")
        printf '  %-8s %18s %18s %18s %18s\n' "$r" \
            "${RPS[$name/$la/$r]}" "${P99[$name/$la/$r]}" "${RPS[$name/$lb/$r]}" "${P99[$name/$lb/$r]}"
    done
    local mra mrb mpa mpb
    mra="$(median "${ra[@]}")"; mrb="$(median "${rb[@]}")"
    mpa="$(median "${pa[@]}")"; mpb="$(median "${pb[@]}")"
    printf '  %-8s %18s %18s %18s %18s\n' median "$mra" "$mpa" "$mrb" "$mpb"
    RATIO_RPS[$name]="$(awk -v a="$mra" -v b="$mrb" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')"
    RATIO_P99[$name]="$(awk -v a="$mpa" -v b="$mpb" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')"
    printf '  ratio req/s %s/%s: %s  (higher is better)\n' "$lb" "$la" "${RATIO_RPS[$name]}"
    printf '  ratio p99   %s/%s: %s  (lower is better)\n' "$lb" "$la" "${RATIO_P99[$name]}"

    # Connection reuse: new TCP connects per measured run (wrk opens
    # CONNECTIONS of its own; the rest are the proxy's towards the upstream).
    local -a ca=() cb=()
    for r in $(seq 1 "$ROUNDS"); do
        ca+=("${OPENS[$name/$la/$r]}"); cb+=("${OPENS[$name/$lb/$r]}")
    done
    printf '  new TCP connects per run (wrk itself opens %s): %s %s, %s %s\n' \
        "$CONNECTIONS" "$la" "${ca[*]}" "$lb" "${cb[*]}"
    local -a ua=() ub=()
    for r in $(seq 1 "$ROUNDS"); do
        ua+=("${CPU_US[$name/$la/$r]}"); ub+=("${CPU_US[$name/$lb/$r]}")
    done
    printf '  proxy CPU time per request, us (user+sys): %s %s, %s %s\n' \
        "$la" "${ua[*]}" "$lb" "${ub[*]}"
    if [[ -n "${SYSCALLS[$name/$la]:-}${SYSCALLS[$name/$lb]:-}" ]]; then
        printf '  per request (perf stat, one extra run): system calls %s %s, %s %s; context switches %s %s, %s %s\n' \
            "$la" "${SYSCALLS[$name/$la]:--}" "$lb" "${SYSCALLS[$name/$lb]:--}" \
            "$la" "${CSWITCH[$name/$la]:--}" "$lb" "${CSWITCH[$name/$lb]:--}"
    fi
    local -a usa=() sya=() usb=() syb=()
    for r in $(seq 1 "$ROUNDS"); do
        usa+=("${USER_US[$name/$la/$r]}"); sya+=("${SYS_US[$name/$la/$r]}")
        usb+=("${USER_US[$name/$lb/$r]}"); syb+=("${SYS_US[$name/$lb/$r]}")
    done
    printf '  proxy user / system CPU per request, medians: %s %s / %s us, %s %s / %s us\n' \
        "$la" "$(median "${usa[@]}")" "$(median "${sya[@]}")" "$lb" "$(median "${usb[@]}")" "$(median "${syb[@]}")"
    if declare -F print_profile > /dev/null; then print_profile "$name" "$la" "$lb"; fi
    CPU_MEDIAN[$name/$la]="$(median "${ua[@]}")"
    CPU_MEDIAN[$name/$lb]="$(median "${ub[@]}")"
    printf '  proxy CPU per request, medians: %s %s us, %s %s us\n' \
        "$la" "${CPU_MEDIAN[$name/$la]}" "$lb" "${CPU_MEDIAN[$name/$lb]}"

    local any=0 label
    for r in $(seq 1 "$ROUNDS"); do
        for label in "$la" "$lb"; do
            if [[ -n "${ERR[$name/$label/$r]}" ]]; then
                [[ $any -eq 0 ]] && echo "  errors reported by wrk:"
                any=1
                echo "    round $r $label: ${ERR[$name/$label/$r]}"
            fi
        done
    done
    if [[ $any -eq 0 ]]; then
        echo "  errors reported by wrk: none (no socket errors, no non-2xx/3xx)"
    fi
}

# ----------------------------------------------------------------------------
# Sequential latency series (curl, one keep-alive connection)
# ----------------------------------------------------------------------------

# latency_series OUT_PREFIX URL COUNT
# Sends COUNT GET requests to URL one after another over one keep-alive
# connection (a single curl reading a generated config) and writes
# OUT_PREFIX.tsv with one line per request: status, time_total in ms and the
# x-marketgate-provider header ("-" if absent). Bodies go to
# OUT_PREFIX.bodies/N so that a failure can be shown.
latency_series() {
    local prefix="$1" url="$2" count="$3" i
    local cfg="$prefix.curlrc" raw="$prefix.raw"
    mkdir -p "$prefix.bodies"
    {
        echo 'silent'
        echo 'max-time = 10'
        # curl reads the \n inside the quoted value as a newline.
        printf '%s\n' 'write-out = "%{http_code} %{time_total} %header{x-marketgate-provider}\n"'
        for i in $(seq 1 "$count"); do
            # @I@ in the URL becomes the request's number (FIRST + i - 1).
            printf 'url = "%s"\noutput = "%s"\n' "${url//@I@/$((${FIRST:-1} + i - 1))}" "$prefix.bodies/$i"
        done
    } > "$cfg"
    # Bounded like wrk: COUNT requests of at most 10 s each would be absurd,
    # so cap the whole series at 5 min.
    timeout --kill-after=5 300 curl -q -K "$cfg" > "$raw" 2> "$prefix.err" &
    WRK_PID=$!
    wait "$WRK_PID" || log "curl series against $url exited non-zero (see $prefix.err); counting what came back"
    WRK_PID=""
    awk '{ printf "%s %.3f %s\n", $1, $2 * 1000, ($3 == "" ? "-" : $3) }' "$raw" > "$prefix.tsv"
}
