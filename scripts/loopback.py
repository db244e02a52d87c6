"""What the project's loopback servers share: the emulator launcher
(moto_server.py), the fault proxy (fault_proxy.py) and the benchmarks'
Runtime API stand-in (bench/coldstart.py). Each is started by a parent that
reads "<NAME>_PORT=<n>" from its stdout and closes its stdin to stop it."""

import os
import sys
import threading


def is_read(action):
    """Whether an AWS action only reads: the rule of peerlink::aws::is_read."""
    return action.startswith(("Describe", "Get", "List"))


def read_body(handler):
    """A request's body, sent with Content-Length or chunked (trailers skipped)."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        parts = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def serve_until_stdin_closes(name, port):
    """Says where the server listens, then waits: EOF on stdin means the
    parent is gone, and the server must not outlive it."""
    print(f"{name}_PORT={port}", flush=True)

    def watch_stdin():
        while sys.stdin.buffer.read(4096):
            pass
        os._exit(0)

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Event().wait()
