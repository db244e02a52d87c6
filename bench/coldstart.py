"""One cold start of a Lambda bootstrap, measured (for bench/startup.py).

The process is spawned fresh, as Lambda starts it; its runtime client fetches
the invocation from a stand-in of the Lambda Runtime API on loopback and posts
the result back. Measured: time to first result (spawn to the response POST;
split into init, up to the first `GET …/invocation/next`, and handler), peak
RSS (`ru_maxrss`, reaped with os.wait4 after SIGTERM) and CPU time (user +
system, same rusage). Call become_subreaper() once before the first.
"""

import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from loopback import read_body  # noqa: E402

RUNTIME_BASE = "/2018-06-01/runtime"


class BenchFailure(Exception):
    """Something the benchmark cannot carry on from: reported loudly, exit 1."""


# ---------------------------------------------------------------- the Lambda Runtime API stand-in


class Invocation:
    """One event handed to one process, and what came back."""

    def __init__(self, function_arn, event):
        self.function_arn = function_arn
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.next_ns = None  # first GET …/next: the end of init
        self.result_ns = None  # the response (or error) POST arrived
        self.response = None
        self.error = None
        self.finished = threading.Event()
        # Set once the process is reaped: releases its second, long-polling GET …/next.
        self.closed = threading.Event()


class RuntimeApi:
    """A threaded HTTP/1.1 server speaking the part of the Runtime API a runtime
    client uses. One per cold start (a fresh port): a stopped process's last
    `GET …/next`, still in a socket buffer when the next process starts, can
    then never take the next process's invocation."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current = None
        self.server = _Server(("127.0.0.1", 0), _RuntimeHandler)
        self.server.daemon_threads = True
        self.server.api = self
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="runtime-api", daemon=True)
        self.thread.start()

    def arm(self, function_arn, event):
        inv = Invocation(function_arn, event)
        with self.lock:
            self.current = inv
        return inv

    def disarm(self, inv):
        inv.closed.set()
        with self.lock:
            if self.current is inv:
                self.current = None

    def take(self):
        """(the invocation to deliver, None) or (None, the one to wait on)."""
        with self.lock:
            inv = self.current
            if inv is not None and inv.next_ns is None:
                inv.next_ns = time.monotonic_ns()
                return inv, None
            return None, inv

    def record(self, request_id, kind, body, error_type):
        now = time.monotonic_ns()
        with self.lock:
            inv = self.current
            if inv is None or inv.finished.is_set():
                return  # nothing armed, or already answered: not this run's result
            if request_id is not None and request_id != inv.request_id:
                kind, body = "error", b"unexpected request id %r: " % request_id.encode() + body
            inv.result_ns = now
            if kind == "response":
                inv.response = body
            else:
                inv.error = {"kind": kind, "type": error_type, "body": body.decode(errors="replace")}
            inv.finished.set()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    # A function opens a connection per call it makes at once (ten for the
    # finisher's round): socketserver's default backlog of 5 would drop some
    # SYNs, and the kernel retries those only after a second.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A stopped process drops its connection: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _RuntimeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real endpoint
    # Small writes on a keep-alive connection: without this, Nagle's algorithm
    # and delayed ACKs add tens of milliseconds to a response.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        # Status, headers and body in one write, always with Content-Length.
        head = [f"HTTP/1.1 {code} {HTTPStatus(code).phrase}", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in headers]
        head.append(f"Content-Length: {len(body)}")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def body(self):
        return read_body(self)

    def do_GET(self):
        api = self.server.api
        if self.path != f"{RUNTIME_BASE}/invocation/next":
            return self.reply(404, b'{"errorMessage":"unknown path"}')
        inv, waiting = api.take()
        if inv is None:
            # The runtime asks for the next event after answering: hold it, as
            # Lambda does, until the process has been stopped.
            if waiting is not None:
                waiting.closed.wait()
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000) + 60_000
        self.reply(
            200,
            inv.event,
            [
                ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                ("Lambda-Runtime-Invoked-Function-Arn", inv.function_arn),
                ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"),
            ],
        )

    def do_POST(self):
        api = self.server.api
        body = self.body()
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
        m = re.fullmatch(rf"{RUNTIME_BASE}/invocation/([^/]+)/(response|error)", self.path)
        if m:
            api.record(m[1], m[2], body, error_type)
        elif self.path == f"{RUNTIME_BASE}/init/error":
            api.record(None, "init/error", body, error_type)
        else:
            return self.reply(404, b'{"errorMessage":"unknown path"}')
        self.reply(202, b'{"status":"OK"}')


# ---------------------------------------------------------------- one cold start


def tail(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def become_subreaper():
    """Orphans of our children become our children, so we can wait4 them."""
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


# Why a shell in between: Linux charges a process's ru_maxrss with the memory
# of the image it replaced at exec. Spawned straight from this process, every
# child would report our own peak (boto3 and all, ~130 MiB). A small shell
# forks the bootstrap and exits; the bootstrap, orphaned, is re-parented to us
# (a subreaper) and its ru_maxrss starts from the shell's ~1.5 MiB. Costs both
# runtimes the same fraction of a millisecond.
LAUNCHER = '"$@" </dev/null >"$0" 2>&1 & echo $!'


def vm_hwm_kib(pid):
    """The peak RSS of the process's current image, as the kernel keeps it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def reap(pid, flags):
    """(status, rusage) once `pid` has ended, None while it runs; (None, None)
    when it is not ours to reap: it ended so fast that the launcher shell
    reaped it before exiting."""
    try:
        done, status, rusage = os.wait4(pid, flags)
    except ChildProcessError:
        return (None, None)
    return (status, rusage) if done else None


def cold_start(argv, env, event, function_arn, log_path, timeout):
    """Spawns `argv` with `env`, serves it one invocation of `event` through a
    Runtime API of its own, stops it: the sample (response included)."""
    api = RuntimeApi()
    try:
        return measure(api, argv, {**env, "AWS_LAMBDA_RUNTIME_API": api.address}, event, function_arn, log_path, timeout)
    finally:
        api.stop()


def measure(api, argv, env, event, function_arn, log_path, timeout):
    inv = api.arm(function_arn, event)
    read_end, write_end = os.pipe()
    start = time.monotonic_ns()
    try:
        shell = os.posix_spawn(
            "/bin/sh",
            ["sh", "-c", LAUNCHER, str(log_path), *argv],
            env,
            file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 1)],
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as out:
        line = out.readline()
    os.waitpid(shell, 0)  # once the shell is gone, its child is ours
    if not line.strip().isdigit():
        api.disarm(inv)
        raise BenchFailure(f"could not start {argv[0]} (the launcher printed {line!r})")
    pid = int(line)
    reaped, timed_out, hwm = None, False, None
    try:
        give_up = time.monotonic() + timeout
        while not inv.finished.wait(0.02):
            reaped = reap(pid, os.WNOHANG)
            if reaped:
                break
            if time.monotonic() > give_up:
                timed_out = True
                break
        if not reaped:
            hwm = vm_hwm_kib(pid)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            reaped = reap(pid, 0)
    finally:
        if not reaped:  # interrupted: never leave a child behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            reap(pid, 0)
        api.disarm(inv)
    status, rusage = reaped

    what = " ".join(map(str, argv))
    if inv.error is not None:
        raise BenchFailure(
            f"{what} reported a failure on {inv.error['kind']} (type {inv.error['type']}):\n"
            f"{inv.error['body']}\n--- log {log_path} (tail) ---\n{tail(log_path)}"
        )
    if inv.response is None or rusage is None:
        if timed_out:
            how = f"did not answer within {timeout} s"
        elif status is None:
            how = "exited at once (the launcher reaped it)" + ("" if inv.response is None else " after answering")
        else:
            how = f"exited with status {os.waitstatus_to_exitcode(status)} before answering"
        raise BenchFailure(f"{what} {how}\n--- log {log_path} (tail) ---\n{tail(log_path)}")
    try:
        response = json.loads(inv.response)
    except ValueError as e:
        raise BenchFailure(f"{what} answered with something that is not JSON ({e}): {inv.response[:500]!r}") from None
    return {
        "first_result_ms": (inv.result_ns - start) / 1e6,
        "init_ms": (inv.next_ns - start) / 1e6 if inv.next_ns else None,
        "handler_ms": (inv.result_ns - inv.next_ns) / 1e6 if inv.next_ns else None,
        "peak_rss_kib": rusage.ru_maxrss,
        "vm_hwm_kib": hwm,  # cross-check of ru_maxrss, read just before SIGTERM
        "cpu_ms": (rusage.ru_utime + rusage.ru_stime) * 1000,
        "response": response,
    }
