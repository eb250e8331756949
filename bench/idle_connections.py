#!/usr/bin/env python3
"""Memory per idle keep-alive connection (bench/passthrough.sh, scenario `idle`).

Opens N connections to 127.0.0.1:PORT, sends one GET PATH on each and reads the
answer, keeps them all open and idle (3 s by default), and reads the summed VmRSS of
the given PIDs; then closes them, sends a short burst of requests on one new
connection (some allocators give memory back only when a thread allocates again)
and reads the RSS once more. Prints one line of key=value pairs.
"""
import argparse
import socket
import time


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def request(sock, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before the answer")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        rest += sock.recv(65536)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n")[0].decode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--pids", type=int, nargs="+", required=True)
    ap.add_argument("--idle-seconds", type=float, default=3.0)
    a = ap.parse_args()
    before = rss_kib(a.pids)
    socks = []
    for _ in range(a.connections):
        s = socket.create_connection(("127.0.0.1", a.port))
        request(s, a.path)
        socks.append(s)
    time.sleep(a.idle_seconds)
    during = rss_kib(a.pids)
    for s in socks:
        s.close()
    time.sleep(1)
    burst = socket.create_connection(("127.0.0.1", a.port))
    for _ in range(200):
        request(burst, a.path)
    burst.close()
    time.sleep(1.5)
    after = rss_kib(a.pids)
    per = (during - before) / a.connections
    print(f"before_kib={before} during_kib={during} per_connection_kib={per:.1f} after_kib={after}")


if __name__ == "__main__":
    main()
