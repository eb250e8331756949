# shellcheck shell=bash
# Where a proxy's CPU goes: one more wrk run per side with `perf record` attached to
# the proxy's processes, its samples grouped by what they run (kernel, the proxy's own
# code, the libraries under it). (User and system time per request come from /proc in
# the measured rounds, lib.sh: sampling adds its own cost to both.)
# Sourced by bench/passthrough.sh (after lib.sh); PROFILE_CPU=0 skips it.
#
# Flat self time (no call graphs): a function's share is its own instructions, so a
# `memmove` called to move a large future shows up as libc, not as its caller. For
# call graphs, build `cargo build --profile profiling` and run `perf record -g`
# (README, Performance). The grouped table of each side is kept in WORK_DIR (and
# OUT_DIR when set) as NAME.LABEL.profile.txt, with the 25 hottest functions.

declare -A PROFILE

# profile_groups REPORT: `perf report --sort dso,sym` lines as shares of all samples.
profile_groups() {
    awk '
        /^#/ || !/%/ { next }
        {
            share = $1; sub("%", "", share)
            dso = $2
            sym = ""; for (i = 4; i <= NF; i++) sym = sym " " $i
            if ($3 == "[k]" || dso ~ /kernel/) g = "kernel"
            else if (sym ~ /memmove|memcpy|memset/) g = "memcpy"
            # mimalloc (mi_*), glibc (malloc, __libc_free, ...); not `BytesMut::freeze`.
            else if (sym ~ /(^| )_?mi_|malloc|calloc|realloc|(^| |_)free$/) g = "allocator"
            else if (sym ~ /clock_gettime/ || dso ~ /vdso/) g = "clock"
            else if (sym ~ /hyper::|hyper_util::|httparse/) g = "hyper"
            else if (sym ~ /tokio::|mio::/) g = "tokio"
            else if (sym ~ /(^| |<)(http|bytes)::/) g = "http+bytes"
            else if (sym ~ /marketgate::/) g = "marketgate"
            else if (dso ~ /nginx/) g = "nginx"
            else if (dso ~ /libc/) g = "libc_other"
            else g = "other_code"
            t[g] += share
        }
        END {
            n = split("kernel marketgate nginx tokio hyper http+bytes memcpy allocator clock libc_other other_code", order, " ")
            out = ""
            for (i = 1; i <= n; i++) {
                g = order[i]; label = g; gsub("_", " ", label)
                if (t[g] >= 0.05) out = out sprintf("%s%s %.1f%%", (out == "" ? "" : ", "), label, t[g])
            }
            print out
        }' "$1"
}

# cpu_profile NAME LABEL URL
cpu_profile() {
    local name="$1" label="$2" url="$3" pid="${PID_OF[$2]:-}" base="$WORK_DIR/$1.$2"
    [[ -n "$pid" ]] || return 0
    if ! command -v perf > /dev/null; then PROFILE[$name/$label]="perf not installed"; return 0; fi
    local pids secs
    pids="$(printf '%s\n' "$pid" $(pgrep -P "$pid") | paste -sd, -)"
    secs="$(duration_secs "$DURATION")"
    timeout --kill-after=5 "$(( secs + 30 ))" wrk "${WRK_ARGS[@]}" -d"$DURATION" "$url" > "$base.profile.wrk" 2>&1 &
    local wrk_pid=$!
    if ! perf record -q -F 999 -p "$pids" -o "$base.perf.data" -- sleep "$secs" > "$base.perf.log" 2>&1; then
        wait "$wrk_pid" || true
        PROFILE[$name/$label]="perf record failed (see $base.perf.log)"
        return 0
    fi
    wait "$wrk_pid" || true
    perf report -i "$base.perf.data" --no-children --sort dso,sym --stdio -g none 2> /dev/null > "$base.perf.txt" || true
    PROFILE[$name/$label]="$(profile_groups "$base.perf.txt")"
    {
        echo "$name / $label: ${PROFILE[$name/$label]}"
        echo
        awk '!/^#/ && /%/ && ++n <= 25' "$base.perf.txt"
    } > "$base.profile.txt"
    rm -f "$base.perf.data"
}

# print_profile NAME LABEL...: the lines print_pair shows.
print_profile() {
    local name="$1" label
    shift
    for label in "$@"; do
        [[ -n "${PROFILE[$name/$label]:-}" ]] || continue
        printf '  where the CPU of %s went (perf record, one extra run): %s\n' "$label" "${PROFILE[$name/$label]}"
    done
}
