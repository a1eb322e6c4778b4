#!/usr/bin/env python3
"""Holds N idle keep-alive connections to 127.0.0.1:PORT for
bench/serve_http.sh: each connects (and sends nothing), then all are kept
open until standard input closes. Prints "open N" once they are.

    idle.py PORT N
"""
import resource
import socket
import sys
import time


def main() -> int:
    port, n = int(sys.argv[1]), int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
    socks = []
    deadline = time.monotonic() + 60
    while len(socks) < n and time.monotonic() < deadline:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            time.sleep(0.01)
            continue
        socks.append(s)
    print(f"open {len(socks)}", flush=True)
    sys.stdin.read()  # until the driver closes it
    for s in socks:
        s.close()
    return 0 if len(socks) == n else 1


if __name__ == "__main__":
    sys.exit(main())
