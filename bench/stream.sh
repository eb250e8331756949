#!/usr/bin/env bash
# Live-stream fan-out: one mock combined-stream upstream on loopback, N WebSocket clients
# on one symbol through marketgate (release build), M trades published; prints messages
# per second delivered and resident memory per client. The clients run in the same
# process as marketgate (with 4 KiB read buffers), so the memory figure includes their
# side of each connection.
#
#   bench/stream.sh                      # 500 clients x 2000 trades
#   FANOUT_CLIENTS=1000 FANOUT_MESSAGES=5000 bench/stream.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export FANOUT_CLIENTS="${FANOUT_CLIENTS:-500}" FANOUT_MESSAGES="${FANOUT_MESSAGES:-2000}"
cargo test --release --locked --test alone stream_bench::bench_fanout -- --ignored --nocapture 2>&1 | grep -E '^fan-out|test result'
