#!/usr/bin/env python3
"""What a big config does to marketgate's memory across reloads.

Runs the release binary on the shipped config (hosts moved to 127.0.0.1:1, so nothing
leaves the machine), then reloads a 3 MB config (20,000 routes, 30,000 assets), then
the shipped config again, five times, printing the resident set size (RSS, from
/proc/<pid>/status) after each step. Usage:

    cargo build --release && python3 scripts/reload-memory.py [--binary target/release/marketgate]
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def post(url):
    req = urllib.request.Request(url, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/marketgate")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--settle", type=float, default=1.5, help="seconds to wait after each reload")
    args = ap.parse_args()
    shipped = subprocess.run([args.binary, "print-default-config"], check=True, capture_output=True, text=True).stdout
    small = re.sub(r'(?m)^hosts = \["https?://.*\]$', 'hosts = ["http://127.0.0.1:1"]', shipped)
    small = re.sub(r'(?m)^(\s*)hosts = \["wss?://.*\]$', r'\1hosts = ["ws://127.0.0.1:1"]', small)
    assets = "".join(f'A{i:05d} = {{ name = "Asset number {i}", coingecko = "asset-number-{i}" }}\n' for i in range(30000))
    routes = "".join(f'"/v1/p{i:05d}" = {{ op = "price", pool = "price", cache = "2s" }}\n' for i in range(20000))
    big = small.replace("[assets]\n", "[assets]\n" + assets, 1).replace("[routes]\n", "[routes]\n" + routes, 1)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "marketgate.toml")
        with open(path, "w") as f:
            f.write(small)
        client, admin = free_port(), free_port()
        proc = subprocess.Popen(
            [args.binary, "--config", path, "--listen", f"127.0.0.1:{client}", "--admin-listen", f"127.0.0.1:{admin}"],
            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{admin}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/readyz", timeout=1)
                    break
                except Exception:
                    time.sleep(0.1)
            time.sleep(1)
            print(f"big config: {len(big) / 1e6:.1f} MB, 20,000 routes, 30,000 assets")
            print(f"{'step':<28}{'RSS MB':>8}{'reload s':>10}")
            print(f"{'start (shipped)':<28}{rss_mb(proc.pid):>8.1f}")
            for n in range(1, args.rounds + 1):
                for name, text in (("big", big), ("shipped", small)):
                    with open(path + ".new", "w") as f:
                        f.write(text)
                    os.replace(path + ".new", path)
                    t0 = time.monotonic()
                    out = post(base + "/admin/reload")
                    took = time.monotonic() - t0
                    if out.get("result") != "ok":
                        print(f"reload refused: {out}", file=sys.stderr)
                        return 1
                    time.sleep(args.settle)
                    print(f"{f'round {n}: {name}':<28}{rss_mb(proc.pid):>8.1f}{took:>10.2f}")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
