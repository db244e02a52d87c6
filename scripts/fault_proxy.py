#!/usr/bin/env python3
"""A fault-injecting HTTP proxy between the AWS SDK clients and the emulator.

The functions send every request to AWS_ENDPOINT_URL; pointed at this proxy,
each request is forwarded to the emulator unchanged, except that, at rates
configured per API action, the proxy answers instead:

  throttle          EC2: HTTP 503 RequestLimitExceeded (EC2 XML error body);
                    JSON services: HTTP 400 ThrottlingException. Not forwarded.
  error500          HTTP 500 InternalError. Not forwarded.
  slow              waits `slow_seconds` before forwarding (past the client's
                    attempt timeout: the client gives up, the write may land).
  drop              closes the connection without an answer. Not forwarded.
  fail_after_write  forwards a write (it happens), then answers 500.

Besides faults, two ways to shape time (both in the configuration):

  latency_ms        every request is held this long before it is forwarded,
                    as a real AWS endpoint's latency would hold it: calls made
                    at once overlap, calls that wait on each other add up.
  barrier           {"<Action>": n}: the first n requests of that action wait
                    until all n have arrived (at most 10 s), then go on
                    together: it forces two invocations to read before either
                    writes. Counted in stats as "barrier_released".

IAM as it would answer after a redeploy that no longer covers a resource:

  deny              [{"action": "DescribeSecret", "contains": "orders-db"}]:
                    a request of that action ("*": any) whose body or query
                    contains the text is answered as the service answers a
                    call its caller's policies do not allow (EC2: HTTP 403
                    UnauthorizedOperation; JSON services: HTTP 400
                    AccessDeniedException). Not forwarded. Counted as the
                    fault "denied".

And a call log (for bench/startup.py; off unless configured):

  record            true: every forwarded request is logged with its service,
                    action, parameters (the JSON body, or the query form
                    without Action and Version), answer status, and when it
                    started and ended (monotonic ns, one clock): enough to
                    tell the rounds calls came in, and to send the same
                    requests again. GET /__proxy/calls reads the log.

Usage: fault_proxy.py --upstream http://127.0.0.1:PORT [--port 0] [--seed N]
Prints "PROXY_PORT=<n>" first on stdout; exits when its stdin closes.

Control API (never forwarded):
  PUT  /__proxy/config  {"seed": 1, "slow_seconds": 2.0, "latency_ms": 30,
                         "barrier": {"DescribeVpcPeeringConnections": 2},
                         "rates": {"*": {"throttle": 0.3, "error500": 0.05},
                                   "writes": {"fail_after_write": 0.1},
                                   "DescribeVpcs": {"slow": 0.1}}}
       Rates apply by the most specific key: the action, then "writes" or
       "reads", then "*". Absent rates: no faults.
  GET  /__proxy/stats   {"totals": {...}, "actions": {"<Action>": {...}}}
  GET  /__proxy/calls   [{"service", "action", "params", "status", "start_ns", "end_ns"}]
  POST /__proxy/reset   zeroes the counters and the call log (keeps the configuration)
"""

import argparse
import http.client
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("throttle", "error500", "slow", "drop", "fail_after_write")


def is_read(action):
    return action.startswith(("Describe", "Get", "List"))


class State:
    """Configuration and counters, shared by the handler threads."""

    def __init__(self, seed):
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.rates = {}
        self.slow_seconds = 3.0
        self.latency = 0.0
        self.barriers = {}
        self.denials = []
        self.recorder = CallLog()
        self.reset()

    def reset(self):
        with self.lock:
            self.actions = {}
            self.totals = {"requests": 0, "forwarded": 0, "forwarded_writes": 0, "faults_injected": 0, "setup": 0}
        self.recorder.reset()

    def configure(self, config):
        with self.lock:
            if "seed" in config:
                self.rng = random.Random(config["seed"])
            self.rates = config.get("rates", {})
            self.slow_seconds = float(config.get("slow_seconds", 3.0))
            self.latency = float(config.get("latency_ms", 0)) / 1000.0
            self.barriers = {
                action: {"size": int(n), "arrived": 0, "event": threading.Event()}
                for action, n in config.get("barrier", {}).items()
            }
            self.denials = list(config.get("deny", []))

    def denied(self, action, body, query):
        """Whether a `deny` rule covers this request."""
        raw = body.decode("utf-8", "replace") + "&" + query
        texts = (raw, urllib.parse.unquote_plus(raw))
        with self.lock:
            return any(
                d.get("action") in (action, "*") and any(d.get("contains", "") in t for t in texts)
                for d in self.denials
            )
        self.recorder.configure(config)

    def wait_at_barrier(self, action):
        """Holds one of the first `size` requests of `action` until all arrived."""
        with self.lock:
            b = self.barriers.get(action)
            if b is None or b["arrived"] >= b["size"]:
                return
            b["arrived"] += 1
            if b["arrived"] == b["size"]:
                b["event"].set()
        b["event"].wait(timeout=10)
        with self.lock:
            a = self.actions.setdefault(
                action, {"requests": 0, "forwarded": 0, "forwarded_writes": 0, "faults": {}}
            )
            a["barrier_released"] = a.get("barrier_released", 0) + 1

    def draw(self, action):
        """The fault to inject for this request, or None."""
        kind = "reads" if is_read(action) else "writes"
        with self.lock:
            rates = {}
            for key in ("*", kind, action):  # later keys win
                rates.update(self.rates.get(key, {}))
            for fault in FAULTS:
                if fault == "fail_after_write" and kind == "reads":
                    continue
                rate = float(rates.get(fault, 0.0))
                if rate > 0 and self.rng.random() < rate:
                    return fault
        return None

    def count(self, action, forwarded=False, fault=None):
        with self.lock:
            a = self.actions.setdefault(
                action, {"requests": 0, "forwarded": 0, "forwarded_writes": 0, "faults": {}}
            )
            if action in ("AssumeRole",):
                self.totals["setup"] += 1
            if forwarded:
                a["forwarded"] += 1
                self.totals["forwarded"] += 1
                if not is_read(action) and action not in ("AssumeRole", "GetCallerIdentity"):
                    a["forwarded_writes"] += 1
                    self.totals["forwarded_writes"] += 1
            else:
                a["requests"] += 1
                self.totals["requests"] += 1
            if fault:
                a["faults"][fault] = a["faults"].get(fault, 0) + 1
                self.totals["faults_injected"] += 1

    def stats(self):
        with self.lock:
            return json.loads(json.dumps({"totals": self.totals, "actions": self.actions}))


def action_of(headers, body, query):
    """The API action: X-Amz-Target for JSON protocols, Action= for Query."""
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1], True
    for text in (body.decode("utf-8", "replace"), query):
        params = urllib.parse.parse_qs(text)
        if "Action" in params:
            return params["Action"][0], False
    return "Unknown", False


def throttle_response(json_protocol):
    if json_protocol:
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        return 400, "application/x-amz-json-1.1", body, {"x-amzn-ErrorType": "ThrottlingException"}
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
        f"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    return 503, "text/xml", body, {}


def internal_error(json_protocol):
    if json_protocol:
        body = json.dumps({"__type": "InternalFailure", "message": "injected internal error"}).encode()
        return 500, "application/x-amz-json-1.1", body, {"x-amzn-ErrorType": "InternalFailure"}
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InternalError</Code>'
        f"<Message>injected internal error</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    return 500, "text/xml", body, {}


def access_denied(json_protocol, action):
    """The answer of a service to a call the caller's IAM policies do not allow."""
    if json_protocol:
        message = f"User is not authorized to perform: {action} because no identity-based policy allows it"
        body = json.dumps({"__type": "AccessDeniedException", "Message": message}).encode()
        return 400, "application/x-amz-json-1.1", body, {"x-amzn-ErrorType": "AccessDeniedException"}
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>UnauthorizedOperation</Code>'
        "<Message>You are not authorized to perform this operation.</Message></Error></Errors>"
        f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    return 403, "text/xml", body, {}

# ---------------------------------------------------------------- the call log


class CallLog:
    """Every forwarded request, when configured with "record": true."""

    def __init__(self):
        self.lock = threading.Lock()
        self.on = False
        self.calls = []

    def configure(self, config):
        self.on = bool(config.get("record", False))

    def reset(self):
        with self.lock:
            self.calls = []

    def add(self, headers, body, query, action, json_protocol, status, start_ns):
        if not self.on:
            return
        call = {
            "service": service_of(headers),
            "action": action,
            "params": params_of(body, query, json_protocol),
            "status": status,
            "start_ns": start_ns,
            "end_ns": time.monotonic_ns(),
        }
        with self.lock:
            self.calls.append(call)

    def json(self):
        with self.lock:
            return json.dumps(self.calls)


def service_of(headers):
    """The signing name in "Credential=<key>/<date>/<region>/<service>/aws4_request"."""
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("Authorization", ""))
    return m[1] if m else "?"


def params_of(body, query, json_protocol):
    if json_protocol:
        return json.loads(body or b"{}")
    form = urllib.parse.parse_qs(query, keep_blank_values=True)
    form.update(urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
    return {k: v[0] for k, v in sorted(form.items()) if k not in ("Action", "Version")}


def make_handler(state, upstream, log):
    up = urllib.parse.urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes: without this, Nagle's
        # algorithm and delayed ACKs can hold an answer for tens of ms.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def read_body(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                return self.rfile.read(length)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return b""

        def reply(self, status, content_type, body, extra=None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def control(self, body):
            path = self.path.split("?")[0]
            if path == "/__proxy/config" and self.command in ("PUT", "POST"):
                state.configure(json.loads(body or b"{}"))
                return self.reply(200, "application/json", b'{"ok":true}')
            if path == "/__proxy/stats":
                return self.reply(200, "application/json", json.dumps(state.stats()).encode())
            if path == "/__proxy/calls":
                return self.reply(200, "application/json", state.recorder.json().encode())
            if path == "/__proxy/reset":
                state.reset()
                return self.reply(200, "application/json", b'{"ok":true}')
            return self.reply(404, "application/json", b'{"error":"unknown control path"}')

        def forward(self, body):
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection")}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out = [(k, v) for k, v in resp.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")]
                return resp.status, out, data
            finally:
                conn.close()

        def handle_any(self):
            start_ns = time.monotonic_ns()
            body = self.read_body()
            if self.path.startswith("/__proxy/"):
                return self.control(body)
            query = urllib.parse.urlsplit(self.path).query
            action, json_protocol = action_of(self.headers, body, query)
            if action != "AssumeRole" and state.denied(action, body, query):
                state.count(action, fault="denied")
                return self.reply(*access_denied(json_protocol, action))
            fault = None if action == "AssumeRole" else state.draw(action)
            state.count(action, fault=fault)
            if log:
                log.write(f"{time.time():.3f} {action} {fault or '-'}\n")
                log.flush()
            if fault == "throttle":
                return self.reply(*throttle_response(json_protocol))
            if fault == "error500":
                return self.reply(*internal_error(json_protocol))
            if fault == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return None
            if fault == "slow":
                time.sleep(state.slow_seconds)
            state.wait_at_barrier(action)
            if state.latency:
                time.sleep(state.latency)
            try:
                status, headers, data = self.forward(body)
            except OSError as e:
                return self.reply(502, "text/plain", f"upstream error: {e}".encode())
            state.count(action, forwarded=True)
            # Logged before the answer goes out: once a client has its last
            # answer, every call it made is in the log.
            state.recorder.add(self.headers, body, query, action, json_protocol, status, start_ns)
            if fault == "fail_after_write":
                return self.reply(*internal_error(json_protocol))
            try:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                # The client gave up (a slow answer past its timeout).
                self.close_connection = True
            return None

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

    return Handler


class Server(ThreadingHTTPServer):
    # A function opens a connection per call it makes at once (a dozen in one
    # round): with socketserver's backlog of 5 some SYNs are dropped, and the
    # kernel retries them only after a second.
    request_queue_size = 128


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", help="initial configuration (JSON)")
    parser.add_argument("--log", help="one line per request (action, fault)")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("refusing to listen on anything but loopback")
    state = State(args.seed)
    if args.config:
        state.configure(json.loads(args.config))
    log = open(args.log, "a") if args.log else None
    server = Server((args.host, args.port), make_handler(state, args.upstream, log))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PROXY_PORT={server.server_address[1]}", flush=True)

    def watch_stdin():
        while sys.stdin.buffer.read(4096):
            pass
        os._exit(0)

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
